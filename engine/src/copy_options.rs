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

use datafusion::arrow::datatypes::Schema;
use datafusion::common::config::{ConfigField, ConfigFileType, ConfigOptions, TableOptions};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{plan_err, Result};
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
            let format = with_column_case(format, copy.input.schema().as_arrow())?;
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

/// DataFusion's SQL planner lowercases every `COPY` option key, column
/// part included, so `OPTIONS ('encoding::movieId' …)` named a column
/// `movieid` that the rows do not have and the writer silently ignored
/// it. The column part of each `format.<option>::<column>` key is matched
/// back to the `COPY`'s columns, case aside; a name that two columns share
/// case aside is an error, one that no column has is left as it was.
/// `metadata::<key>` names a file metadata key, not a column: left alone.
fn with_column_case(format: HashMap<String, String>, schema: &Schema) -> Result<HashMap<String, String>> {
    format
        .into_iter()
        .map(|(key, value)| {
            let Some((option, column)) = key.split_once("::").filter(|(o, _)| *o != "format.metadata") else {
                return Ok((key, value));
            };
            let named: Vec<&str> = schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .filter(|name| name.eq_ignore_ascii_case(column))
                .collect();
            match named.as_slice() {
                [one] => Ok((format!("{option}::{one}"), value)),
                [] => Ok((key, value)),
                many => plan_err!(
                    "COPY option '{key}': the column name matches {} columns case aside ({}); \
                     option keys are lower-cased, so rename one of them",
                    many.len(),
                    many.join(", ")
                ),
            }
        })
        .collect()
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

    /// A column's option reaches the writer whatever the column's case
    /// (read back from the written file's footer); a name two columns
    /// share case aside is an error naming them.
    #[test]
    fn a_columns_option_reaches_a_camel_case_column() {
        use datafusion::parquet::basic::Encoding;
        use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
        crate::tokio_runtime().expect("runtime").block_on(async {
            let dir = tempfile::tempdir().expect("tempdir");
            let ctx = crate::local_context(crate::session_config(&[]).expect("config")).expect("context");
            let sql = format!(
                "COPY (SELECT CAST(v AS BIGINT) AS \"movieId\", CAST(v AS BIGINT) AS other \
                 FROM (VALUES (1), (5), (9)) AS t(v)) TO '{}/t/' STORED AS PARQUET \
                 OPTIONS ('dictionary_enabled' 'false', 'encoding::movieId' 'delta_binary_packed')",
                dir.path().display()
            );
            ctx.sql(&sql).await.expect("sql").collect().await.expect("copy");
            let file = std::fs::read_dir(dir.path().join("t"))
                .expect("folder")
                .flatten()
                .find(|e| e.path().extension().is_some_and(|x| x == "parquet"))
                .expect("a file")
                .path();
            let reader = SerializedFileReader::new(std::fs::File::open(file).expect("open")).expect("footer");
            let group = reader.metadata().row_group(0);
            let encodings = |name: &str| {
                let column = group.columns().iter().find(|c| c.column_path().string() == name);
                column.expect(name).encodings().collect::<Vec<_>>()
            };
            assert!(
                encodings("movieId").contains(&Encoding::DELTA_BINARY_PACKED),
                "{:?}",
                encodings("movieId")
            );
            assert!(!encodings("other").contains(&Encoding::DELTA_BINARY_PACKED));

            let twice = format!(
                "COPY (SELECT 1 AS \"movieId\", 2 AS movieid) TO '{}/u/' STORED AS PARQUET \
                 OPTIONS ('encoding::movieId' 'delta_binary_packed')",
                dir.path().display()
            );
            let err = ctx
                .sql(&twice)
                .await
                .expect("sql")
                .into_optimized_plan()
                .expect_err("ambiguous");
            assert!(
                err.to_string().contains("movieId, movieid") || err.to_string().contains("movieid, movieId"),
                "{err}"
            );
            // A file metadata key is not a column's option, whatever the
            // columns are called.
            let metadata = twice.replace("'encoding::movieId' 'delta_binary_packed'", "'metadata::movieId' 'x'");
            ctx.sql(&metadata)
                .await
                .expect("sql")
                .into_optimized_plan()
                .expect("a metadata key");
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
