//! [`RawScanExec`]: the physical scan of raw files (Netflix Prize ratings
//! and titles, MovieLens CSV), one output partition per group of byte
//! ranges, run on the executors.
//!
//! The split plan travels as data: the scan's one child is an in-memory
//! source whose partition `p` holds the byte ranges of output partition
//! `p` (see [`splits_source`]). Ballista 55 restricts every task's plan to
//! its share of the partitions by slicing the leaves it knows (file and
//! memory scans) and rebuilding the nodes above them; a custom leaf would
//! be left whole and every task would read every split. With the ranges in
//! a memory source, a task's scan has exactly its own splits.
//!
//! A ratings range is streamed in chunks (never the whole split in memory):
//! the reader first finds the range's first owned line (one small read
//! around `start`) and the MovieID in force there (reads backwards from
//! that line until a header line is found), then parses whole lines with
//! [`super::netflix::parse_line`] until the first line that starts at or
//! after `end`. Line numbers cost a count of the newlines before the range,
//! so they are computed only when the range holds a malformed line.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayBuilder, ArrayRef, AsArray, Date32Builder, Float64Builder, Int32Builder, Int64Builder, Int8Builder,
    RecordBatch, StringArray, StringBuilder, StringViewArray, UInt32Array, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt64Type};
use datafusion::catalog::memory::MemorySourceConfig;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{exec_datafusion_err, internal_err, DataFusionError, Result};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType, ReplaceChildrenOptions};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties, SendableRecordBatchStream,
};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};

use super::netflix::{self, LineKind};
use super::numbers;
use super::titles::{self, Encoding, TitleLine};

/// Which kind of raw file a scan reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileKind {
    /// Netflix Prize `combined_data_*.txt` / `mv_*.txt`: `MovieID:` blocks
    /// of ratings.
    Ratings,
    /// Netflix Prize `movie_titles.csv` / `.txt`.
    Titles,
    /// MovieLens CSV (`movies.csv`, `ratings.csv`, `tags.csv`), read by
    /// [`super::csv`] into the table's declared columns (see [`CsvColumn`]).
    Csv,
}

/// What a MOODFLOW_CSV column is read as.
///
/// A typed column holds exactly what `TRY_CAST(text AS <type>)` gives for
/// the field's text: the same Arrow parser, so a value that does not parse
/// is NULL and the job's own checks turn it into a reject with its reason,
/// as they did from the text (the record's `raw_line` keeps what was
/// read). Typed, a column of numbers is parsed once, where the bytes are,
/// instead of being copied into a string column and cast in SQL (see
/// README "Typed CSV columns" and "Benchmarks").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CsvType {
    /// `VARCHAR`: the field's text.
    Text,
    /// `INT`.
    Int32,
    /// `BIGINT`.
    Int64,
    /// `DOUBLE`.
    Float64,
}

impl CsvType {
    /// The type a declared column is read as, if it is one of these.
    pub fn of(data_type: &DataType) -> Option<Self> {
        match data_type {
            DataType::Utf8 => Some(Self::Text),
            DataType::Int32 => Some(Self::Int32),
            DataType::Int64 => Some(Self::Int64),
            DataType::Float64 => Some(Self::Float64),
            _ => None,
        }
    }

    /// The column's Arrow type.
    pub fn data_type(self) -> DataType {
        match self {
            Self::Text => DataType::Utf8,
            Self::Int32 => DataType::Int32,
            Self::Int64 => DataType::Int64,
            Self::Float64 => DataType::Float64,
        }
    }
}

/// A declared column of a MOODFLOW_CSV table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsvColumn {
    /// Its name (also what the header line is recognised by).
    pub name: String,
    /// What it is read as.
    pub kind: CsvType,
}

/// Which rows a scan emits: a pushed-down `reason IS NULL` or
/// `reason IS NOT NULL` filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RowFilter {
    /// Valid rows and rejects.
    All,
    /// Valid rows only (`reason IS NULL`).
    Valid,
    /// Rejects only (`reason IS NOT NULL`).
    Rejects,
}

impl RowFilter {
    fn valid(self) -> bool {
        self != Self::Rejects
    }
    fn rejects(self) -> bool {
        self != Self::Valid
    }
}

/// A byte range `[start, end)` of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRange {
    /// Object-store path of the file.
    pub path: String,
    /// The file's size.
    pub size: u64,
    /// First byte of the range.
    pub start: u64,
    /// One past the last byte of the range.
    pub end: u64,
}

/// Everything a scan needs, planned on the scheduler and shipped to the
/// executors as is (see [`crate::codec`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanSpec {
    /// What the files hold.
    pub kind: FileKind,
    /// The object store, `file:///` or `hdfs://nn:8020/`.
    pub store_url: String,
    /// Output columns, as indices into the full schema.
    pub projection: Option<Vec<usize>>,
    /// Which rows to emit.
    pub rows: RowFilter,
    /// How titles are decoded.
    pub encoding: Encoding,
    /// Bytes fetched per read (small in tests, to put chunk boundaries
    /// everywhere).
    pub chunk_bytes: u64,
    /// CSV: the declared columns, in order (empty for Netflix files).
    #[serde(default)]
    pub columns: Vec<CsvColumn>,
    /// CSV: the bounds of one record.
    #[serde(default = "default_csv_bounds")]
    pub csv_bounds: (u64, usize),
    /// Netflix ratings, a scan of the valid rows only: a folder (URL) where
    /// each task sets aside, in one pass over its splits, what it does not
    /// emit: `rejects/part-<id>.parquet` ([`side_rejects_schema`]: the
    /// rejects, numbered within their split, which saves reading the bytes
    /// before a split again to number them) and `splits/part-<id>.parquet`
    /// ([`side_splits_schema`]: each split's lines and records, which give
    /// the rejects their line numbers in the file and the ledger its count
    /// of records read). Files are named by the task's first split, so a
    /// task run again replaces its own files. CSV, any scan: each task
    /// writes `splits/part-<id>.parquet` ([`side_csv_splits_schema`]: each
    /// range's lines and records, the ledger's counts without a second
    /// read of the files).
    #[serde(default)]
    pub side_outputs: Option<String>,
}

/// The rejects a scan set aside: `file`, the split's first byte `start`,
/// the 1-based `line` within the split, `raw_line`, `reason`.
pub fn side_rejects_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("file", DataType::Utf8, false),
        Field::new("start", DataType::Int64, false),
        Field::new("line", DataType::Int64, false),
        Field::new("raw_line", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
    ]))
}

/// One row per split a scan read: `file`, the split's first byte `start`,
/// the `lines` it owns and the `records` (ratings and rejects) among them.
pub fn side_splits_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("file", DataType::Utf8, false),
        Field::new("start", DataType::Int64, false),
        Field::new("lines", DataType::Int64, false),
        Field::new("records", DataType::Int64, false),
    ]))
}

/// One row per CSV range a scan read ([`CsvTally`]): `file`, `start`,
/// `lines`, `records`, `covered`, `first_line` (null without records).
pub fn side_csv_splits_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("file", DataType::Utf8, false),
        Field::new("start", DataType::Int64, false),
        Field::new("lines", DataType::Int64, false),
        Field::new("records", DataType::Int64, false),
        Field::new("covered", DataType::Int64, false),
        Field::new("first_line", DataType::Int64, true),
    ]))
}

