//! The raw tables in SQL:
//!
//! ```sql
//! CREATE EXTERNAL TABLE nf_raw STORED AS NETFLIX_RATINGS
//! LOCATION '${root}/raw/netflix_prize/combined_data_*.txt';
//! CREATE EXTERNAL TABLE nf_titles STORED AS NETFLIX_TITLES
//! LOCATION '${root}/raw/netflix_prize/movie_titles.csv';
//! CREATE EXTERNAL TABLE raw_ratings ("userId" VARCHAR, "movieId" VARCHAR, rating VARCHAR, "timestamp" VARCHAR)
//! STORED AS MOODFLOW_CSV LOCATION '${root}/raw/movielens/ratings.csv';
//! ```
//!
//! The location is a file, a folder (every file directly in it) or a file
//! pattern with `*` and `?` in its last segment, on any object store.
//! Options: `partitions` (byte-range splits of the ratings; `auto` or `0`,
//! the default, is `datafusion.execution.target_partitions` splits of at
//! least `datafusion.optimizer.repartition_file_min_size` bytes), `encoding` (titles: `auto`, `latin1`, `utf8`), `chunk_bytes`
//! (bytes per read), `optional` (no file is an empty table),
//! `side_outputs` (Netflix ratings: a folder where a scan of the valid
//! rows writes its rejects and each split's line and record counts, so one
//! read of the files gives rows, rejects and the ledger; CSV: a folder
//! where every scan writes each range's counts for the ledger; see
//! [`super::exec::ScanSpec::side_outputs`]) and, for CSV,
//! `max_record_lines` / `max_record_bytes` (see [`super::csv`]). Netflix
//! ratings and CSV files are cut into byte ranges alike (`partitions`); a
//! CSV range starts at a line that provably starts a record
//! ([`super::csv::sync_point`]), so a quoted field with line breaks is
//! never cut.
//!
//! The table is planned on the Ballista scheduler (files listed, splits
//! cut) and travels there through [`crate::codec::MoodflowLogicalCodec`].

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider, TableProviderFactory};
use datafusion::common::{plan_datafusion_err, plan_err, Column, Result};
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::logical_expr::{CreateExternalTable, Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};

use super::exec::{
    full_schema, splits_source, CsvColumn, CsvType, FileKind, FileRange, RawScanExec, RowFilter, ScanSpec,
    DEFAULT_CHUNK_BYTES,
};
use super::titles::Encoding;

/// What a raw table is: everything needed to plan its scan anywhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableSpec {
    /// Ratings or titles.
    pub kind: FileKind,
    /// Files, folders or patterns (one or more, all on one store).
    pub locations: Vec<String>,
    /// Byte-range splits of the ratings, when given.
    pub partitions: Option<usize>,
    /// How titles are decoded.
    pub encoding: Encoding,
    /// Bytes per read.
    pub chunk_bytes: u64,
    /// A location that names no file is an empty table, not an error (an
    /// optional input such as the catalogue).
    #[serde(default)]
    pub optional: bool,
    /// CSV: the declared columns.
    #[serde(default)]
    pub columns: Vec<CsvColumn>,
    /// CSV: lines and bytes one record may span.
    #[serde(default = "super::exec::default_csv_bounds")]
    pub csv_bounds: (u64, usize),
    /// Netflix ratings: where a scan of the valid rows sets aside what it
    /// does not emit (see [`super::exec::ScanSpec::side_outputs`]).
    #[serde(default)]
    pub side_outputs: Option<String>,
}

impl TableSpec {
    /// A spec with the default options.
    pub fn new(kind: FileKind, locations: Vec<String>) -> Self {
        Self {
            kind,
            locations,
            partitions: None,
            encoding: Encoding::Auto,
            chunk_bytes: DEFAULT_CHUNK_BYTES,
            optional: false,
            columns: Vec::new(),
            csv_bounds: super::exec::default_csv_bounds(),
            side_outputs: None,
        }
    }
}

/// A table of raw files (Netflix Prize ratings or titles, MovieLens CSV).
#[derive(Debug)]
pub struct RawTable {
    spec: TableSpec,
    schema: SchemaRef,
}

impl RawTable {
    /// The table of `spec`.
    pub fn new(spec: TableSpec) -> Self {
        let schema = full_schema(spec.kind, &spec.columns);
        Self { spec, schema }
    }

    /// What the table reads.
    pub fn spec(&self) -> &TableSpec {
        &self.spec
    }
}

