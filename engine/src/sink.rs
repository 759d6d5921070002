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
//!
//! **Rows and rejects from one statement.** A check that ends in a reason
//! column used to be written twice, once `WHERE reason IS NULL` into the
//! table and once `WHERE reason IS NOT NULL` into `_rejects/<table>`,
//! reading and checking its input twice (or once into a scratch table,
//! read back twice). A `COPY` into `…/<table>/` with
//! `OPTIONS ('metadata::moodflow_rejects' '<reason column>')` ([`REJECTS_OPTION`])
//! writes both from one pass: a row whose reason is NULL goes to the table
//! with the columns before the reason column, any other row to
//! `…/_rejects/<table>/` ([`rejects_url`]) with the columns after it and
//! then the reason (see [`RejectSplit`]). The rejects are written with the
//! session's Parquet settings, as a `COPY` of their own would be. The
//! statement returns the table's row count; the job runner counts the
//! rejects from their files. The option travels to the scheduler inside
//! the Parquet options (file metadata, which datafusion-proto keeps), and
//! the rule takes it out again: no written file carries it.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, RecordBatchOptions, UInt64Array};
use datafusion::arrow::compute::{cast, filter_record_batch, is_not_null, is_null};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::config::{ConfigOptions, ParquetOptions, TableParquetOptions};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{internal_err, plan_err, Result};
use datafusion::datasource::file_format::file_type_to_format;
use datafusion::datasource::file_format::parquet::ParquetFormatFactory;
use datafusion::datasource::file_format::parquet::ParquetSink;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::datasource::physical_plan::{FileSink, FileSinkConfig};
use datafusion::datasource::sink::DataSinkExec;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::dml::CopyTo;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType, ReplaceChildrenOptions};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties, SendableRecordBatchStream,
};
use futures::StreamExt;

/// Writes each input partition through the sink of `template` (a
/// `DataSinkExec` over an empty input, kept whole so that the sink travels
/// with DataFusion's own encoding; see [`crate::codec`]), and its rejects
/// through a second sink when the statement asked for them.
#[derive(Debug)]
pub struct ParallelSinkExec {
    input: Arc<dyn ExecutionPlan>,
    template: Arc<dyn ExecutionPlan>,
    rejects: Option<Rejects>,
    properties: Arc<PlanProperties>,
}

/// The key of the `COPY` option that writes rows and rejects from one pass
/// (see the module docs): `OPTIONS ('metadata::moodflow_rejects' 'reason')`.
/// A Parquet file-metadata key because DataFusion keeps those with the
/// Parquet options all the way to the scheduler; no key contains a dot,
/// which DataFusion would read as a setting's namespace.
pub const REJECTS_OPTION: &str = "moodflow_rejects";

/// True when `key`, a `COPY` option as written (`metadata::moodflow_rejects`)
/// or as DataFusion names it once planned (`format.metadata::…`), is
/// [`REJECTS_OPTION`].
pub fn is_rejects_option(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.strip_prefix("format.")
        .unwrap_or(&key)
        .strip_prefix("metadata::")
        .is_some_and(|k| k == REJECTS_OPTION)
}

/// The reason column a `COPY` names in [`REJECTS_OPTION`], if it does
/// (in its option map before [`crate::copy_options`] runs, in its format's
/// Parquet options after).
pub fn rejects_option(copy: &CopyTo) -> Option<String> {
    if let Some((_, reason)) = copy.options.iter().find(|(k, _)| is_rejects_option(k)) {
        return Some(reason.clone());
    }
    let factory = file_type_to_format(&copy.file_type).ok()?;
    let parquet = factory.downcast_ref::<ParquetFormatFactory>()?;
    parquet
        .options
        .as_ref()?
        .key_value_metadata
        .get(REJECTS_OPTION)
        .cloned()
        .flatten()
}

/// Where the rejects of the table written at `table_url` go: the folder
/// `_rejects/<table>/` beside it (`…/curated/movies/` →
/// `…/curated/_rejects/movies/`); an error for a URL that is not a folder.
pub fn rejects_url(table_url: &str) -> Result<String> {
    let folder = table_url.trim_end_matches('/');
    match folder.rsplit_once('/') {
        Some((parent, table)) if table_url.ends_with('/') && !table.is_empty() => {
            Ok(format!("{parent}/_rejects/{table}/"))
        }
        _ => plan_err!("a COPY with '{REJECTS_OPTION}' writes into a folder `…/<table>/`, not '{table_url}'"),
    }
}