fn csv_tally_batch(tallies: &[CsvTally]) -> Result<RecordBatch> {
    use datafusion::arrow::array::Int64Array;
    let ints = |f: fn(&CsvTally) -> u64| Arc::new(Int64Array::from_iter_values(tallies.iter().map(|t| f(t) as i64)));
    Ok(RecordBatch::try_new(
        side_csv_splits_schema(),
        vec![
            Arc::new(StringArray::from_iter_values(tallies.iter().map(|t| t.file.as_str()))) as ArrayRef,
            ints(|t| t.start),
            ints(|t| t.lines),
            ints(|t| t.records),
            ints(|t| t.covered),
            Arc::new(Int64Array::from_iter(
                tallies.iter().map(|t| t.first_line.map(|l| l as i64)),
            )),
        ],
    )?)
}

/// The default lines and bytes of one CSV record.
pub(crate) fn default_csv_bounds() -> (u64, usize) {
    (
        super::csv::DEFAULT_MAX_RECORD_LINES,
        super::csv::DEFAULT_MAX_RECORD_BYTES,
    )
}

/// Default bytes per read: large enough that a read is cheap on HDFS or
/// S3, small enough that a task's memory stays flat.
pub const DEFAULT_CHUNK_BYTES: u64 = 8 << 20;

/// The columns every raw table ends with: where a reject came from. A CSV
/// record may span lines, so it has its last line too.
fn reject_fields(kind: FileKind) -> Vec<Field> {
    // `file` is the same URL for every row of a chunk: views of one copy
    // (see `FileColumn`). What is written of it (rejects, side outputs) is
    // cast back to `Utf8`, the few rows that are rejects.
    let mut fields = vec![
        Field::new("file", DataType::Utf8View, true),
        Field::new("line", DataType::Int64, true),
    ];
    if kind == FileKind::Csv {
        fields.push(Field::new("line_end", DataType::Int64, true));
    }
    fields.extend([
        Field::new("raw_line", DataType::Utf8, true),
        Field::new("reason", DataType::Utf8, true),
    ]);
    fields
}

/// The full schema of a scan of `kind`: the parsed columns (null in a
/// reject), then `file`, `line`, (`line_end`,) `raw_line`, `reason` (null
/// in a valid rating; a valid title or CSV record has its `file`, lines
/// and raw text). `columns` are a CSV table's declared columns.
pub fn full_schema(kind: FileKind, columns: &[CsvColumn]) -> SchemaRef {
    let mut fields = match kind {
        FileKind::Ratings => vec![
            Field::new("movie_id", DataType::Int64, true),
            Field::new("customer_id", DataType::Int64, true),
            Field::new("rating", DataType::Int8, true),
            Field::new("date", DataType::Date32, true),
        ],
        FileKind::Titles => vec![
            Field::new("movie_id", DataType::Int64, true),
            Field::new("year", DataType::Int32, true),
            Field::new("title", DataType::Utf8, true),
        ],
        FileKind::Csv => columns
            .iter()
            .map(|c| Field::new(&c.name, c.kind.data_type(), true))
            .collect(),
    };
    fields.extend(reject_fields(kind));
    Arc::new(Schema::new(fields))
}

/// The schema of the split plan's rows: one byte range each.
fn splits_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("path", DataType::Utf8, false),
        Field::new("size", DataType::UInt64, false),
        Field::new("start", DataType::UInt64, false),
        Field::new("end", DataType::UInt64, false),
    ]))
}

/// The split plan as an in-memory source: partition `p` holds the ranges
/// output partition `p` reads, in order.
pub fn splits_source(partitions: &[Vec<FileRange>]) -> Result<Arc<dyn ExecutionPlan>> {
    let schema = splits_schema();
    let batches = partitions
        .iter()
        .map(|ranges| {
            let batch = RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(StringArray::from_iter_values(ranges.iter().map(|r| r.path.as_str()))) as ArrayRef,
                    Arc::new(UInt64Array::from_iter_values(ranges.iter().map(|r| r.size))),
                    Arc::new(UInt64Array::from_iter_values(ranges.iter().map(|r| r.start))),
                    Arc::new(UInt64Array::from_iter_values(ranges.iter().map(|r| r.end))),
                ],
            )?;
            Ok(vec![batch])
        })
        .collect::<Result<Vec<_>>>()?;
    let source = MemorySourceConfig::try_new(&batches, schema, None)?;
    Ok(DataSourceExec::from_data_source(source))
}

fn ranges_of(batch: &RecordBatch) -> Result<Vec<FileRange>> {
    let path = batch.column(0).as_string::<i32>();
    let size = batch.column(1).as_primitive::<UInt64Type>();
    let start = batch.column(2).as_primitive::<UInt64Type>();
    let end = batch.column(3).as_primitive::<UInt64Type>();
    Ok((0..batch.num_rows())
        .map(|i| FileRange {
            path: path.value(i).to_string(),
            size: size.value(i),
            start: start.value(i),
            end: end.value(i),
        })
        .collect())
}

/// Scans Netflix Prize files by byte range.
#[derive(Debug)]
pub struct RawScanExec {
    spec: Arc<ScanSpec>,
    splits: Arc<dyn ExecutionPlan>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl RawScanExec {
    /// A scan of `spec` over the ranges of `splits` (see [`splits_source`]);
    /// fails when the projection is out of range.
    pub fn try_new(spec: ScanSpec, splits: Arc<dyn ExecutionPlan>) -> Result<Self> {
        let full = full_schema(spec.kind, &spec.columns);
        let schema = match &spec.projection {
            Some(p) => Arc::new(full.project(p)?),
            None => full,
        };
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(splits.properties().output_partitioning().partition_count()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Ok(Self {
            spec: Arc::new(spec),
            splits,
            schema,
            properties,
        })
    }

    /// What the scan reads.
    pub fn spec(&self) -> &ScanSpec {
        &self.spec
    }
}

impl DisplayAs for RawScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "RawScanExec: kind={:?}, partitions={}, rows={:?}",
            self.spec.kind,
            self.properties.output_partitioning().partition_count(),
            self.spec.rows
        )
    }
}

