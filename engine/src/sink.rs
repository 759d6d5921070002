//! Parallel `COPY … TO 'folder/' STORED AS PARQUET`: every task writes its
//! own files, instead of one task writing the whole table.
//!
//! DataFusion's `DataSinkExec` requires a single input partition, so the
//! physical optimizer puts a `CoalescePartitionsExec` under every `COPY`,
//! and Ballista turns that into a stage boundary: the rows of all tasks
//! are shuffled to one task, which encodes the whole table into Parquet
//! alone. Measured at 10M generated ratings, stage 01's check of the
//! ratings spent 3.7 s writing its shuffle, 1.7 s reading it back and
//! 2.8 s in the one Parquet writer, against 3 s for the work itself.
//!
//! [`ParallelSinks`] (a physical optimizer rule, run on the scheduler)
//! replaces `DataSinkExec(CoalescePartitionsExec(input))` by
//! [`ParallelSinkExec`]`(input)` when the sink writes Parquet into a folder
//! and no order is asked of the file: each partition of `input` writes its
//! rows through the same DataFusion sink (its options, compression and
//! row-group sizes), into its own file with a random name, and returns
//! its count; the statement's counts add up as before. A `COPY` with an
//! `ORDER BY` (a sort-preserving merge) or to a single file is left
//! alone, since its one file is the point.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::config::{ConfigOptions, ParquetOptions};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{internal_err, Result};
use datafusion::datasource::file_format::parquet::ParquetSink;
use datafusion::datasource::physical_plan::FileSink;
use datafusion::datasource::sink::DataSinkExec;
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType, ReplaceChildrenOptions};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties, SendableRecordBatchStream,
};

/// Writes each input partition through the sink of `template` (a
/// `DataSinkExec` over an empty input, kept whole so that the sink travels
/// with DataFusion's own encoding; see [`crate::codec`]).
#[derive(Debug)]
pub struct ParallelSinkExec {
    input: Arc<dyn ExecutionPlan>,
    template: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

/// The schema of a `COPY`'s result: one `count` column.
fn count_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("count", DataType::UInt64, false)]))
}

impl ParallelSinkExec {
    /// Writes `input`'s partitions through `template`'s sink; fails when
    /// `template` is not a `DataSinkExec`.
    pub fn try_new(input: Arc<dyn ExecutionPlan>, template: Arc<dyn ExecutionPlan>) -> Result<Self> {
        if template.downcast_ref::<DataSinkExec>().is_none() {
            return internal_err!("ParallelSinkExec needs a DataSinkExec, got {}", template.name());
        }
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(count_schema()),
            Partitioning::UnknownPartitioning(input.properties().output_partitioning().partition_count()),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Ok(Self {
            input,
            template,
            properties,
        })
    }

    /// The `DataSinkExec` (over an empty input) whose sink writes.
    pub fn template(&self) -> &Arc<dyn ExecutionPlan> {
        &self.template
    }
}

impl DisplayAs for ParallelSinkExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ParallelSinkExec: ")?;
        match self.template.downcast_ref::<DataSinkExec>() {
            Some(sink) => sink.sink().fmt_as(t, f),
            None => Ok(()),
        }
    }
}

impl ExecutionPlan for ParallelSinkExec {
    fn name(&self) -> &str {
        "ParallelSinkExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return internal_err!("ParallelSinkExec takes one child, got {}", children.len());
        }
        Ok(Arc::new(Self::try_new(
            children.swap_remove(0),
            Arc::clone(&self.template),
        )?))
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(datafusion::physical_plan::execution_plan::ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, Arc::clone(&context))?;
        let template = Arc::clone(&self.template);
        // One file per partition: the partitions are the parallelism
        // already (DataFusion's sink would otherwise open several files
        // per call, so a table of 16 partitions became 64 small files).
        let mut config = context.session_config().clone();
        config
            .options_mut()
            .set("datafusion.execution.minimum_parallel_output_files", "1")?;
        let context = Arc::new(TaskContext::new(
            context.task_id(),
            context.session_id(),
            config,
            context.scalar_functions().clone(),
            context.higher_order_functions().clone(),
            context.aggregate_functions().clone(),
            context.window_functions().clone(),
            context.runtime_env(),
        ));
        let write = async move {
            let Some(sink) = template.downcast_ref::<DataSinkExec>() else {
                return internal_err!("ParallelSinkExec needs a DataSinkExec");
            };
            let rows = sink.sink().write_all(input, &context).await?;
            Ok(RecordBatch::try_new(
                count_schema(),
                vec![Arc::new(UInt64Array::from(vec![rows]))],
            )?)
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            count_schema(),
            futures::stream::once(write),
        )))
    }
}