/// How the columns of a checked row divide between a table and its
/// rejects: the table takes the columns before the reason column, the
/// rejects the columns after it and then the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectSplit {
    reason: usize,
    table: Vec<usize>,
    rejects: Vec<usize>,
}

impl RejectSplit {
    /// The split of `schema` at the text column `reason`; an error naming
    /// the columns when it has no such column or nothing on either side.
    pub fn new(schema: &Schema, reason: &str) -> Result<Self> {
        let Some(at) = schema.fields().iter().position(|f| f.name() == reason) else {
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            return plan_err!(
                "'{REJECTS_OPTION}' names the reason column '{reason}', which the COPY's rows do not have (they have {})",
                names.join(", ")
            );
        };
        if !matches!(
            schema.field(at).data_type(),
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
        ) {
            return plan_err!(
                "the reason column '{reason}' of a COPY with '{REJECTS_OPTION}' is text, not {}",
                schema.field(at).data_type()
            );
        }
        if at == 0 || at + 1 == schema.fields().len() {
            return plan_err!(
                "a COPY with '{REJECTS_OPTION}' selects the table's columns, then '{reason}', then the rejects' columns (file, line, …); '{reason}' is column {} of {}",
                at + 1,
                schema.fields().len()
            );
        }
        Ok(Self {
            reason: at,
            table: (0..at).collect(),
            rejects: (at + 1..schema.fields().len()).chain([at]).collect(),
        })
    }

    /// The table's columns of `schema`.
    pub fn table_schema(&self, schema: &Schema) -> Result<SchemaRef> {
        Ok(Arc::new(schema.project(&self.table)?))
    }

    /// The rejects' columns of `schema`, text as `Utf8`: the raw scans
    /// hand their `file` column over as views of one URL (cheap to carry
    /// for the rows that are not rejects), and a rejects table keeps the
    /// type it always had.
    pub fn rejects_schema(&self, schema: &Schema) -> Result<SchemaRef> {
        let projected = schema.project(&self.rejects)?;
        let fields = projected.fields().iter().map(|f| match f.data_type() {
            DataType::Utf8View => Arc::new(f.as_ref().clone().with_data_type(DataType::Utf8)),
            _ => Arc::clone(f),
        });
        Ok(Arc::new(Schema::new_with_metadata(
            fields.collect::<Vec<_>>(),
            projected.metadata().clone(),
        )))
    }

    /// `batch`'s table rows and its rejects (their views cast to `Utf8`,
    /// after the filter: only the rejected rows).
    fn split(&self, batch: &RecordBatch) -> Result<(RecordBatch, RecordBatch)> {
        let reason = batch.column(self.reason);
        let table = filter_record_batch(&batch.project(&self.table)?, &is_null(reason)?)?;
        let rejects = filter_record_batch(&batch.project(&self.rejects)?, &is_not_null(reason)?)?;
        let schema = self.rejects_schema(batch.schema_ref())?;
        let columns = rejects
            .columns()
            .iter()
            .zip(schema.fields())
            .map(|(c, f)| cast(c, f.data_type()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let rejects = RecordBatch::try_new_with_options(
            schema,
            columns,
            &RecordBatchOptions::new().with_row_count(Some(rejects.num_rows())),
        )?;
        Ok((table, rejects))
    }
}

/// The second sink of a [`ParallelSinkExec`] that splits its rows.
#[derive(Debug)]
struct Rejects {
    /// The reason column, as the statement named it.
    reason: String,
    split: RejectSplit,
    /// A `DataSinkExec` over an empty input, writing into `_rejects/<table>/`.
    template: Arc<dyn ExecutionPlan>,
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
            rejects: None,
            properties,
        })
    }

    /// The same, writing the rows whose `reason` is not NULL through
    /// `rejects` (a `DataSinkExec` over an empty input) instead; the table
    /// sink gets the columns before `reason` (see [`RejectSplit`]).
    pub fn try_new_with_rejects(
        input: Arc<dyn ExecutionPlan>,
        template: Arc<dyn ExecutionPlan>,
        reason: &str,
        rejects: Arc<dyn ExecutionPlan>,
    ) -> Result<Self> {
        if rejects.downcast_ref::<DataSinkExec>().is_none() {
            return internal_err!("ParallelSinkExec's rejects need a DataSinkExec, got {}", rejects.name());
        }
        let split = RejectSplit::new(&input.schema(), reason)?;
        Ok(Self {
            rejects: Some(Rejects {
                reason: reason.to_string(),
                split,
                template: rejects,
            }),
            ..Self::try_new(input, template)?
        })
    }

    /// The `DataSinkExec` (over an empty input) whose sink writes.
    pub fn template(&self) -> &Arc<dyn ExecutionPlan> {
        &self.template
    }

    /// The reason column and the `DataSinkExec` of the rejects, when the
    /// rows are split.
    pub fn rejects(&self) -> Option<(&str, &Arc<dyn ExecutionPlan>)> {
        self.rejects.as_ref().map(|r| (r.reason.as_str(), &r.template))
    }
}