impl ExecutionPlan for RawScanExec {
    fn name(&self) -> &str {
        "RawScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.splits]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return internal_err!("RawScanExec takes one child, got {}", children.len());
        }
        // Always recompute: Ballista hands each task its restricted splits.
        Ok(Arc::new(Self::try_new(
            self.spec.as_ref().clone(),
            children.swap_remove(0),
        )?))
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(datafusion::physical_plan::execution_plan::ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let splits = self.splits.execute(partition, Arc::clone(&context))?;
        let store = context
            .runtime_env()
            .object_store(ObjectStoreUrl::parse(&self.spec.store_url)?)?;
        let side = match &self.spec.side_outputs {
            Some(dir) => Some(SideOutputs::new(dir, &context)?),
            None => None,
        };
        // Setting aside needs the rejects built beside the rows. A valid
        // rating's `file` (column 4) is built only when it is emitted: a
        // reject always has its own.
        let spec = match side {
            Some(_) if self.spec.kind == FileKind::Ratings => {
                let full = full_schema(self.spec.kind, &self.spec.columns).fields().len();
                let wants_file = self.spec.projection.as_ref().is_none_or(|p| p.contains(&4));
                Arc::new(ScanSpec {
                    rows: RowFilter::All,
                    projection: (!wants_file).then(|| (0..full).filter(|&i| i != 4).collect()),
                    ..self.spec.as_ref().clone()
                })
            }
            _ => Arc::clone(&self.spec),
        };
        let reader = PartitionReader {
            store,
            spec,
            projection: self.spec.projection.clone(),
            schema: Arc::clone(&self.schema),
            splits: Some(splits),
            ranges: VecDeque::new(),
            current: None,
            pending: VecDeque::new(),
            batch_size: context.session_config().batch_size().max(1),
            side,
            last: Capacity::default(),
        };
        let stream =
            futures::stream::try_unfold(reader, |mut r| async move { Ok(r.next_batch().await?.map(|b| (b, r))) });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            stream,
        )))
    }
}

/// Reads one output partition's ranges in order.
struct PartitionReader {
    store: Arc<dyn ObjectStore>,
    /// What is read (with side outputs: every row, split afterwards).
    spec: Arc<ScanSpec>,
    /// The columns emitted.
    projection: Option<Vec<usize>>,
    schema: SchemaRef,
    /// The partition's ranges, read before the first batch.
    splits: Option<SendableRecordBatchStream>,
    ranges: VecDeque<FileRange>,
    current: Option<(RangeReader, FileRange)>,
    pending: VecDeque<RecordBatch>,
    batch_size: usize,
    side: Option<SideOutputs>,
    /// The size of the last chunk's rows: the next chunk's builders start
    /// at it instead of growing (and copying) by doubling.
    last: Capacity,
}

/// What a scan of the valid ratings sets aside (see
/// [`ScanSpec::side_outputs`]).
struct SideOutputs {
    store: Arc<dyn ObjectStore>,
    dir: Path,
    rejects: Vec<RecordBatch>,
    /// (file, start, lines, records) per split read.
    splits: Vec<(String, i64, i64, i64)>,
    /// Records of the split being read.
    records: i64,
    /// CSV: what each range held.
    csv: Vec<CsvTally>,
}

impl SideOutputs {
    fn new(dir: &str, context: &TaskContext) -> Result<Self> {
        let url = datafusion::datasource::listing::ListingTableUrl::parse(dir)?;
        Ok(Self {
            store: context.runtime_env().object_store(url.object_store())?,
            dir: url.prefix().clone(),
            rejects: Vec::new(),
            splits: Vec::new(),
            records: 0,
            csv: Vec::new(),
        })
    }

    /// Keeps `batch`'s rejects (full schema) with their split's `start`;
    /// returns its valid rows.
    fn split(&mut self, batch: RecordBatch, start: u64) -> Result<RecordBatch> {
        use datafusion::arrow::compute::{filter_record_batch, is_not_null, is_null};
        self.records += batch.num_rows() as i64;
        let reason = batch
            .column_by_name("reason")
            .ok_or_else(|| exec_datafusion_err!("no reason column"))?;
        let rejected = is_not_null(reason)?;
        if rejected.true_count() > 0 {
            let rejects = filter_record_batch(&batch, &rejected)?;
            let n = rejects.num_rows();
            let column = |name: &str| {
                rejects
                    .column_by_name(name)
                    .cloned()
                    .ok_or_else(|| exec_datafusion_err!("no {name} column"))
            };
            self.rejects.push(RecordBatch::try_new(
                side_rejects_schema(),
                vec![
                    datafusion::arrow::compute::cast(&column("file")?, &DataType::Utf8)?,
                    Arc::new(datafusion::arrow::array::Int64Array::from(vec![start as i64; n])),
                    column("line")?,
                    column("raw_line")?,
                    column("reason")?,
                ],
            )?);
        }
        Ok(filter_record_batch(&batch, &is_null(reason)?)?)
    }

    /// Closes the split just read.
    fn end_split(&mut self, file: &str, start: u64, lines: u64) {
        self.splits.push((
            file.to_string(),
            start as i64,
            lines as i64,
            std::mem::take(&mut self.records),
        ));
    }

    /// Writes this task's files, named by its first split.
    async fn write(self) -> Result<()> {
        let first = match (self.splits.first(), self.csv.first()) {
            (Some(s), _) => (s.0.as_str(), s.1 as u64),
            (None, Some(t)) => (t.file.as_str(), t.start),
            (None, None) => return Ok(()),
        };
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for b in first.0.bytes().chain(first.1.to_le_bytes()) {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        let name = format!("part-{hash:016x}.parquet");
        if !self.csv.is_empty() {
            return self.put(&format!("splits/{name}"), &csv_tally_batch(&self.csv)?).await;
        }
        let splits = RecordBatch::try_new(
            side_splits_schema(),
            vec![
                Arc::new(StringArray::from_iter_values(self.splits.iter().map(|s| s.0.as_str()))) as ArrayRef,
                Arc::new(datafusion::arrow::array::Int64Array::from_iter_values(
                    self.splits.iter().map(|s| s.1),
                )),
                Arc::new(datafusion::arrow::array::Int64Array::from_iter_values(
                    self.splits.iter().map(|s| s.2),
                )),
                Arc::new(datafusion::arrow::array::Int64Array::from_iter_values(
                    self.splits.iter().map(|s| s.3),
                )),
            ],
        )?;
        // Written even when empty, so the folder always holds the schema.
        let rejects = datafusion::arrow::compute::concat_batches(&side_rejects_schema(), &self.rejects)?;
        self.put(&format!("rejects/{name}"), &rejects).await?;
        // The splits file last: its presence says the rejects are complete.
        self.put(&format!("splits/{name}"), &splits).await
    }

    async fn put(&self, rel: &str, batch: &RecordBatch) -> Result<()> {
        let mut bytes = Vec::new();
        let mut writer = datafusion::parquet::arrow::ArrowWriter::try_new(&mut bytes, batch.schema(), None)?;
        writer.write(batch)?;
        writer.close()?;
        let path = Path::from(format!("{}/{rel}", self.dir.as_ref().trim_end_matches('/')));
        self.store
            .put(&path, bytes.into())
            .await
            .map_err(|e| exec_datafusion_err!("cannot write {path}: {e}"))?;
        Ok(())
    }
}

impl PartitionReader {
    async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if let Some(mut splits) = self.splits.take() {
            while let Some(batch) = splits.try_next().await? {
                self.ranges.extend(ranges_of(&batch)?);
            }
        }
        loop {
            if let Some(batch) = self.pending.pop_front() {
                return Ok(Some(batch));
            }
            let reader = match self.current.as_mut() {
                Some(r) => r,
                None => match self.ranges.pop_front() {
                    Some(range) => self.current.insert((
                        RangeReader::open(Arc::clone(&self.store), &self.spec, range.clone()).await?,
                        range,
                    )),
                    None => {
                        if let Some(side) = self.side.take() {
                            side.write().await?;
                        }
                        return Ok(None);
                    }
                },
            };
            let mut rows = Rows::new(&self.spec, file_url(&self.spec.store_url, &reader.1.path), self.last);
            let more = reader.0.next_chunk(&mut rows).await?;
            self.last = rows.capacity();
            let mut full = rows.finish()?;
            if let Some(tally) = reader.0.csv_tally() {
                if let (Some(side), false) = (self.side.as_mut(), more) {
                    side.csv.push(tally.clone());
                }
            } else if let Some(side) = self.side.as_mut() {
                full = side.split(full, reader.1.start)?;
                if !more {
                    side.end_split(
                        &file_url(&self.spec.store_url, &reader.1.path),
                        reader.1.start,
                        reader.0.lines(),
                    );
                }
            }
            if !more {
                self.current = None;
            }
            let batch = match &self.projection {
                Some(p) => full.project(p)?,
                None => full,
            };
            debug_assert_eq!(batch.schema().fields().len(), self.schema.fields().len());
            for (offset, len) in even_slices(batch.num_rows(), self.batch_size) {
                self.pending.push_back(batch.slice(offset, len));
            }
        }
    }
}