/// The rule that puts [`ParallelSinkExec`] in place (see the module docs).
#[derive(Debug, Default)]
pub struct ParallelSinks;

impl PhysicalOptimizerRule for ParallelSinks {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(sink) = node.downcast_ref::<DataSinkExec>() else {
                return Ok(Transformed::no(node));
            };
            let Some(coalesce) = sink.input().downcast_ref::<CoalescePartitionsExec>() else {
                return Ok(Transformed::no(node));
            };
            let into_folder = sink.sink().downcast_ref::<ParquetSink>().is_some_and(|p| {
                let config = FileSink::config(p);
                config.table_paths.len() == 1
                    && !config.file_output_mode.single_file_output(&config.table_paths[0])
                    && config.table_partition_cols.is_empty()
            });
            if !into_folder || sink.sort_order().is_some() || coalesce.fetch().is_some() {
                return Ok(Transformed::no(node));
            }
            let input = Arc::clone(coalesce.input());
            let empty: Arc<dyn ExecutionPlan> = Arc::new(EmptyExec::new(input.schema()));
            let template: Arc<dyn ExecutionPlan> = match session_writer_options(sink, config) {
                Some(sink) => Arc::new(DataSinkExec::new(empty, Arc::new(sink), None)),
                None => Arc::clone(&node).replace_children(
                    vec![empty],
                    ReplaceChildrenOptions::new(
                        datafusion::physical_plan::execution_plan::ChildrenPropertiesMode::Recompute,
                    ),
                )?,
            };
            Ok(Transformed::yes(Arc::new(ParallelSinkExec::try_new(input, template)?)))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "moodflow_parallel_sinks"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The sink again with the session's `datafusion.execution.parquet.*`
/// writer settings, when the statement left DataFusion's built-in ones.
///
/// Ballista plans a `COPY` on the scheduler from default table options,
/// so without this a session's settings (`--conf
/// datafusion.execution.parquet.compression=…`) never reached a written
/// file. `None` when there is nothing to change.
fn session_writer_options(sink: &DataSinkExec, config: &ConfigOptions) -> Option<ParquetSink> {
    let parquet = sink.sink().downcast_ref::<ParquetSink>()?;
    let mut options = parquet.parquet_options().clone();
    if options.global != ParquetOptions::default() || options.global == config.execution.parquet {
        return None;
    }
    options.global = config.execution.parquet.clone();
    Some(ParquetSink::new(FileSink::config(parquet).clone(), options))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{AsArray, Int64Array};
    use datafusion::arrow::datatypes::Int64Type;
    use datafusion::datasource::MemTable;
    use datafusion::physical_plan::displayable;
    use datafusion::prelude::{ParquetReadOptions, SessionContext};

    use super::*;
    use crate::codec::MoodflowPhysicalCodec;

    /// A context with a four-partition table `t` of `v` = 1..=n.
    fn context(n: i64) -> SessionContext {
        let config = crate::session_config(&[]).expect("config").with_target_partitions(4);
        let ctx = crate::local_context(config).expect("context");
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        let partitions: Vec<Vec<RecordBatch>> = (0..4)
            .map(|p| {
                let values: Vec<i64> = (1..=n).filter(|v| v % 4 == p).collect();
                vec![
                    RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(Int64Array::from(values))]).expect("batch"),
                ]
            })
            .collect();
        let table = MemTable::try_new(schema, partitions).expect("table");
        ctx.register_table("t", Arc::new(table)).expect("register");
        ctx
    }

    async fn plan(ctx: &SessionContext, sql: &str) -> Arc<dyn ExecutionPlan> {
        ctx.sql(sql)
            .await
            .expect("sql")
            .create_physical_plan()
            .await
            .expect("plan")
    }

    fn files(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |d| d.count())
    }

    /// (rows, sum of v) of the Parquet folder, read by DataFusion.
    async fn read_back(ctx: &SessionContext, dir: &std::path::Path) -> (i64, i64) {
        let batches = ctx
            .read_parquet(format!("{}/", dir.display()), ParquetReadOptions::default())
            .await
            .expect("read")
            .aggregate(
                vec![],
                vec![
                    datafusion::functions_aggregate::expr_fn::count(datafusion::prelude::col("v")),
                    datafusion::functions_aggregate::expr_fn::sum(datafusion::prelude::col("v")),
                ],
            )
            .expect("aggregate")
            .collect()
            .await
            .expect("collect");
        let b = &batches[0];
        (
            b.column(0).as_primitive::<Int64Type>().value(0),
            b.column(1).as_primitive::<Int64Type>().value(0),
        )
    }

    #[test]
    fn a_copy_into_a_folder_is_written_by_every_partition_after_a_trip_through_the_codec() {
        let dir = tempfile::tempdir().expect("tempdir");
        let runtime = crate::tokio_runtime().expect("runtime");
        runtime.block_on(async {
            let ctx = context(10_000);
            let out = dir.path().join("out");
            let plan = plan(
                &ctx,
                &format!("COPY (SELECT v FROM t) TO '{}/' STORED AS PARQUET", out.display()),
            )
            .await;
            let shown = displayable(plan.as_ref()).indent(true).to_string();
            assert!(shown.contains("ParallelSinkExec"), "{shown}");
            assert!(!shown.contains("CoalescePartitionsExec"), "{shown}");
            // Executors get the plan through the codec.
            let codec = MoodflowPhysicalCodec::default();
            let bytes =
                datafusion_proto::bytes::physical_plan_to_bytes_with_extension_codec(plan, &codec).expect("encode");
            let plan =
                datafusion_proto::bytes::physical_plan_from_bytes_with_extension_codec(&bytes, &ctx.task_ctx(), &codec)
                    .expect("decode");
            let mut written = 0;
            for p in 0..plan.properties().output_partitioning().partition_count() {
                let stream = plan.execute(p, ctx.task_ctx()).expect("execute");
                for b in datafusion::physical_plan::common::collect(stream)
                    .await
                    .expect("collect")
                {
                    written += b
                        .column(0)
                        .as_primitive::<datafusion::arrow::datatypes::UInt64Type>()
                        .value(0);
                }
            }
            assert_eq!(written, 10_000);
            assert_eq!(files(&out), 4, "one file per partition");
            assert_eq!(read_back(&ctx, &out).await, (10_000, 10_000 * 10_001 / 2));
        });
    }

    #[test]
    fn an_ordered_copy_or_one_file_keeps_the_single_writer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let runtime = crate::tokio_runtime().expect("runtime");
        runtime.block_on(async {
            let ctx = context(1_000);
            let sorted = dir.path().join("sorted");
            let sql = format!(
                "COPY (SELECT v FROM t ORDER BY v) TO '{}/' STORED AS PARQUET",
                sorted.display()
            );
            let shown = displayable(plan(&ctx, &sql).await.as_ref()).indent(true).to_string();
            assert!(!shown.contains("ParallelSinkExec"), "{shown}");
            ctx.sql(&sql).await.expect("sql").collect().await.expect("copy");
            assert_eq!(files(&sorted), 1);
            assert_eq!(read_back(&ctx, &sorted).await, (1_000, 500_500));
            let one = dir.path().join("one.parquet");
            let sql = format!("COPY (SELECT v FROM t) TO '{}' STORED AS PARQUET", one.display());
            let shown = displayable(plan(&ctx, &sql).await.as_ref()).indent(true).to_string();
            assert!(!shown.contains("ParallelSinkExec"), "{shown}");
        });
    }

    /// As on a Ballista scheduler: the `COPY` was planned from DataFusion's
    /// default writer options (plain DataFusion here, without the rule),
    /// and the session asks for others. The rule's sink must write with
    /// the session's.
    #[test]
    fn the_session_writer_settings_reach_a_sink_planned_with_the_defaults() {
        let runtime = crate::tokio_runtime().expect("runtime");
        runtime.block_on(async {
            let ctx =
                SessionContext::new_with_config(datafusion::prelude::SessionConfig::new().with_target_partitions(4));
            let moodflow = context(100);
            ctx.register_table("t", moodflow.table_provider("t").await.expect("t"))
                .expect("register");
            let planned = plan(&ctx, "COPY (SELECT v FROM t) TO '/nowhere/out/' STORED AS PARQUET").await;
            let written_with = |plan: &Arc<dyn ExecutionPlan>| -> Option<String> {
                let parallel = plan.downcast_ref::<ParallelSinkExec>()?;
                let sink = parallel.template.downcast_ref::<DataSinkExec>()?;
                sink.sink()
                    .downcast_ref::<ParquetSink>()?
                    .parquet_options()
                    .global
                    .compression
                    .clone()
            };

            let mut session = ConfigOptions::new();
            session.execution.parquet.compression = Some("snappy".to_string());
            let optimized = ParallelSinks
                .optimize(Arc::clone(&planned), &session)
                .expect("optimize");
            assert_eq!(written_with(&optimized).as_deref(), Some("snappy"));

            // A session that asks for nothing keeps DataFusion's own.
            let optimized = ParallelSinks
                .optimize(planned, &ConfigOptions::new())
                .expect("optimize");
            assert_eq!(
                written_with(&optimized),
                ParquetOptions::default().compression,
                "the defaults are kept"
            );
        });
    }
}