/// `reason IS NULL` / `reason IS NOT NULL`, the filters the scan applies
/// itself (so a job that writes rows and rejects apart parses no more
/// columns than it keeps).
fn row_filter(expr: &Expr) -> Option<RowFilter> {
    let is_reason = |e: &Expr| matches!(e, Expr::Column(Column { name, .. }) if name == "reason");
    match expr {
        Expr::IsNull(e) if is_reason(e) => Some(RowFilter::Valid),
        Expr::IsNotNull(e) if is_reason(e) => Some(RowFilter::Rejects),
        _ => None,
    }
}

#[async_trait]
impl TableProvider for RawTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| match row_filter(f) {
                Some(_) => TableProviderFilterPushDown::Exact,
                None => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut rows = RowFilter::All;
        for f in filters.iter().filter_map(row_filter) {
            rows = match (rows, f) {
                (RowFilter::All, f) => f,
                (a, b) if a == b => a,
                // `reason IS NULL AND reason IS NOT NULL`: nothing.
                _ => {
                    return Ok(Arc::new(datafusion::physical_plan::empty::EmptyExec::new(
                        self.projected(projection)?,
                    )))
                }
            };
        }
        let mut store_url = None;
        let mut files = Vec::new();
        for location in &self.spec.locations {
            let (url, found) = list_files(state, location).await?;
            if store_url.as_ref().is_some_and(|u| u != &url) {
                return plan_err!("the locations of a raw table must be on one store: {url} and {store_url:?}");
            }
            store_url = Some(url);
            files.extend(found);
        }
        files.sort();
        files.dedup();
        let Some(store_url) = store_url else {
            return plan_err!("a raw table needs a LOCATION");
        };
        if files.is_empty() {
            if self.spec.optional {
                return Ok(Arc::new(datafusion::physical_plan::empty::EmptyExec::new(
                    self.projected(projection)?,
                )));
            }
            let what = match self.spec.kind {
                FileKind::Ratings | FileKind::Titles => "Netflix Prize files match",
                FileKind::Csv => "file matches",
            };
            return plan_err!("no {what} {}", self.spec.locations.join(", "));
        }
        let partitions = match self.spec.kind {
            FileKind::Titles => vec![files.iter().map(|(path, size)| whole(path, *size)).collect()],
            FileKind::Csv | FileKind::Ratings => {
                let options = state.config_options();
                let (count, min_bytes) = match self.spec.partitions {
                    Some(n) => (n, 1),
                    None => (
                        options.execution.target_partitions,
                        options.optimizer.repartition_file_min_size as u64,
                    ),
                };
                let splits = plan_splits(&files, count, min_bytes);
                match splits.is_empty() && self.spec.kind == FileKind::Csv {
                    // Empty files only: one partition that reads them (a
                    // stage without partitions never finishes on Ballista).
                    true => vec![files.iter().map(|(path, size)| whole(path, *size)).collect()],
                    false => splits,
                }
            }
        };
        Ok(Arc::new(RawScanExec::try_new(
            ScanSpec {
                kind: self.spec.kind,
                store_url,
                projection: projection.cloned(),
                rows,
                encoding: self.spec.encoding,
                chunk_bytes: self.spec.chunk_bytes,
                columns: self.spec.columns.clone(),
                csv_bounds: self.spec.csv_bounds,
                // Only a scan of the valid ratings has something to set
                // aside; every CSV scan counts what it read.
                side_outputs: self
                    .spec
                    .side_outputs
                    .clone()
                    .filter(|_| rows == RowFilter::Valid || self.spec.kind == FileKind::Csv),
            },
            splits_source(&partitions)?,
        )?))
    }
}

impl RawTable {
    fn projected(&self, projection: Option<&Vec<usize>>) -> Result<SchemaRef> {
        Ok(match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => Arc::clone(&self.schema),
        })
    }
}

fn whole(path: &str, size: u64) -> FileRange {
    FileRange {
        path: path.to_string(),
        size,
        start: 0,
        end: size,
    }
}

/// The option naming a raw table's `side_outputs` folder.
pub const SIDE_OUTPUTS_OPTION: &str = "side_outputs";

/// True when `key` (as the SQL parser gives an option, perhaps
/// `format.`-prefixed) is [`SIDE_OUTPUTS_OPTION`].
pub fn is_side_outputs_option(key: &str) -> bool {
    key.strip_prefix("format.").unwrap_or(key) == SIDE_OUTPUTS_OPTION
}