/// The `(offset, len)` pieces a chunk of `rows` rows is handed out in:
/// as few as `batch_size` allows, of equal size (give or take a row), so
/// that no piece of a chunk of at least half a batch is under half a
/// batch. DataFusion's batch coalescer (on the output of a hash join, a
/// filter or a repartition) passes a batch of more than half its target through as
/// it is when it holds nothing, and copies anything smaller into the
/// batches it builds, and every batch after it while it holds a
/// remainder: cut into `batch_size` pieces and a short last one, every
/// chunk's rows were copied once more by stage 01's join with the movie
/// ids.
fn even_slices(rows: usize, batch_size: usize) -> impl Iterator<Item = (usize, usize)> {
    let pieces = rows.div_ceil(batch_size.max(1));
    (0..pieces).map(move |i| {
        let start = i * rows / pieces;
        (start, (i + 1) * rows / pieces - start)
    })
}

/// The rows of one chunk, as Arrow builders over the full schema.
struct Rows {
    kind: FileKind,
    filter: RowFilter,
    /// CSV: which columns of the full schema the scan outputs (the others
    /// are not built).
    wanted: Vec<bool>,
    columns: Vec<CsvColumn>,
    csv: Vec<CsvBuilder>,
    line_end: Int64Builder,
    movie_id: Int64Builder,
    customer_id: Int64Builder,
    rating: Int8Builder,
    date: Date32Builder,
    year: Int32Builder,
    title: StringBuilder,
    /// Every row of a chunk comes from the one file being read: its URL is
    /// kept once and repeated when the column is built.
    file: FileColumn,
    line: Int64Builder,
    raw_line: StringBuilder,
    reason: StringBuilder,
    /// CSV records added (when no column is wanted, the count is all).
    rows: usize,
    /// Valid ratings since the last reject whose reject-side columns
    /// (`line`, `raw_line`, `reason`, and `file` when it is not wanted)
    /// are still owed their nulls: appended in one run before the next
    /// reject, or left to `finish` (see [`Rows::rating`]).
    owed_nulls: usize,
    /// CSV: valid records since the last reject whose `reason` is still
    /// owed its null (the same, for the one reject-side column every CSV
    /// row has a value or a null in: see [`Rows::csv_record`]).
    owed_reasons: usize,
    /// CSV, with `line` and `line_end` both wanted: every record so far was
    /// on one line, so `line_end` is `line` and is not built (see
    /// [`Rows::csv_record`]).
    line_end_is_line: bool,
}

/// How many rows (and bytes of raw lines) a chunk held.
#[derive(Debug, Clone, Copy, Default)]
struct Capacity {
    rows: usize,
    raw_bytes: usize,
}

impl Rows {
    /// The builders of a chunk of `file`, sized for `hint` (the previous
    /// chunk) where the kind of file fills them row by row.
    fn new(spec: &ScanSpec, file: String, hint: Capacity) -> Self {
        let full = full_schema(spec.kind, &spec.columns).fields().len();
        let wanted: Vec<bool> = match &spec.projection {
            Some(p) => (0..full).map(|i| p.contains(&i)).collect(),
            None => vec![true; full],
        };
        let (csv, ratings) = (spec.kind == FileKind::Csv, spec.kind == FileKind::Ratings);
        // Only the CSV reader builds lines and raw lines for every row.
        let n = spec.columns.len();
        let per_row = |on: bool| if on { hint.rows } else { 0 };
        let raw_line = match csv && wanted.get(n + 3) == Some(&true) {
            true => StringBuilder::with_capacity(hint.rows, hint.raw_bytes),
            false => StringBuilder::new(),
        };
        Self {
            kind: spec.kind,
            filter: spec.rows,
            csv: spec
                .columns
                .iter()
                .zip(&wanted)
                .map(|(c, &on)| CsvBuilder::new(c.kind, per_row(csv && on)))
                .collect(),
            line_end: Int64Builder::with_capacity(per_row(csv && wanted.get(n + 2) == Some(&true))),
            movie_id: Int64Builder::with_capacity(per_row(ratings)),
            customer_id: Int64Builder::with_capacity(per_row(ratings)),
            rating: Int8Builder::with_capacity(per_row(ratings)),
            date: Date32Builder::with_capacity(per_row(ratings)),
            year: Int32Builder::new(),
            title: StringBuilder::new(),
            file: FileColumn::new(file),
            line: Int64Builder::with_capacity(per_row(csv && wanted.get(n + 1) == Some(&true))),
            raw_line,
            reason: StringBuilder::new(),
            rows: 0,
            owed_nulls: 0,
            owed_reasons: 0,
            line_end_is_line: csv && wanted.get(n + 1) == Some(&true) && wanted.get(n + 2) == Some(&true),
            wanted,
            columns: spec.columns.clone(),
        }
    }

    /// What this chunk held, to size the next one's builders.
    fn capacity(&self) -> Capacity {
        let rows = self.rows.max(self.movie_id.values_slice().len()).max(self.file.len);
        Capacity {
            rows,
            raw_bytes: self.raw_line.values_slice().len(),
        }
    }

    /// A valid rating. Its `file` is built only when the scan outputs that
    /// column (the ledger counts ratings per file); its line number is
    /// never computed (it costs a count of the newlines before the range).
    /// With rejects in the same scan, its reject-side columns are null:
    /// owed, and appended as one run (four null appends per rating were
    /// about a twentieth of stage 07's ratings statement), or not at all when the
    /// chunk has no reject (`finish` makes those columns all null).
    fn rating(&mut self, r: &netflix::Rating) {
        self.movie_id.append_value(r.movie_id);
        self.customer_id.append_value(r.customer_id);
        self.rating.append_value(r.rating as i8);
        self.date.append_value(r.date);
        // The ratings schema: movie_id, customer_id, rating, date, file, …
        if self.wanted[4] {
            self.file.append_value();
        }
        if self.filter == RowFilter::All {
            self.owed_nulls += 1;
        }
    }

