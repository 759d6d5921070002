//! The ledger of the ingest stages: every raw record read is written or
//! rejected, per raw file, as a rule checked after every run of stages 01,
//! 02 and 07 (before their tables are committed) and again by the stage 11
//! checks (`moodflow verify`, and the end of `moodflow run`, which takes
//! each file's records read from the account its stages just took instead
//! of reading the raw files a second time).
//!
//! A job declares which raw table feeds which table (`-- @ledger raw_ratings
//! -> movielens_ratings required`). The ledger then counts, independently
//! of the job's own SQL:
//!
//! - **read**: the records the raw table gives per file (valid and
//!   malformed alike), counted by a query of its own over the same
//!   `CREATE EXTERNAL TABLE`, or, when that table has `side_outputs`
//!   (stage 07's ratings, the CSV files of stages 01 and 02) and the job's scan left
//!   its split counts there, the sum of those (the files are then read
//!   once);
//! - **written**: the rows of the table the job wrote;
//! - **rejected**: the rows of `_rejects/<table>` per file they name;
//! - for CSV files, the **physical lines** of the file, counted from its
//!   bytes (a plain newline count, not the CSV reader: by the ledger, or
//!   by the scan over each range's bytes apart from its records), against the lines
//!   its records cover plus the header: a record that swallowed lines, or
//!   lines no record owns, show here.
//!
//! `read = written + rejected` must hold per file (per table when several
//! files feed one table, as the Netflix rating files do: their rows do not
//! say which file they came from), no reject may name a file that was not
//! read, and a `required` input must have records.

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use datafusion::sql::parser::Statement;
use futures::StreamExt;
use moodflow_engine::formats::table::is_side_outputs_option;
use moodflow_engine::StorageRoot;
use object_store::ObjectStoreExt;

use crate::job::Job;

/// One raw file's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileAccount {
    /// The file's URL.
    pub file: String,
    /// Records read from it.
    pub read: u64,
    /// Rows of the rejects table that name it.
    pub rejected: u64,
    /// CSV: (physical lines, lines covered by records, header lines).
    pub lines: Option<(u64, u64, u64)>,
}

/// One table's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableAccount {
    /// The table (`movielens_ratings`).
    pub table: String,
    /// Rows written.
    pub written: u64,
    /// Every file that fed it.
    pub files: Vec<FileAccount>,
    /// Rejects naming a file that was not read (file, rows).
    pub strays: Vec<(String, u64)>,
    /// An input without records is an error.
    pub required: bool,
    /// Where the raw table reads (for messages about files without records).
    pub locations: Vec<String>,
}

impl TableAccount {
    /// What does not add up; empty when the ledger balances.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let read: u64 = self.files.iter().map(|f| f.read).sum();
        let rejected: u64 = self.files.iter().map(|f| f.rejected).sum();
        if self.required && read == 0 {
            out.push(format!(
                "{}: {} has no records (an empty file, or a header alone)",
                self.table,
                self.locations.join(", ")
            ));
        }
        if read != self.written + rejected {
            let whose = match self.files.as_slice() {
                [one] => one.file.clone(),
                files => format!("the {} files of {}", files.len(), self.table),
            };
            out.push(format!(
                "{whose}: read {read} records, but {} were written to {} and {rejected} rejected ({} unaccounted)",
                self.written,
                self.table,
                read as i128 - (self.written + rejected) as i128
            ));
        }
        for f in &self.files {
            if f.rejected > f.read {
                out.push(format!(
                    "{}: {} rejects name it, but only {} records were read",
                    f.file, f.rejected, f.read
                ));
            }
            if let Some((physical, covered, header)) = f.lines {
                if covered + header != physical || header > 1 {
                    out.push(format!(
                        "{}: the file has {physical} lines, its records cover {covered} and the header {header}",
                        f.file
                    ));
                }
            }
        }
        for (file, rows) in &self.strays {
            out.push(format!(
                "_rejects/{}: {rows} rows name {file}, which was not read",
                self.table
            ));
        }
        out
    }

    /// One line per file for reports: `read = written + rejected`.
    pub fn summary(&self) -> Vec<(String, String)> {
        let single = self.files.len() == 1;
        self.files
            .iter()
            .map(|f| {
                let written = if single {
                    format!("written {}", self.written)
                } else {
                    format!(
                        "valid {} (the table holds {} from all {} files)",
                        f.read - f.rejected.min(f.read),
                        self.written,
                        self.files.len()
                    )
                };
                let lines = f
                    .lines
                    .map(|(p, c, h)| format!("; {p} lines = {c} in records + {h} header"))
                    .unwrap_or_default();
                (
                    f.file.clone(),
                    format!("read {} = {written} + rejected {}{lines}", f.read, f.rejected),
                )
            })
            .collect()
    }
}

