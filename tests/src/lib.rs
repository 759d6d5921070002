//! Test support for moodflow's integration tests: a sqllogictest adapter
//! that runs SQL on a standalone Ballista session with moodflow's
//! extensions, plus a `RUN JOB <stage>` command that runs one of the
//! pipeline's job files against a scratch storage root and registers every
//! curated table it finds (`<table>` and `rejects_<table>`) for queries;
//! `${root}` in a statement is that root.

pub mod cluster;
pub mod processes;

use std::path::Path;

use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use std::collections::BTreeMap;

use moodflow_engine::{session_config, StorageRoot};
use moodflow_pipeline::stages::{run_job_atomically, NETFLIX_STAGES, STAGES};
use moodflow_standalone::standalone;
use sqllogictest::{DBOutput, DefaultColumnType};

/// An error from the adapter.
#[derive(Debug)]
pub struct SltError(pub String);

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SltError {}

fn err(e: impl std::fmt::Display) -> SltError {
    SltError(e.to_string())
}

/// A sqllogictest database: a moodflow session over a scratch root.
pub struct MoodflowDb {
    ctx: SessionContext,
    root: StorageRoot,
}

impl MoodflowDb {
    /// A standalone Ballista session over `root`.
    pub async fn new(root: &Path) -> Result<Self, SltError> {
        let ctx = standalone(session_config(&[]).map_err(err)?).await.map_err(err)?.ctx;
        let root = StorageRoot::parse(&root.to_string_lossy()).map_err(err)?;
        Ok(Self { ctx, root })
    }

    /// `RUN JOB <stage> [name=value …]`: the stage's job with those variables.
    async fn run_job(&mut self, command: &str) -> Result<u64, SltError> {
        let mut words = command.split_whitespace();
        let name = words.next().unwrap_or_default();
        let vars: BTreeMap<String, String> = words
            .map(|w| {
                w.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| SltError(format!("RUN JOB {command}: '{w}' is not name=value")))
            })
            .collect::<Result<_, _>>()?;
        let stage = STAGES
            .iter()
            .chain(NETFLIX_STAGES)
            .find(|s| s.id() == name)
            .ok_or_else(|| SltError(format!("no stage named {name}")))?;
        let job = stage
            .job()
            .ok_or_else(|| SltError(format!("stage {name} is not a SQL job")))?
            .map_err(err)?;
        let outcome = run_job_atomically(&self.ctx, &self.root, &job, &vars, &[])
            .await
            .map_err(|e| SltError(format!("{e}: {}", source_chain(&e))))?;
        self.register_curated().await?;
        Ok(outcome.written.values().sum())
    }

    /// Registers `curated/<t>` as `<t>` and `curated/_rejects/<t>` as `rejects_<t>`.
    async fn register_curated(&mut self) -> Result<(), SltError> {
        let Some(base) = self.root.local_path().map(|p| p.join("curated")) else {
            return Ok(());
        };
        let mut dirs = vec![(base.clone(), String::new())];
        dirs.push((base.join("_rejects"), "rejects_".to_string()));
        for (dir, prefix) in dirs {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                if name.starts_with('_') || !entry.path().is_dir() {
                    continue;
                }
                let table = format!("{prefix}{name}");
                let _ = self.ctx.deregister_table(table.as_str());
                let has_files = std::fs::read_dir(entry.path())
                    .map(|mut d| d.next().is_some())
                    .unwrap_or(false);
                if has_files {
                    self.ctx
                        .register_parquet(
                            table.as_str(),
                            entry.path().to_string_lossy().as_ref(),
                            ParquetReadOptions::default(),
                        )
                        .await
                        .map_err(err)?;
                }
            }
        }
        Ok(())
    }
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = Vec::new();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push(s.to_string());
        cur = s.source();
    }
    out.join(": ")
}

/// Whether the statement returns rows (a query or an `EXPLAIN`), as
/// DataFusion's own parser reads it.
fn is_query(sql: &str) -> Result<bool, SltError> {
    use datafusion::sql::parser::{DFParser, Statement};
    use datafusion::sql::sqlparser::ast::Statement as Sql;
    let statements = DFParser::parse_sql(sql).map_err(err)?;
    Ok(match statements.back() {
        Some(Statement::Statement(s)) => matches!(**s, Sql::Query(_) | Sql::Explain { .. } | Sql::ShowTables { .. }),
        Some(Statement::Explain(_)) => true,
        _ => false,
    })
}