    /// Appends the nulls owed to the valid ratings so far (see [`Self::rating`]).
    fn pay_owed_nulls(&mut self) {
        let n = std::mem::take(&mut self.owed_nulls);
        if n == 0 {
            return;
        }
        if !self.wanted[4] {
            self.file.append_nulls(n);
        }
        self.line.append_nulls(n);
        self.raw_line.append_nulls(n);
        self.reason.append_nulls(n);
    }

    /// A title keeps its file, line and raw line even when valid (the
    /// titles are few; a later check such as a duplicate id can then
    /// reject it as it was read).
    fn title(&mut self, t: titles::Title, line: u64, raw: &str) {
        self.movie_id.append_value(t.movie_id);
        self.year.append_option(t.year);
        self.title.append_value(t.title);
        self.file.append_value();
        self.line.append_value(line as i64);
        self.raw_line.append_value(raw);
        if self.filter == RowFilter::All {
            self.reason.append_null();
        }
    }

    /// One CSV record: its fields (or none, for a reject), lines and raw
    /// text; only the wanted columns are built.
    fn csv_record(&mut self, record: &super::csv::RecordRef<'_>) {
        let n = self.columns.len();
        match record.outcome {
            Ok(spans) => {
                for (i, span) in spans.iter().enumerate() {
                    if self.wanted[i] {
                        self.csv[i].append(&record.field(*span));
                    }
                }
            }
            Err(_) => {
                for i in (0..n).filter(|&i| self.wanted[i]) {
                    self.csv[i].append_null();
                }
            }
        }
        if self.wanted[n] {
            self.file.append_value();
        }
        if self.wanted[n + 1] {
            self.line.append_value(record.line as i64);
        }
        // `line_end` is `line` until a record spans several lines (a quoted
        // field with a line break: a few titles or tags in a file, none in
        // the ratings); only then is it built, from `line` so far. An
        // append per row less, and the column shares `line`'s values.
        if self.wanted[n + 2] {
            if self.line_end_is_line && record.line_end != record.line {
                self.line_end_is_line = false;
                // `line` holds this record's line already.
                let before = self.line.len() - 1;
                self.line_end.append_slice(&self.line.values_slice()[..before]);
            }
            if !self.line_end_is_line {
                self.line_end.append_value(record.line_end as i64);
            }
        }
        if self.wanted[n + 3] {
            // Valid UTF-8 (every well-formed record) is appended as is,
            // without building a String per record.
            match record.text {
                Some(text) => self.raw_line.append_value(text),
                None => self.raw_line.append_value(crate::raw::raw_text(record.raw)),
            }
        }
        if self.wanted[n + 4] {
            match record.outcome {
                Ok(_) => self.owed_reasons += 1,
                Err(why) => {
                    self.reason.append_nulls(std::mem::take(&mut self.owed_reasons));
                    self.reason.append_value(why);
                }
            }
        }
    }

    fn reject(&mut self, line: u64, raw: &str, reason: &str) {
        self.pay_owed_nulls();
        if self.filter == RowFilter::All {
            self.movie_id.append_null();
            match self.kind {
                FileKind::Ratings => {
                    self.customer_id.append_null();
                    self.rating.append_null();
                    self.date.append_null();
                }
                FileKind::Titles => {
                    self.year.append_null();
                    self.title.append_null();
                }
                FileKind::Csv => {}
            }
        }
        self.file.append_value();
        self.line.append_value(line as i64);
        self.raw_line.append_value(raw);
        self.reason.append_value(reason);
    }

    /// The batch over the full schema; the columns a filter leaves empty
    /// are all null.
    fn finish(mut self) -> Result<RecordBatch> {
        // A chunk without a reject leaves its reject-side columns empty:
        // all null, below. (A reject gives `line` a value.)
        if !self.line.values_slice().is_empty() {
            self.pay_owed_nulls();
        }
        // Likewise the CSV reasons: all null when the chunk had no reject.
        if !self.reason.is_empty() {
            self.reason.append_nulls(std::mem::take(&mut self.owed_reasons));
        }
        let schema = full_schema(self.kind, &self.columns);
        let mut columns: Vec<ArrayRef> = match self.kind {
            FileKind::Ratings => vec![
                Arc::new(self.movie_id.finish()),
                Arc::new(self.customer_id.finish()),
                Arc::new(self.rating.finish()),
                Arc::new(self.date.finish()),
            ],
            FileKind::Titles => vec![
                Arc::new(self.movie_id.finish()),
                Arc::new(self.year.finish()),
                Arc::new(self.title.finish()),
            ],
            FileKind::Csv => self.csv.iter_mut().map(CsvBuilder::finish).collect(),
        };
        let line: ArrayRef = Arc::new(self.line.finish());
        columns.extend([self.file.finish()?, Arc::clone(&line)]);
        if self.kind == FileKind::Csv {
            columns.push(match self.line_end_is_line {
                true => line,
                false => Arc::new(self.line_end.finish()),
            });
        }
        columns.extend([
            Arc::new(self.raw_line.finish()) as ArrayRef,
            Arc::new(self.reason.finish()),
        ]);
        let rows = self.rows.max(columns.iter().map(|c| c.len()).max().unwrap_or(0));
        // Under a filter only one side was built; the other is all null.
        for (c, field) in columns.iter_mut().zip(schema.fields()) {
            if c.len() != rows {
                debug_assert_eq!(c.len(), 0);
                *c = datafusion::arrow::array::new_null_array(field.data_type(), rows);
            }
        }
        Ok(RecordBatch::try_new(schema, columns)?)
    }
}

/// The builder of one CSV column: text as is, a number through the
/// parser `TRY_CAST` uses (see [`CsvType`] and [`numbers`]).
enum CsvBuilder {
    Text(StringBuilder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float64(Float64Builder),
}

impl CsvBuilder {
    fn new(kind: CsvType, rows: usize) -> Self {
        match kind {
            CsvType::Text => Self::Text(StringBuilder::with_capacity(rows, 0)),
            CsvType::Int32 => Self::Int32(Int32Builder::with_capacity(rows)),
            CsvType::Int64 => Self::Int64(Int64Builder::with_capacity(rows)),
            CsvType::Float64 => Self::Float64(Float64Builder::with_capacity(rows)),
        }
    }

    fn append(&mut self, text: &str) {
        match self {
            Self::Text(b) => b.append_value(text),
            Self::Int32(b) => b.append_option(numbers::parse_i32(text)),
            Self::Int64(b) => b.append_option(numbers::parse_i64(text)),
            Self::Float64(b) => b.append_option(numbers::parse_f64(text)),
        }
    }

    fn append_null(&mut self) {
        match self {
            Self::Text(b) => b.append_null(),
            Self::Int32(b) => b.append_null(),
            Self::Int64(b) => b.append_null(),
            Self::Float64(b) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Self::Text(b) => Arc::new(b.finish()),
            Self::Int32(b) => Arc::new(b.finish()),
            Self::Int64(b) => Arc::new(b.finish()),
            Self::Float64(b) => Arc::new(b.finish()),
        }
    }
}

/// The `file` column of a chunk: one URL for every row that has it (null
/// for the others), as `Utf8View` views of a single copy (see `finish`).
struct FileColumn {
    url: String,
    nulls: datafusion::arrow::array::NullBufferBuilder,
    len: usize,
}

impl FileColumn {
    fn new(url: String) -> Self {
        Self {
            url,
            nulls: datafusion::arrow::array::NullBufferBuilder::new(0),
            len: 0,
        }
    }