/// Counts the ledger of `job` below `root`, its tables read from
/// `ROOT/<tables>/` (the staging folder right after the job, `curated`
/// afterwards). `vars` are the job's variables (`--conf`), as it ran.
///
/// `known` are accounts this process took of the same job's run (before
/// its commit): a table found there takes each file's records read (and
/// lines) from it instead of reading the raw files again; what was written
/// and rejected is always counted from the tables under `tables`.
pub async fn account(
    ctx: &SessionContext,
    job: &Job,
    root: &StorageRoot,
    tables: &str,
    vars: &BTreeMap<String, String>,
    known: &[TableAccount],
) -> Result<Vec<TableAccount>> {
    if job.ledger.is_empty() {
        return Ok(Vec::new());
    }
    let all = job.variables(vars, &root.as_location(), &root.join(tables));
    let statements = job.statements(&all).map_err(|e| DataFusionError::Plan(e.to_string()))?;
    // The entries are independent, each a few small queries on this
    // process's session (listing, footers, planning): counted together,
    // they overlap (stage 02's five tables took 0.71 s one after the other
    // at 1M generated ratings).
    futures::future::try_join_all(
        job.ledger
            .iter()
            .map(|entry| account_entry(ctx, job, root, tables, &statements, entry, known)),
    )
    .await
}

/// One `@ledger` entry of [`account`].
async fn account_entry(
    ctx: &SessionContext,
    job: &Job,
    root: &StorageRoot,
    tables: &str,
    statements: &[Statement],
    entry: &crate::job::LedgerEntry,
    known: &[TableAccount],
) -> Result<TableAccount> {
    if let Some(before) = known.iter().find(|a| a.table == entry.table) {
        let counted = Counted::Known(&before.files);
        return account_table(ctx, root, tables, counted, entry, before.locations.clone()).await;
    }
    let raw_name = unique_name(&format!("__ledger_{}", entry.raw));
    let mut side_outputs_option = None;
    let create = statements.iter().find_map(|s| match s {
        Statement::CreateExternalTable(t) if t.name.to_string() == entry.raw => {
            let mut t = t.clone();
            // The ledger's own scan sets nothing aside: its folder is
            // the job's scratch, gone (or about to be) when this runs.
            let kept = t.options.iter().find(|(k, _)| is_side_outputs_option(k)).cloned();
            t.options.retain(|(k, _)| !is_side_outputs_option(k));
            side_outputs_option = kept;
            t.name =
                datafusion::sql::sqlparser::ast::ObjectName::from(vec![datafusion::sql::sqlparser::ast::Ident::new(
                    raw_name.clone(),
                )]);
            Some(Statement::CreateExternalTable(t))
        }
        _ => None,
    });
    let Some(create) = create else {
        return Err(DataFusionError::Plan(format!(
            "job {}: the ledger names {}, which no CREATE EXTERNAL TABLE defines",
            job.name, entry.raw
        )));
    };
    let (locations, side_outputs, csv) = match &create {
        Statement::CreateExternalTable(t) => (
            t.locations.clone(),
            side_outputs_option
                .take()
                .map(|(_, v)| v.to_string().trim_matches('\'').trim_end_matches('/').to_string()),
            t.file_type.eq_ignore_ascii_case(moodflow_engine::formats::CSV_FORMAT),
        ),
        _ => (Vec::new(), None, false),
    };
    // Where the job's scan set aside its split counts, those are the
    // records it read: the files are not read again.
    if let Some(dir) = side_outputs {
        let select = match csv {
            true => "file, sum(records), sum(covered), min(first_line), sum(lines)",
            false => "file, sum(records)",
        };
        let splits = count_parquet(ctx, &format!("{dir}/splits/"), select, "GROUP BY file").await?;
        if !splits.is_empty() {
            let counted = Counted::Splits { rows: splits, csv };
            return account_table(ctx, root, tables, counted, entry, locations).await;
        }
    }
    let _ = ctx.deregister_table(raw_name.as_str());
    let plan = ctx.state().statement_to_plan(create).await?;
    ctx.execute_logical_plan(plan).await?.collect().await?;
    let result = account_table(ctx, root, tables, Counted::Scan(&raw_name), entry, locations).await;
    let _ = ctx.deregister_table(raw_name.as_str());
    result
}