/// Cuts `files` (in order) into at most about `count` partitions of equal
/// bytes, none smaller than `min_bytes` (the last may be); a partition may
/// span the end of one file and the start of the next.
pub fn plan_splits(files: &[(String, u64)], count: usize, min_bytes: u64) -> Vec<Vec<FileRange>> {
    let total: u64 = files.iter().map(|(_, s)| s).sum();
    let per = total.div_ceil(count.max(1) as u64).max(min_bytes).max(1);
    let mut partitions: Vec<Vec<FileRange>> = Vec::new();
    let mut current: Vec<FileRange> = Vec::new();
    let mut room = per;
    for (path, size) in files {
        let mut start = 0;
        if *size == 0 {
            continue;
        }
        while start < *size {
            let take = room.min(size - start);
            current.push(FileRange {
                path: path.clone(),
                size: *size,
                start,
                end: start + take,
            });
            start += take;
            room -= take;
            if room == 0 {
                partitions.push(std::mem::take(&mut current));
                room = per;
            }
        }
    }
    if !current.is_empty() {
        partitions.push(current);
    }
    partitions
}

/// True when `name` matches `pattern` (`*` any run, `?` one character).
fn wildcard(pattern: &[char], name: &[char]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some('*'), _) => wildcard(&pattern[1..], name) || (!name.is_empty() && wildcard(pattern, &name[1..])),
        (Some('?'), Some(_)) => wildcard(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => wildcard(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// The store URL and the `(path, size)` of every file the location names,
/// sorted by path (none when nothing matches).
pub async fn list_files(state: &dyn Session, location: &str) -> Result<(String, Vec<(String, u64)>)> {
    let (base, pattern) = match location.rsplit_once('/') {
        Some((dir, last)) if last.contains(['*', '?']) => (format!("{dir}/"), Some(last.chars().collect::<Vec<_>>())),
        _ => (location.to_string(), None),
    };
    let url = ListingTableUrl::parse(&base)?;
    let store_url = url.object_store();
    let store = state.runtime_env().object_store(&store_url)?;
    let prefix = url.prefix().clone();
    let mut files: Vec<(String, u64)> = if pattern.is_some() || url.is_collection() {
        let listed: Vec<_> = match store.list(Some(&prefix)).try_collect().await {
            Ok(listed) => listed,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return plan_err!("cannot list {location}: {e}"),
        };
        listed
            .into_iter()
            .filter(|meta| {
                let Some(name) = direct_child(&prefix, &meta.location) else {
                    return false;
                };
                let chars: Vec<char> = name.chars().collect();
                match &pattern {
                    Some(p) => wildcard(p, &chars),
                    None => !name.starts_with(['.', '_']),
                }
            })
            .map(|meta| (meta.location.to_string(), meta.size))
            .collect()
    } else {
        match store.head(&prefix).await {
            Ok(meta) => vec![(meta.location.to_string(), meta.size)],
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return plan_err!("cannot read {location}: {e}"),
        }
    };
    files.sort();
    Ok((store_url.as_str().to_string(), files))
}

/// The name of `path` when it is directly inside `dir`.
fn direct_child<'a>(dir: &Path, path: &'a Path) -> Option<&'a str> {
    let rest = path.as_ref().strip_prefix(dir.as_ref())?;
    let rest = if dir.as_ref().is_empty() {
        rest
    } else {
        rest.strip_prefix('/')?
    };
    (!rest.is_empty() && !rest.contains('/')).then_some(rest)
}

/// `STORED AS NETFLIX_RATINGS` / `NETFLIX_TITLES` / `MOODFLOW_CSV`.
#[derive(Debug)]
pub struct RawTableFactory {
    kind: FileKind,
}

impl RawTableFactory {
    /// The factory of one kind of table.
    pub fn new(kind: FileKind) -> Self {
        Self { kind }
    }
}