impl DisplayAs for ParallelSinkExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ParallelSinkExec: ")?;
        if let Some(sink) = self.template.downcast_ref::<DataSinkExec>() {
            sink.sink().fmt_as(t, f)?;
        }
        if let Some(rejects) = &self.rejects {
            write!(f, ", rows with {} to ", rejects.reason)?;
            if let Some(sink) = rejects.template.downcast_ref::<DataSinkExec>() {
                sink.sink().fmt_as(t, f)?;
            }
        }
        Ok(())
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
        let input = children.swap_remove(0);
        let template = Arc::clone(&self.template);
        Ok(Arc::new(match &self.rejects {
            Some(r) => Self::try_new_with_rejects(input, template, &r.reason, Arc::clone(&r.template))?,
            None => Self::try_new(input, template)?,
        }))
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
        let rejects = self
            .rejects
            .as_ref()
            .map(|r| (r.split.clone(), Arc::clone(&r.template)));
        let write = async move {
            let Some(sink) = template.downcast_ref::<DataSinkExec>() else {
                return internal_err!("ParallelSinkExec needs a DataSinkExec");
            };
            let rows = match rejects {
                None => sink.sink().write_all(input, &context).await?,
                Some((split, rejects)) => {
                    let Some(rejects) = rejects.downcast_ref::<DataSinkExec>() else {
                        return internal_err!("ParallelSinkExec's rejects need a DataSinkExec");
                    };
                    write_split(input, &split, sink, rejects, &context).await?
                }
            };
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

/// Writes `input`'s table rows through `table` and its rejects through
/// `rejects`, both at once (each sink reads its own channel, so neither
/// waits for the other's file to end); the table's row count.
async fn write_split(
    mut input: SendableRecordBatchStream,
    split: &RejectSplit,
    table: &DataSinkExec,
    rejects: &DataSinkExec,
    context: &Arc<TaskContext>,
) -> Result<u64> {
    let schema = input.schema();
    // Two batches of slack: the sinks encode while the next batch is split.
    let (table_tx, table_rx) = tokio::sync::mpsc::channel::<RecordBatch>(2);
    let (rejects_tx, rejects_rx) = tokio::sync::mpsc::channel::<RecordBatch>(2);
    let stream = |schema: SchemaRef, rx: tokio::sync::mpsc::Receiver<RecordBatch>| {
        let batches = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (Ok(b), rx)) });
        Box::pin(RecordBatchStreamAdapter::new(schema, batches)) as SendableRecordBatchStream
    };
    let table_write = table
        .sink()
        .write_all(stream(split.table_schema(&schema)?, table_rx), context);
    let rejects_write = rejects
        .sink()
        .write_all(stream(split.rejects_schema(&schema)?, rejects_rx), context);
    let divide = async move {
        while let Some(batch) = input.next().await {
            let (rows, rejected) = split.split(&batch?)?;
            // A closed channel is a sink that failed: its error is the
            // statement's, reported by `try_join` below.
            if rows.num_rows() > 0 && table_tx.send(rows).await.is_err() {
                break;
            }
            if rejected.num_rows() > 0 && rejects_tx.send(rejected).await.is_err() {
                break;
            }
        }
        Ok::<_, datafusion::error::DataFusionError>(())
    };
    let ((), rows, _) = futures::try_join!(divide, table_write, rejects_write)?;
    Ok(rows)
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
            let into_folder = sink.sink().downcast_ref::<ParquetSink>().is_some_and(|p| {
                let config = FileSink::config(p);
                config.table_paths.len() == 1
                    && !config.file_output_mode.single_file_output(&config.table_paths[0])
                    && config.table_partition_cols.is_empty()
            });
            let coalesce = sink.input().downcast_ref::<CoalescePartitionsExec>();
            if let Some(reason) = rejects_marker(sink) {
                // Never written as it stands: the reason and reject columns
                // would land in the table.
                if !into_folder || sink.sort_order().is_some() || coalesce.is_some_and(|c| c.fetch().is_some()) {
                    return plan_err!(
                        "a COPY with '{REJECTS_OPTION}' writes Parquet into a folder `…/<table>/`, without ORDER BY, LIMIT or PARTITIONED BY"
                    );
                }
                let input = coalesce.map_or_else(|| Arc::clone(sink.input()), |c| Arc::clone(c.input()));
                return Ok(Transformed::yes(split_sink(sink, input, &reason, config)?));
            }
            let Some(coalesce) = coalesce else {
                return Ok(Transformed::no(node));
            };
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