    fn append_value(&mut self) {
        self.nulls.append_non_null();
        self.len += 1;
    }

    fn append_nulls(&mut self, n: usize) {
        self.nulls.append_n_nulls(n);
        self.len += n;
    }

    /// The column as views of one copy of the URL: a row costs 16 bytes
    /// instead of a copy of the URL, and so does every `take`, filter and
    /// coalesce of it downstream (a join of the ratings copies all their
    /// columns). Built by `take` from a one-row array, which copies views
    /// without validating each row's text again. 10M generated ratings,
    /// stage 01 with the URL left empty as the bound: 2.36 s -> 2.13 s,
    /// 0.45 s of CPU less.
    fn finish(&mut self) -> Result<ArrayRef> {
        let one = StringViewArray::from_iter_values([self.url.as_str()]);
        let indices = UInt32Array::new(vec![0u32; self.len].into(), self.nulls.finish());
        self.len = 0;
        Ok(datafusion::arrow::compute::take(&one, &indices, None)?)
    }
}

/// The URL a reject names: the store's URL and the object path.
fn file_url(store_url: &str, path: &str) -> String {
    let path = path.trim_start_matches('/');
    match store_url.ends_with('/') {
        true => format!("{store_url}{path}"),
        false => format!("{store_url}/{path}"),
    }
}

/// Reads one byte range.
enum RangeReader {
    Ratings(RatingsRange),
    Titles(TitlesFile),
    Csv(CsvFile),
}

impl RangeReader {
    async fn open(store: Arc<dyn ObjectStore>, spec: &ScanSpec, range: FileRange) -> Result<Self> {
        let file_url = file_url(&spec.store_url, &range.path);
        Ok(match spec.kind {
            FileKind::Ratings => Self::Ratings(RatingsRange::open(store, range, file_url, spec).await?),
            FileKind::Titles => Self::Titles(TitlesFile {
                store,
                range,
                file_url,
                encoding: spec.encoding,
                done: false,
            }),
            FileKind::Csv => Self::Csv(CsvFile::open(store, range, file_url, spec).await?),
        })
    }

    /// Adds the next chunk's rows; false when the range is finished.
    /// Lines read so far (ratings; 0 for the whole-file readers, which
    /// never set anything aside).
    fn lines(&self) -> u64 {
        match self {
            Self::Ratings(r) => r.lines,
            Self::Titles(_) | Self::Csv(_) => 0,
        }
    }

    /// What a CSV range held (after its last chunk).
    fn csv_tally(&self) -> Option<&CsvTally> {
        match self {
            Self::Csv(c) => Some(&c.tally),
            Self::Ratings(_) | Self::Titles(_) => None,
        }
    }

    async fn next_chunk(&mut self, rows: &mut Rows) -> Result<bool> {
        match self {
            Self::Ratings(r) => r.next_chunk(rows).await,
            Self::Titles(t) => t.read(rows).await,
            Self::Csv(c) => c.next_chunk(rows).await,
        }
    }
}

fn read_error(file_url: &str, e: object_store::Error) -> DataFusionError {
    exec_datafusion_err!("cannot read raw file {file_url}: {e}")
}

/// Bytes the raw scans of this process fetched, per file URL.
static BYTES_FETCHED: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<String, u64>>> =
    std::sync::LazyLock::new(Default::default);

/// Bytes fetched from `file_url` by the raw scans that ran in this process
/// (executor tasks included when the executor is in-process): how a test
/// tells that a stage read a file once.
pub fn raw_bytes_fetched(file_url: &str) -> u64 {
    BYTES_FETCHED
        .lock()
        .map_or(0, |m| m.get(file_url).copied().unwrap_or(0))
}

/// The bytes of `range`, as the store returned them (not copied here: the
/// Netflix readers parse them in place, the CSV reader appends them to its
/// own buffer, which keeps a record cut by the chunk's end).
async fn fetch(
    store: &dyn ObjectStore,
    path: &Path,
    file_url: &str,
    range: std::ops::Range<u64>,
) -> Result<bytes::Bytes> {
    let bytes = store
        .get_range(path, range)
        .await
        .map_err(|e| read_error(file_url, e))?;
    // One lock per read of up to 8 MiB: nothing next to parsing them.
    if let Ok(mut m) = BYTES_FETCHED.lock() {
        *m.entry(file_url.to_string()).or_default() += bytes.len() as u64;
    }
    Ok(bytes)
}

/// A ratings range being streamed.
struct RatingsRange {
    store: Arc<dyn ObjectStore>,
    path: Path,
    file_url: String,
    size: u64,
    end: u64,
    chunk: u64,
    /// Next byte to fetch.
    pos: u64,
    /// Start of the next line to parse.
    line_start: u64,
    /// Start of the range's first owned line.
    first_line: u64,
    /// The bytes of a line cut by a chunk boundary.
    leftover: Vec<u8>,
    movie: netflix::Header,
    /// Lines parsed so far in this range.
    lines: u64,
    /// The 1-based line number of `first_line`, once a reject needs it.
    base_line: Option<u64>,
    filter: RowFilter,
    done: bool,
}

impl RatingsRange {
    async fn open(store: Arc<dyn ObjectStore>, range: FileRange, file_url: String, spec: &ScanSpec) -> Result<Self> {
        let path = Path::from(range.path.as_str());
        let chunk = spec.chunk_bytes.max(1);
        let end = range.end.min(range.size);
        let first_line = first_owned_line(store.as_ref(), &path, &file_url, range.size, range.start, chunk).await?;
        let movie = if first_line < end {
            header_before(store.as_ref(), &path, &file_url, first_line, chunk).await?
        } else {
            netflix::Header::Before
        };
        Ok(Self {
            store,
            path,
            file_url,
            size: range.size,
            end,
            chunk,
            pos: first_line,
            line_start: first_line,
            first_line,
            leftover: Vec::new(),
            movie,
            lines: 0,
            // Set aside, rejects are numbered within the split (the file's
            // numbers come from every split's line count afterwards).
            base_line: (first_line == 0 || spec.side_outputs.is_some()).then_some(1),
            filter: spec.rows,
            done: first_line >= end,
        })
    }

    async fn next_chunk(&mut self, rows: &mut Rows) -> Result<bool> {
        if self.done {
            return Ok(false);
        }
        // Past the range only the end of its last line is still needed.
        let want = if self.pos < self.end {
            self.chunk.min(self.end - self.pos)
        } else {
            self.chunk.min(4096)
        };
        let upto = self.size.min(self.pos + want);
        let bytes = fetch(self.store.as_ref(), &self.path, &self.file_url, self.pos..upto).await?;
        self.pos = upto;
        let eof = self.pos >= self.size;
        let mut bad: Vec<(u64, String, String)> = Vec::new();
        let mut rest: &[u8] = &bytes;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            let (line, tail) = rest.split_at(i + 1);
            rest = tail;
            let whole;
            let line = if self.leftover.is_empty() {
                line
            } else {
                self.leftover.extend_from_slice(line);
                whole = std::mem::take(&mut self.leftover);
                &whole[..]
            };
            if !self.line(line, rows, &mut bad) {
                self.done = true;
                break;
            }
        }
        if !self.done {
            self.leftover.extend_from_slice(rest);
            if eof {
                let last = std::mem::take(&mut self.leftover);
                if !last.is_empty() {
                    self.line(&last, rows, &mut bad);
                }
                self.done = true;
            }
        }
        if !bad.is_empty() {
            let base = match self.base_line {
                Some(b) => b,
                None => {
                    let before = count_newlines(
                        self.store.as_ref(),
                        &self.path,
                        &self.file_url,
                        self.first_line,
                        self.chunk,
                    )
                    .await?;
                    *self.base_line.insert(before + 1)
                }
            };
            for (index, raw, reason) in bad {
                rows.reject(base + index, &raw, &reason);
            }
        }
        Ok(!self.done)
    }