#[async_trait]
impl TableProviderFactory for RawTableFactory {
    async fn create(&self, _state: &dyn Session, cmd: &CreateExternalTable) -> Result<Arc<dyn TableProvider>> {
        let mut spec = TableSpec::new(self.kind, cmd.locations.clone());
        if self.kind == FileKind::Csv {
            if cmd.schema.fields().is_empty() {
                return plan_err!("{}: a MOODFLOW_CSV table needs its column list", cmd.name);
            }
            for f in cmd.schema.fields() {
                let Some(kind) = CsvType::of(f.data_type()) else {
                    return plan_err!(
                        "{}: column {} is {}; a MOODFLOW_CSV column is VARCHAR, INT, BIGINT or DOUBLE (a number that does not parse is NULL, as TRY_CAST gives it, for the job's checks to reject)",
                        cmd.name,
                        f.name(),
                        f.data_type()
                    );
                };
                spec.columns.push(CsvColumn {
                    name: f.name().clone(),
                    kind,
                });
            }
        } else if !cmd.schema.fields().is_empty() {
            return plan_err!(
                "{}: a Netflix table has a fixed schema ({}); leave out the column list",
                cmd.name,
                full_schema(self.kind, &[])
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        for (key, value) in &cmd.options {
            let bad = || plan_datafusion_err!("{}: option {key} = '{value}' is not valid", cmd.name);
            match key.strip_prefix("format.").unwrap_or(key) {
                // 0 (or `auto`): from the session's target partitions.
                "partitions" => {
                    spec.partitions = match value.as_str() {
                        "auto" | "0" => None,
                        v => Some(v.parse().ok().filter(|&n: &usize| n > 0).ok_or_else(bad)?),
                    }
                }
                "encoding" => spec.encoding = Encoding::parse(value).ok_or_else(bad)?,
                "chunk_bytes" => spec.chunk_bytes = value.parse().ok().filter(|&n: &u64| n > 0).ok_or_else(bad)?,
                "optional" => spec.optional = value.parse().map_err(|_| bad())?,
                "max_record_lines" if self.kind == FileKind::Csv => {
                    spec.csv_bounds.0 = value.parse().ok().filter(|&n: &u64| n > 0).ok_or_else(bad)?
                }
                "max_record_bytes" if self.kind == FileKind::Csv => {
                    spec.csv_bounds.1 = value.parse().ok().filter(|&n: &usize| n > 0).ok_or_else(bad)?
                }
                SIDE_OUTPUTS_OPTION if self.kind != FileKind::Titles => {
                    ListingTableUrl::parse(value).map_err(|_| bad())?;
                    spec.side_outputs = Some(format!("{}/", value.trim_end_matches('/')));
                }
                _ => {
                    return plan_err!(
                        "{}: unknown option {key} (raw tables take chunk_bytes and optional; Netflix tables also partitions, encoding; NETFLIX_RATINGS also side_outputs; MOODFLOW_CSV tables also partitions, side_outputs, max_record_lines, max_record_bytes)",
                        cmd.name
                    )
                }
            }
        }
        Ok(Arc::new(RawTable::new(spec)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_cover_every_byte_once() {
        let files = vec![("a".to_string(), 10), ("b".to_string(), 0), ("c".to_string(), 7)];
        for count in 1..=20 {
            let parts = plan_splits(&files, count, 1);
            assert!(parts.len() <= count, "{count}: {}", parts.len());
            let mut covered: Vec<(String, u64)> = Vec::new();
            for r in parts.iter().flatten() {
                covered.extend((r.start..r.end).map(|b| (r.path.clone(), b)));
            }
            let expected: Vec<(String, u64)> = (0..10)
                .map(|b| ("a".to_string(), b))
                .chain((0..7).map(|b| ("c".to_string(), b)))
                .collect();
            assert_eq!(covered, expected, "{count}");
        }
        assert_eq!(plan_splits(&files, 16, 100).len(), 1, "min bytes per split");
    }

    #[test]
    fn wildcards() {
        let m = |p: &str, n: &str| wildcard(&p.chars().collect::<Vec<_>>(), &n.chars().collect::<Vec<_>>());
        assert!(m("combined_data_*.txt", "combined_data_1.txt"));
        assert!(!m("combined_data_*.txt", "combined_data_1.txt.bak"));
        assert!(m("movie_titles.???", "movie_titles.csv"));
        assert!(!m("movie_titles.???", "movie_titles.json"));
    }

    #[test]
    fn only_reason_null_tests_are_pushed_down() {
        use datafusion::prelude::{col, lit};
        assert_eq!(row_filter(&col("reason").is_null()), Some(RowFilter::Valid));
        assert_eq!(row_filter(&col("reason").is_not_null()), Some(RowFilter::Rejects));
        assert_eq!(row_filter(&col("movie_id").is_null()), None);
        assert_eq!(row_filter(&col("reason").eq(lit("x"))), None);
    }
}