/// `prefix` made unique in this process: the ledger's entries are counted
/// concurrently on one session, each under tables of its own.
fn unique_name(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    format!("{prefix}_{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// Where the records read per file come from.
enum Counted<'a> {
    /// A query of its own over the raw table (registered under this name).
    Scan(&'a str),
    /// The split counts the job's scan set aside: (file, records) rows,
    /// for CSV (file, records, covered, first line, physical lines).
    Splits { rows: Vec<Row>, csv: bool },
    /// Each file's records and lines from an earlier account of the run.
    Known(&'a [FileAccount]),
}

async fn account_table(
    ctx: &SessionContext,
    root: &StorageRoot,
    tables: &str,
    counted: Counted<'_>,
    entry: &crate::job::LedgerEntry,
    locations: Vec<String>,
) -> Result<TableAccount> {
    let mut files = match counted {
        // Records and lines as this run's scan counted them; the rejects
        // naming each file are counted below, as for the others.
        Counted::Known(files) => files
            .iter()
            .map(|f| FileAccount {
                rejected: 0,
                ..f.clone()
            })
            .collect(),
        Counted::Splits { rows, csv } => files_read(ctx, rows, csv).await?,
        Counted::Scan(raw) => {
            let is_csv = ctx
                .table(raw)
                .await?
                .schema()
                .has_column_with_unqualified_name("line_end");
            let sql = if is_csv {
                format!("SELECT file, count(*), sum(line_end - line + 1), min(line) FROM {raw} GROUP BY file")
            } else {
                format!("SELECT file, count(*) FROM {raw} GROUP BY file")
            };
            files_read(ctx, rows(&ctx.sql(&sql).await?.collect().await?)?, is_csv).await?
        }
    };
    files.sort_by(|a, b| a.file.cmp(&b.file));

    let table_dir = format!("{}/", root.join(&format!("{tables}/{}", entry.table)));
    let written = count_parquet(ctx, &table_dir, "count(*)", "").await?;
    let written = written
        .first()
        .and_then(|r| r.1.first().copied().flatten())
        .unwrap_or(0) as u64;
    let rejects_dir = format!("{}/", root.join(&format!("{tables}/_rejects/{}", entry.table)));
    let mut strays = Vec::new();
    for (file, counts) in count_parquet(ctx, &rejects_dir, "file, count(*)", "GROUP BY file").await? {
        let n = counts.first().copied().flatten().unwrap_or(0) as u64;
        let file = file.unwrap_or_default();
        match files.iter_mut().find(|f| f.file == file) {
            Some(f) => f.rejected += n,
            None => strays.push((file, n)),
        }
    }
    Ok(TableAccount {
        table: entry.table.clone(),
        written,
        files,
        strays,
        required: entry.required,
        locations,
    })
}

/// Each file's records read (and, for CSV, lines) from count rows: (file,
/// records) or (file, records, covered lines, first record's line,
/// physical lines).
async fn files_read(ctx: &SessionContext, read_rows: Vec<Row>, is_csv: bool) -> Result<Vec<FileAccount>> {
    let mut files: Vec<FileAccount> = Vec::new();
    for row in read_rows {
        let file = row.0.unwrap_or_default();
        let read = row.1.first().copied().flatten().unwrap_or(0) as u64;
        let lines = if is_csv {
            let covered = row.1.get(1).copied().flatten().unwrap_or(0) as u64;
            // The scan's own newline count, or one of the ledger's.
            let physical = match row.1.get(3).copied().flatten() {
                Some(lines) => lines as u64,
                None => physical_lines(ctx, &file).await?,
            };
            // The lines before the first record are the header's (a file
            // without records is all header, if anything).
            let header = match row.1.get(2).copied().flatten() {
                Some(first) => first.max(1) as u64 - 1,
                None => physical,
            };
            Some((physical, covered, header))
        } else {
            None
        };
        files.push(FileAccount {
            file,
            read,
            rejected: 0,
            lines,
        });
    }
    Ok(files)
}

/// `SELECT {select} FROM <parquet folder> {tail}`; no rows when the folder
/// holds no file.
async fn count_parquet(ctx: &SessionContext, dir: &str, select: &str, tail: &str) -> Result<Vec<Row>> {
    let df = match ctx.read_parquet(dir, ParquetReadOptions::default()).await {
        Ok(df) => df,
        // An absent or empty folder: nothing written there.
        Err(_) => return Ok(Vec::new()),
    };
    let name = unique_name("__ledger_count");
    let _ = ctx.deregister_table(name.as_str());
    ctx.register_table(name.as_str(), df.into_view())?;
    let result = ctx.sql(&format!("SELECT {select} FROM {name} {tail}")).await;
    let result = match result {
        Ok(df) => df.collect().await,
        Err(e) => Err(e),
    };
    let _ = ctx.deregister_table(name.as_str());
    let batches = result?;
    if select.starts_with("count") {
        // One count column, no file.
        let mut out = Vec::new();
        for b in &batches {
            let c = cast(b.column(0), &DataType::Int64)?;
            let c = c.as_primitive::<Int64Type>();
            out.extend((0..b.num_rows()).map(|i| (None, vec![(!c.is_null(i)).then(|| c.value(i))])));
        }
        return Ok(out);
    }
    rows(&batches)
}

/// A result row: a text column, then numbers.
type Row = (Option<String>, Vec<Option<i64>>);

/// Rows of (text, numbers…) batches.
fn rows(batches: &[RecordBatch]) -> Result<Vec<Row>> {
    let mut out = Vec::new();
    for b in batches {
        let text = cast(b.column(0), &DataType::Utf8)?;
        let text = text.as_string::<i32>();
        let numbers = (1..b.num_columns())
            .map(|c| cast(b.column(c), &DataType::Int64))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        for i in 0..b.num_rows() {
            let t = (!text.is_null(i)).then(|| text.value(i).to_string());
            let n = numbers
                .iter()
                .map(|a| {
                    let a = a.as_primitive::<Int64Type>();
                    (!a.is_null(i)).then(|| a.value(i))
                })
                .collect();
            out.push((t, n));
        }
    }
    Ok(out)
}

/// The lines of a file from its bytes: newlines, plus one for a last line
/// without one.
async fn physical_lines(ctx: &SessionContext, file: &str) -> Result<u64> {
    let url = ListingTableUrl::parse(file)?;
    let store = ctx.runtime_env().object_store(url.object_store())?;
    let mut stream = store
        .get(url.prefix())
        .await
        .map_err(|e| DataFusionError::Execution(format!("ledger: cannot read {file}: {e}")))?
        .into_stream();
    let (mut newlines, mut last, mut any) = (0u64, b'\n', false);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| DataFusionError::Execution(format!("ledger: cannot read {file}: {e}")))?;
        if let Some(&b) = chunk.last() {
            last = b;
            any = true;
        }
        newlines += moodflow_engine::formats::csv::count_newlines(&chunk);
    }
    Ok(newlines + u64::from(any && last != b'\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(written: u64, files: &[(u64, u64)]) -> TableAccount {
        TableAccount {
            table: "t".into(),
            written,
            files: files
                .iter()
                .enumerate()
                .map(|(i, &(read, rejected))| FileAccount {
                    file: format!("f{i}"),
                    read,
                    rejected,
                    lines: None,
                })
                .collect(),
            strays: Vec::new(),
            required: true,
            locations: vec!["f0".into()],
        }
    }

    #[test]
    fn balances_and_names_the_file_when_not() {
        assert!(account(90, &[(100, 10)]).problems().is_empty());
        let p = account(89, &[(100, 10)]).problems();
        assert_eq!(p.len(), 1);
        assert!(
            p[0].starts_with("f0: read 100 records") && p[0].contains("1 unaccounted"),
            "{p:?}"
        );
        assert!(account(150, &[(100, 10), (70, 10)]).problems().is_empty());
        assert!(account(0, &[(0, 0)]).problems()[0].contains("no records"));
    }

    #[test]
    fn lines_must_be_covered() {
        let mut a = account(9, &[(10, 1)]);
        a.files[0].lines = Some((11, 10, 1));
        assert!(a.problems().is_empty());
        // A record that swallowed lines leaves the count short of them.
        a.files[0].lines = Some((10_011, 10, 10_001));
        assert!(a.problems()[0].contains("10011 lines"), "{:?}", a.problems());
    }
}