    /// Parses the line starting at `line_start`; false when that line is
    /// past the range (and so belongs to the next split).
    fn line(&mut self, line: &[u8], rows: &mut Rows, bad: &mut Vec<(u64, String, String)>) -> bool {
        if self.line_start >= self.end {
            return false;
        }
        self.line_start += line.len() as u64;
        let index = self.lines;
        self.lines += 1;
        let text = netflix::trim_eol(line);
        match netflix::parse_line(text, &mut self.movie) {
            LineKind::Skip => {}
            LineKind::Rating(r) => {
                if self.filter.valid() {
                    rows.rating(&r);
                }
            }
            LineKind::Bad(reason) => {
                if self.filter.rejects() {
                    bad.push((index, crate::raw::raw_text(line), reason));
                }
            }
        }
        true
    }
}

/// The start of the first line a split beginning at `start` owns.
async fn first_owned_line(
    store: &dyn ObjectStore,
    path: &Path,
    file_url: &str,
    size: u64,
    start: u64,
    chunk: u64,
) -> Result<u64> {
    if start == 0 {
        return Ok(0);
    }
    let mut pos = start - 1;
    while pos < size {
        let upto = size.min(pos + chunk.min(64 << 10));
        let bytes = fetch(store, path, file_url, pos..upto).await?;
        if let Some(i) = bytes.iter().position(|&b| b == b'\n') {
            return Ok(pos + i as u64 + 1);
        }
        pos = upto;
    }
    Ok(size)
}

/// The header in force at line start `line` (the nearest header-like line
/// before it, valid or malformed), reading backwards in growing steps.
/// Only lines whose start is known (after a newline inside what was read,
/// or at byte 0) are considered, so a header cut by a read boundary is
/// never misread.
async fn header_before(
    store: &dyn ObjectStore,
    path: &Path,
    file_url: &str,
    line: u64,
    chunk: u64,
) -> Result<netflix::Header> {
    let mut lo = line;
    let mut step = chunk.min(64 << 10);
    let mut buf: Vec<u8> = Vec::new();
    while lo > 0 {
        let from = lo.saturating_sub(step);
        let mut read = fetch(store, path, file_url, from..lo).await?.to_vec();
        read.extend_from_slice(&buf);
        buf = read;
        lo = from;
        step = step.saturating_mul(2);
        let known = if lo == 0 {
            Some(0)
        } else {
            buf.iter().position(|&b| b == b'\n').map(|i| i + 1)
        };
        if let Some(known) = known {
            match netflix::header_before(&buf[known..], buf.len() - known) {
                netflix::Header::Before if lo > 0 => {}
                found => return Ok(found),
            }
        }
    }
    Ok(netflix::Header::Before)
}

/// Newlines in `[0, upto)`: the line number of a reject needs them.
async fn count_newlines(store: &dyn ObjectStore, path: &Path, file_url: &str, upto: u64, chunk: u64) -> Result<u64> {
    let step = chunk.max(1 << 20);
    let mut count = 0u64;
    let mut pos = 0;
    while pos < upto {
        let to = upto.min(pos + step);
        let bytes = fetch(store, path, file_url, pos..to).await?;
        count += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
        pos = to;
    }
    Ok(count)
}

/// A titles file, read whole (the real one is 577 KB).
struct TitlesFile {
    store: Arc<dyn ObjectStore>,
    range: FileRange,
    file_url: String,
    encoding: Encoding,
    done: bool,
}

impl TitlesFile {
    async fn read(&mut self, rows: &mut Rows) -> Result<bool> {
        if self.done {
            return Ok(false);
        }
        self.done = true;
        let path = Path::from(self.range.path.as_str());
        let data = fetch(self.store.as_ref(), &path, &self.file_url, 0..self.range.size).await?;
        // A byte order mark says UTF-8; it is not part of the first title.
        let (data, encoding) = match data.strip_prefix(crate::raw::UTF8_BOM) {
            Some(rest) if self.encoding != Encoding::Latin1 => (rest, Encoding::Utf8),
            _ => (&data[..], self.encoding.resolve(&data)),
        };
        for (index, line) in data.split_inclusive(|&b| b == b'\n').enumerate() {
            let text = netflix::trim_eol(line);
            // Latin-1 maps every byte to one character, so the decoded line
            // is the raw line.
            let raw = || match encoding {
                Encoding::Utf8 => crate::raw::raw_text(line),
                Encoding::Latin1 | Encoding::Auto => line.iter().map(|&b| char::from(b)).collect(),
            };
            match titles::parse_title_line(text, encoding) {
                TitleLine::Skip => {}
                TitleLine::Title(t) => {
                    if rows.filter.valid() {
                        rows.title(t, index as u64 + 1, &raw());
                    }
                }
                TitleLine::Bad(reason) => {
                    if rows.filter.rejects() {
                        rows.reject(index as u64 + 1, &raw(), &reason);
                    }
                }
            }
        }
        Ok(false)
    }
}

/// A CSV byte range being streamed: the records that start in
/// `[sync(start), sync(end))` (see [`super::csv::sync_point`]), which are
/// exactly the records the whole-file reader reads there.
struct CsvFile {
    store: Arc<dyn ObjectStore>,
    path: Path,
    file_url: String,
    chunk: u64,
    /// Next byte to fetch.
    pos: u64,
    /// One past the range's last byte: the sync point of its end.
    stop: u64,
    reader: super::csv::CsvReader,
    columns: Vec<CsvColumn>,
    /// The file's first record has not been seen yet (it may be the
    /// header): only a range that starts the file has it.
    first: bool,
    done: bool,
    /// What the range held, for the ledger (see [`CsvTally`]).
    tally: CsvTally,
}

/// The counts of one CSV range that the ledger checks: its physical lines
/// (newlines counted in the bytes, apart from the record reader), the
/// records read (the header aside), the lines they cover and the first
/// record's line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CsvTally {
    /// The file's URL.
    pub file: String,
    /// First byte of the range as planned.
    pub start: u64,
    /// Physical lines in the range.
    pub lines: u64,
    /// Records read, the header aside.
    pub records: u64,
    /// Lines the records cover (`line_end - line + 1`, summed).
    pub covered: u64,
    /// Line of the first record (the header aside).
    pub first_line: Option<u64>,
}

/// Bytes read on each side of a split point when looking for where a CSV
/// range starts (doubled until the lines around it decide).
const SYNC_WINDOW: u64 = 64 << 10;

