//! A Parquet `COPY … OPTIONS (…)` whose options reach the files when
//! Ballista runs it.
//!
//! Ballista sends a statement's logical plan to the scheduler through
//! datafusion-proto, whose `CopyTo` keeps the output URL, the partition
//! columns and the format factory but drops the statement's option map:
//! the scheduler then planned every `COPY` with DataFusion's built-in
//! writer options, and `OPTIONS ('compression' 'uncompressed')` was
//! silently ignored (the footers said zstd). [`CopyOptionsInFormat`], an
//! analyzer rule run where the statement is planned, resolves a Parquet
//! `COPY`'s `format.*` options into the format factory, which the encoding
//! keeps, exactly as DataFusion's physical planner would have resolved
//! them (the session's table options, then the statement's); the other
//! options (`single_file_output`, `execution.*`) stay in the map. The
//! write is then the same in a local session and on a cluster.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::common::config::{ConfigField, ConfigFileType, ConfigOptions, TableOptions};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::Result;
use datafusion::datasource::file_format::parquet::ParquetFormatFactory;
use datafusion::datasource::file_format::{file_type_to_format, format_as_file_type};
use datafusion::logical_expr::dml::CopyTo;
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::AnalyzerRule;

/// Moves a Parquet `COPY`'s format options into its format factory (see
/// the module docs).
#[derive(Debug, Default)]
pub struct CopyOptionsInFormat;

impl AnalyzerRule for CopyOptionsInFormat {
    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up(|node| {
            let LogicalPlan::Copy(copy) = &node else {
                return Ok(Transformed::no(node));
            };
            let factory = file_type_to_format(&copy.file_type)?;
            let Some(parquet) = factory.downcast_ref::<ParquetFormatFactory>() else {
                return Ok(Transformed::no(node));
            };
            let (format, rest): (HashMap<String, String>, HashMap<String, String>) = copy
                .options
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .partition(|(k, _)| k.starts_with("format."));
            if format.is_empty() {
                return Ok(Transformed::no(node));
            }
            // DataFusion's own resolution (`ParquetFormatFactory::create`):
            // the session's table options, then the statement's; a factory
            // that already has options (not one SQL plans) takes the
            // statement's on top of its own.
            let options = match &parquet.options {
                Some(options) => {
                    let mut options = options.clone();
                    for (k, v) in &format {
                        options.set(k.trim_start_matches("format."), v)?;
                    }
                    options
                }
                None => {
                    let mut table = TableOptions::default_from_session_config(config);
                    table.set_config_format(ConfigFileType::PARQUET);
                    table.alter_with_string_hash_map(&format)?;
                    table.parquet
                }
            };
            let file_type = format_as_file_type(Arc::new(ParquetFormatFactory::new_with_options(options)));
            Ok(Transformed::yes(LogicalPlan::Copy(CopyTo::new(
                Arc::clone(&copy.input),
                copy.output_url.clone(),
                copy.partition_by.clone(),
                file_type,
                rest,
            ))))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "moodflow_copy_options_in_format"
    }
}

#[cfg(test)]
mod tests {
    use datafusion::common::config::ParquetOptions;
    use datafusion::datasource::file_format::parquet::ParquetSink;
    use datafusion::datasource::sink::DataSinkExec;
    use datafusion::physical_plan::ExecutionPlan;
    use datafusion::prelude::SessionContext;
    use datafusion_proto::bytes::{
        logical_plan_from_bytes_with_extension_codec, logical_plan_to_bytes_with_extension_codec,
    };

    use super::*;
    use crate::codec::MoodflowLogicalCodec;

    /// The compression and dictionary setting the sink of `plan` writes with.
    fn written_with(plan: &Arc<dyn ExecutionPlan>) -> (Option<String>, bool) {
        let mut found = None;
        let mut stack = vec![Arc::clone(plan)];
        while let Some(node) = stack.pop() {
            if let Some(sink) = node.downcast_ref::<DataSinkExec>() {
                if let Some(parquet) = sink.sink().downcast_ref::<ParquetSink>() {
                    let global = &parquet.parquet_options().global;
                    found = Some((global.compression.clone(), global.dictionary_enabled.unwrap_or(true)));
                }
            }
            stack.extend(node.children().into_iter().cloned());
        }
        found.expect("a Parquet sink in the plan")
    }

    /// `sql`'s COPY as the scheduler plans it: analyzed and optimized where
    /// it was written (`client`), through the plan's wire encoding, then
    /// planned physically on a session of its own (`scheduler`).
    async fn as_the_scheduler_plans(
        client: &SessionContext,
        scheduler: &SessionContext,
        sql: &str,
    ) -> Arc<dyn ExecutionPlan> {
        let plan = client
            .sql(sql)
            .await
            .expect("sql")
            .into_optimized_plan()
            .expect("optimize");
        let codec = MoodflowLogicalCodec::default();
        let bytes = logical_plan_to_bytes_with_extension_codec(&plan, &codec).expect("encode");
        let decoded =
            logical_plan_from_bytes_with_extension_codec(&bytes, &scheduler.task_ctx(), &codec).expect("decode");
        scheduler
            .state()
            .create_physical_plan(&decoded)
            .await
            .expect("physical plan")
    }

    #[test]
    fn a_copys_parquet_options_survive_the_trip_to_the_scheduler() {
        crate::tokio_runtime().expect("runtime").block_on(async {
            let dir = tempfile::tempdir().expect("tempdir");
            let sql = format!(
                "COPY (SELECT 1 AS v) TO '{}/t/' STORED AS PARQUET OPTIONS ('compression' 'uncompressed', 'format.dictionary_enabled' 'false')",
                dir.path().display()
            );
            let with_rule = crate::local_context(crate::session_config(&[]).expect("config")).expect("context");
            let scheduler = crate::local_context(crate::session_config(&[]).expect("config")).expect("context");
            let planned = as_the_scheduler_plans(&with_rule, &scheduler, &sql).await;
            assert_eq!(written_with(&planned), (Some("uncompressed".to_string()), false));

            // Without the rule the same trip loses them (what Ballista did).
            let state = datafusion::execution::session_state::SessionStateBuilder::new()
                .with_default_features()
                .build();
            let without = SessionContext::new_with_state(state);
            let planned = as_the_scheduler_plans(&without, &scheduler, &sql).await;
            let defaults = ParquetOptions::default();
            assert_eq!(
                written_with(&planned),
                (defaults.compression, defaults.dictionary_enabled.unwrap_or(true))
            );

            // A COPY without options is left as it was planned.
            let plain = format!("COPY (SELECT 1 AS v) TO '{}/u/' STORED AS PARQUET", dir.path().display());
            let plan = with_rule.sql(&plain).await.expect("sql").into_optimized_plan().expect("optimize");
            let LogicalPlan::Copy(copy) = &plan else { panic!("a COPY: {plan}") };
            let factory = file_type_to_format(&copy.file_type).expect("format");
            assert!(factory.downcast_ref::<ParquetFormatFactory>().is_some_and(|p| p.options.is_none()));
        });
    }

    #[test]
    fn a_bad_option_is_still_an_error_naming_it() {
        crate::tokio_runtime().expect("runtime").block_on(async {
            let ctx = crate::local_context(crate::session_config(&[]).expect("config")).expect("context");
            let err = ctx
                .sql("COPY (SELECT 1 AS v) TO '/tmp/never/' STORED AS PARQUET OPTIONS ('no_such_option' '1')")
                .await
                .expect("sql")
                .into_optimized_plan()
                .expect_err("an unknown option");
            assert!(err.to_string().contains("no_such_option"), "{err}");
        });
    }
}