/// The reason column of a Parquet sink planned from a `COPY` with
/// [`REJECTS_OPTION`].
fn rejects_marker(sink: &DataSinkExec) -> Option<String> {
    let parquet = sink.sink().downcast_ref::<ParquetSink>()?;
    parquet
        .parquet_options()
        .key_value_metadata
        .get(REJECTS_OPTION)
        .cloned()
        .flatten()
}

/// A [`ParallelSinkExec`] writing `input`'s rows into `sink`'s folder and
/// its rejects into `_rejects/<table>/` beside it.
fn split_sink(
    sink: &DataSinkExec,
    input: Arc<dyn ExecutionPlan>,
    reason: &str,
    config: &ConfigOptions,
) -> Result<Arc<dyn ExecutionPlan>> {
    let Some(parquet) = sink.sink().downcast_ref::<ParquetSink>() else {
        return internal_err!("a COPY with '{REJECTS_OPTION}' writes Parquet");
    };
    let schema = input.schema();
    let split = RejectSplit::new(&schema, reason)?;
    let mut options = match session_writer_options(sink, config) {
        Some(session) => session.parquet_options().clone(),
        None => parquet.parquet_options().clone(),
    };
    options.key_value_metadata.remove(REJECTS_OPTION);
    let table = FileSink::config(parquet).clone();
    let url = rejects_url(table.table_paths[0].as_str())?;
    let rejects = FileSinkConfig {
        original_url: url.clone(),
        table_paths: vec![ListingTableUrl::parse(&url)?],
        output_schema: split.rejects_schema(&schema)?,
        ..table.clone()
    };
    let table = FileSinkConfig {
        output_schema: split.table_schema(&schema)?,
        ..table
    };
    // The rejects as a `COPY` of their own writes them: the session's
    // settings, none of the statement's per-column ones.
    let rejects_options = TableParquetOptions {
        global: config.execution.parquet.clone(),
        ..TableParquetOptions::default()
    };
    let template = |config: FileSinkConfig, options: TableParquetOptions| {
        let empty: Arc<dyn ExecutionPlan> = Arc::new(EmptyExec::new(Arc::clone(&config.output_schema)));
        Arc::new(DataSinkExec::new(
            empty,
            Arc::new(ParquetSink::new(config, options)),
            None,
        )) as Arc<dyn ExecutionPlan>
    };
    Ok(Arc::new(ParallelSinkExec::try_new_with_rejects(
        input,
        template(table, options),
        reason,
        template(rejects, rejects_options),
    )?))
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

    /// Runs `plan` as an executor would get it (through the codec), every
    /// partition; the rows its counts add up to.
    async fn run_through_the_codec(ctx: &SessionContext, plan: Arc<dyn ExecutionPlan>) -> u64 {
        let codec = MoodflowPhysicalCodec::default();
        let bytes = datafusion_proto::bytes::physical_plan_to_bytes_with_extension_codec(plan, &codec).expect("encode");
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
        written
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
            let written = run_through_the_codec(&ctx, plan).await;
            assert_eq!(written, 10_000);
            assert_eq!(files(&out), 4, "one file per partition");
            assert_eq!(read_back(&ctx, &out).await, (10_000, 10_000 * 10_001 / 2));
        });
    }

    /// Sums of the `i64` columns `cols` of the Parquet folder `dir`, with
    /// its row count, and the names of its columns.
    async fn folder(ctx: &SessionContext, dir: &std::path::Path) -> (Vec<String>, i64, Vec<i64>) {
        let df = ctx
            .read_parquet(format!("{}/", dir.display()), ParquetReadOptions::default())
            .await
            .expect("read");
        let names: Vec<String> = df.schema().fields().iter().map(|f| f.name().clone()).collect();
        let batches = df.collect().await.expect("collect");
        let rows = batches.iter().map(|b| b.num_rows() as i64).sum();
        let sums = names
            .iter()
            .enumerate()
            .filter(|(_, n)| *n != "reason")
            .map(|(c, _)| {
                batches
                    .iter()
                    .map(|b| b.column(c).as_primitive::<Int64Type>().iter().flatten().sum::<i64>())
                    .sum()
            })
            .collect();
        (names, rows, sums)
    }

    /// Rows whose reason is NULL land in the table with the columns before
    /// `reason`; the others in `_rejects/<table>` with the columns after it
    /// and the reason; a trip through the codec (as to an executor) keeps
    /// the split; no file carries the option. Checked against sums written
    /// out by hand from `v` = 1..=1000, every tenth rejected.
    #[test]
    fn a_copy_with_a_reason_column_writes_its_rejects_beside_the_table() {
        let dir = tempfile::tempdir().expect("tempdir");
        let runtime = crate::tokio_runtime().expect("runtime");
        runtime.block_on(async {
            let ctx = context(1_000);
            let table = dir.path().join("curated").join("t");
            let sql = format!(
                "COPY (SELECT v, v * 2 AS w, CASE WHEN v % 10 = 0 THEN 'tenth' END AS reason, v AS line FROM t) \
                 TO '{}/' STORED AS PARQUET OPTIONS ('metadata::moodflow_rejects' 'reason')",
                table.display()
            );
            let planned = plan(&ctx, &sql).await;
            let shown = displayable(planned.as_ref()).indent(true).to_string();
            assert!(shown.contains("rows with reason to"), "{shown}");
            let written = run_through_the_codec(&ctx, planned).await;
            assert_eq!(written, 900, "the statement counts the table's rows");
            // 1..=1000 without the multiples of 10: 500,500 - 50,500.
            assert_eq!(
                folder(&ctx, &table).await,
                (vec!["v".into(), "w".into()], 900, vec![450_000, 900_000])
            );
            let rejects = dir.path().join("curated").join("_rejects").join("t");
            assert_eq!(
                folder(&ctx, &rejects).await,
                (vec!["line".into(), "reason".into()], 100, vec![50_500])
            );
            for file in std::fs::read_dir(&table)
                .expect("table")
                .chain(std::fs::read_dir(&rejects).expect("rejects"))
            {
                let file = std::fs::File::open(file.expect("entry").path()).expect("open");
                let reader = datafusion::parquet::file::reader::SerializedFileReader::new(file).expect("parquet");
                let metadata = datafusion::parquet::file::reader::FileReader::metadata(&reader);
                let keys = metadata
                    .file_metadata()
                    .key_value_metadata()
                    .cloned()
                    .unwrap_or_default();
                assert!(keys.iter().all(|kv| kv.key != REJECTS_OPTION), "{keys:?}");
            }
        });
    }

    /// One input partition (no coalesce to replace) still splits, and a
    /// statement that cannot be split is an error, never a table with its
    /// reason and reject columns in it.
    #[test]
    fn a_split_copy_is_split_or_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let runtime = crate::tokio_runtime().expect("runtime");
        runtime.block_on(async {
            let ctx = context(100);
            let one = dir.path().join("one");
            ctx.sql(&format!(
                "COPY (SELECT column1 AS v, CASE WHEN column1 > 3 THEN 'big' END AS reason, column1 AS line \
                 FROM (VALUES (1), (2), (3), (4), (5))) \
                 TO '{}/' STORED AS PARQUET OPTIONS ('metadata::moodflow_rejects' 'reason')",
                one.display()
            ))
            .await
            .expect("sql")
            .collect()
            .await
            .expect("copy");
            assert_eq!(folder(&ctx, &one).await, (vec!["v".into()], 3, vec![6]));
            assert_eq!(
                folder(&ctx, &dir.path().join("_rejects").join("one")).await,
                (vec!["line".into(), "reason".into()], 2, vec![9])
            );
            for (sql, says) in [
                (
                    "SELECT v, CAST(NULL AS VARCHAR) AS reason, v AS line FROM t ORDER BY v",
                    "without ORDER BY",
                ),
                ("SELECT v, v AS line FROM t", "do not have"),
                (
                    "SELECT v, CAST(NULL AS VARCHAR) AS reason FROM t",
                    "then the rejects' columns",
                ),
                ("SELECT v, v AS reason, v AS line FROM t", "is text"),
            ] {
                let out = dir.path().join("refused");
                let result = match ctx
                    .sql(&format!(
                        "COPY ({sql}) TO '{}/' STORED AS PARQUET OPTIONS ('metadata::moodflow_rejects' 'reason')",
                        out.display()
                    ))
                    .await
                {
                    Ok(df) => df.collect().await.map(|_| ()),
                    Err(e) => Err(e),
                };
                let error = result.expect_err(sql).to_string();
                assert!(error.contains(says), "{sql}: {error}");
                assert!(!out.exists(), "{sql}: nothing written");
            }
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