/// The sync point of `at` in a CSV file (see [`super::csv::sync_point`]).
async fn csv_sync(
    store: &dyn ObjectStore,
    path: &Path,
    file_url: &str,
    size: u64,
    at: u64,
    max_record_lines: u64,
) -> Result<u64> {
    if at == 0 || at >= size {
        return Ok(at.min(size));
    }
    let mut half = SYNC_WINDOW;
    loop {
        let lo = at.saturating_sub(half);
        let hi = at.saturating_add(half).min(size);
        let window = fetch(store, path, file_url, lo..hi).await?;
        if let Some(p) = super::csv::sync_point(&window, lo, at, size, max_record_lines) {
            return Ok(p);
        }
        if lo == 0 && hi == size {
            return internal_err!("no sync point in the whole of {file_url}");
        }
        half = half.saturating_mul(2);
    }
}

impl CsvFile {
    async fn open(store: Arc<dyn ObjectStore>, range: FileRange, file_url: String, spec: &ScanSpec) -> Result<Self> {
        let (max_record_lines, max_record_bytes) = spec.csv_bounds;
        let path = Path::from(range.path.as_str());
        let sync = |at: u64| csv_sync(store.as_ref(), &path, &file_url, range.size, at, max_record_lines);
        let first = sync(range.start).await?;
        let stop = match range.end >= range.size {
            true => range.size,
            false => sync(range.end).await?,
        };
        let chunk = spec.chunk_bytes.max(1);
        // Line numbers count the newlines before the range: bytes read
        // once more, by the ranges after a file's first only.
        let mut before = 0;
        let mut at = 0;
        while at < first.min(stop) {
            let upto = first.min(at + chunk);
            before += super::csv::count_newlines(&fetch(store.as_ref(), &path, &file_url, at..upto).await?);
            at = upto;
        }
        Ok(Self {
            reader: super::csv::CsvReader::starting_at_line(
                super::csv::Limits {
                    fields: spec.columns.len(),
                    max_record_lines,
                    max_record_bytes,
                },
                before + 1,
            ),
            tally: CsvTally {
                file: file_url.clone(),
                start: range.start,
                ..Default::default()
            },
            store,
            path,
            file_url,
            chunk,
            pos: first,
            stop,
            columns: spec.columns.clone(),
            first: first == 0,
            done: first >= stop,
        })
    }

    async fn next_chunk(&mut self, rows: &mut Rows) -> Result<bool> {
        if self.done {
            return Ok(false);
        }
        let upto = self.stop.min(self.pos + self.chunk);
        let bytes = fetch(self.store.as_ref(), &self.path, &self.file_url, self.pos..upto).await?;
        self.tally.lines += super::csv::count_newlines(&bytes);
        if upto == self.stop && !bytes.is_empty() && bytes.last() != Some(&b'\n') {
            // The file's last line has no line ending.
            self.tally.lines += 1;
        }
        // A byte order mark is not part of the first field.
        let bytes = match bytes.strip_prefix(crate::raw::UTF8_BOM) {
            Some(rest) if self.pos == 0 => rest,
            _ => &bytes[..],
        };
        self.pos = upto;
        self.reader.feed(bytes);
        if self.pos >= self.stop {
            // The range ends at a record boundary: the end of its last record.
            self.reader.finish();
            self.done = true;
        }
        while let Some(record) = self.reader.next_record_ref() {
            if std::mem::take(&mut self.first) && is_header(&record, &self.columns) {
                continue;
            }
            self.tally.records += 1;
            self.tally.covered += record.line_end - record.line + 1;
            self.tally.first_line.get_or_insert(record.line);
            // A pushed-down `reason IS [NOT] NULL`.
            let valid = record.outcome.is_ok();
            if (valid && !rows.filter.valid()) || (!valid && !rows.filter.rejects()) {
                continue;
            }
            rows.csv_record(&record);
            rows.rows += 1;
        }
        Ok(!self.done)
    }
}

/// The header is detected, not assumed: the first record is the header
/// when its fields are the declared column names (case and surrounding
/// blanks aside); otherwise it is data like every other record.
fn is_header(record: &super::csv::RecordRef<'_>, columns: &[CsvColumn]) -> bool {
    match record.outcome {
        Ok(spans) => {
            spans.len() == columns.len()
                && spans
                    .iter()
                    .zip(columns)
                    .all(|(s, c)| record.field(*s).trim().eq_ignore_ascii_case(&c.name))
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod file_column_tests {
    use super::*;

    #[test]
    fn the_file_column_repeats_its_url_where_rows_have_it() {
        // Short URLs are held inside each view, longer ones in a buffer.
        for url in ["s3://b/a.csv", "file:///r/movielens/ratings.csv"] {
            let mut c = FileColumn::new(url.to_string());
            c.append_value();
            c.append_nulls(2);
            c.append_value();
            let built = c.finish().expect("a column");
            let want: ArrayRef = Arc::new(StringViewArray::from(vec![Some(url), None, None, Some(url)]));
            assert_eq!(&built, &want);
            // Finished, it starts again empty.
            assert_eq!(c.finish().expect("a column").len(), 0);
        }
    }

    /// A long URL on many rows is held once: a chunk of very short lines
    /// with a very long file name is a column of views, not gigabytes of
    /// copies (a `Utf8` column of them stopped at 2 GiB).
    #[test]
    fn a_long_url_on_many_rows_is_held_once() {
        let url = format!("file:///r/{}", "x".repeat(1 << 20));
        let mut c = FileColumn::new(url.clone());
        for _ in 0..4096 {
            c.append_value();
        }
        let built = c.finish().expect("a column");
        let views = built.as_string_view();
        assert_eq!(built.len(), 4096);
        assert!(views.iter().all(|v| v == Some(url.as_str())));
        assert!(
            built.get_array_memory_size() < 2 << 20,
            "{} bytes",
            built.get_array_memory_size()
        );
    }
}

#[cfg(test)]
mod slicing_tests {
    use super::even_slices;

    #[test]
    fn a_chunk_is_cut_into_few_pieces_of_at_least_half_a_batch() {
        for batch_size in [1, 2, 7, 8192] {
            for rows in [0, 1, 2, 3, 4095, 4096, 4097, 8191, 8192, 8193, 12_288, 16_385, 150_001] {
                let pieces: Vec<(usize, usize)> = even_slices(rows, batch_size).collect();
                // Contiguous, covering every row once.
                let mut next = 0;
                for &(offset, len) in &pieces {
                    assert_eq!(offset, next, "{rows} rows, batch {batch_size}: {pieces:?}");
                    assert!(
                        len >= 1 && len <= batch_size,
                        "{rows} rows, batch {batch_size}: {pieces:?}"
                    );
                    next += len;
                }
                assert_eq!(next, rows);
                assert_eq!(pieces.len(), rows.div_ceil(batch_size));
                // None under half a batch (unless the whole chunk is).
                if 2 * rows >= batch_size {
                    assert!(
                        pieces.iter().all(|&(_, len)| 2 * len >= batch_size),
                        "{rows} rows, batch {batch_size}: {pieces:?}"
                    );
                }
            }
        }
    }
}