fn column_type(dt: &DataType) -> DefaultColumnType {
    match dt {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => DefaultColumnType::Integer,
        DataType::Float32 | DataType::Float64 | DataType::Decimal128(_, _) => DefaultColumnType::FloatingPoint,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => DefaultColumnType::Text,
        _ => DefaultColumnType::Any,
    }
}

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for MoodflowDb {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<Self::ColumnType>, Self::Error> {
        let trimmed = sql.trim();
        if let Some(name) = trimmed.strip_prefix("RUN JOB ") {
            return Ok(DBOutput::StatementComplete(self.run_job(name.trim()).await?));
        }
        // `${root}` is the scratch root, so a file can write a table that a
        // job reads (stage 05's output, for stage 06).
        let sql = trimmed.replace("${root}", &self.root.as_location());
        let trimmed = sql.as_str();
        let is_query = is_query(trimmed)?;
        let df = self.ctx.sql(trimmed).await.map_err(err)?;
        let schema = df.schema().inner().clone();
        let batches = df.collect().await.map_err(err)?;
        if !is_query {
            return Ok(DBOutput::StatementComplete(0));
        }
        let options = FormatOptions::default().with_null("NULL");
        let mut rows = Vec::new();
        for batch in &batches {
            let formatters = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?;
            for i in 0..batch.num_rows() {
                rows.push(
                    formatters
                        .iter()
                        .map(|f| {
                            let v = f.value(i).to_string();
                            if v.is_empty() {
                                "(empty)".to_string()
                            } else {
                                v
                            }
                        })
                        .collect(),
                );
            }
        }
        let types = schema.fields().iter().map(|f| column_type(f.data_type())).collect();
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "moodflow-ballista-standalone"
    }
}

/// The shared data folder of the workplace, when present. A test that
/// needs it skips (saying so) when it is absent, unless
/// `MOODFLOW_REQUIRE_DATA=1` (as `.ci/run` sets): then its absence fails
/// the test, so a real-data test can never pass by skipping there.
pub fn shared_data() -> Option<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    if dir.is_dir() {
        return Some(dir.canonicalize().unwrap_or(dir));
    }
    assert!(
        std::env::var("MOODFLOW_REQUIRE_DATA").as_deref() != Ok("1"),
        "MOODFLOW_REQUIRE_DATA=1 but the shared data folder {} is missing",
        dir.display()
    );
    None
}

/// Runs a future on a multi-threaded runtime whose workers have the stack
/// the CLI gives them (DataFusion recurses deeply in unoptimised builds).
pub fn block_on<F>(future: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let runtime = moodflow_engine::tokio_runtime().expect("tokio runtime");
    runtime.block_on(async { tokio::spawn(future).await.expect("test task panicked") })
}

/// Runs `stages` of the pipeline on `cluster` with the default settings
/// and no progress output.
pub async fn run_pipeline(
    cluster: &moodflow_engine::Cluster,
    root: &StorageRoot,
    stages: &[moodflow_pipeline::stages::Stage],
) -> Result<moodflow_pipeline::stages::RunReport, moodflow_pipeline::stages::PipelineError> {
    run_pipeline_with(cluster, root, stages, &[]).await
}

/// [`run_pipeline`] with job variables (`netflix_partitions=7`).
pub async fn run_pipeline_with(
    cluster: &moodflow_engine::Cluster,
    root: &StorageRoot,
    stages: &[moodflow_pipeline::stages::Stage],
    vars: &[(&str, &str)],
) -> Result<moodflow_pipeline::stages::RunReport, moodflow_pipeline::stages::PipelineError> {
    moodflow_pipeline::stages::run_stages(
        cluster,
        root,
        stages,
        &vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        &moodflow_pipeline::stages::PipelineOptions::default(),
        &moodflow_pipeline::progress::Progress::new(true),
    )
    .await
}
