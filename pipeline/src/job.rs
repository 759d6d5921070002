//! SQL job files: declared variables, parsing with DataFusion's own parser,
//! confinement of what a job writes, and execution.
//!
//! A job file is a list of SQL statements (DDL, `SET`, queries,
//! `COPY … TO`). `${name}` is replaced before the file is parsed:
//! `${root}` is the storage root, `${curated}` the folder that this job's
//! tables are written to (a private staging folder that is committed only
//! when every statement succeeded), and any other name is a variable the
//! file declares on a line of its own:
//!
//! ```sql
//! -- @var playlist_size = 20
//! ```
//!
//! An ingest job also declares which raw table feeds which table, for the
//! ledger that checks every raw record was written or rejected
//! ([`crate::ledger`]); `required` makes an empty input an error:
//!
//! ```sql
//! -- @ledger raw_ratings -> movielens_ratings required
//! ```
//!
//! A `--conf name=value` sets it; a `${name}` the file does not declare is
//! an error before anything runs, and so is a `--conf` key that no job of
//! the run declares (see [`check_conf_vars`]).
//!
//! Every statement is planned before it runs, and its plan is checked for
//! writes: a `COPY` must go to `${curated}/<table>/` (a plain table name,
//! or `_rejects/<table>`), or into a folder the caller allowed explicitly
//! (`moodflow submit --allow-output DIR`); an `INSERT` into a file-backed
//! table follows the same rule. Anything else (a `..`, an absolute path,
//! another scheme) fails the statement before it writes, moves or deletes
//! anything. A `COPY` records how many rows it wrote to `<table>`;
//! `_rejects/<table>` targets count as that table's rejected rows.
//!
//! A job reads as a list and behaves as one, but a query or `COPY` starts
//! as soon as no running statement touches its data ([`crate::access`]),
//! so that independent small statements share the cores.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::arrow::array::{Array, RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::listing::{ListingTable, ListingTableUrl};
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::{LogicalPlan, WriteOp};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParser, Statement};
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};

/// The variables every job has, set by moodflow itself.
pub const BUILTIN_VARS: &[&str] = &["root", "curated"];

/// Why a job failed: which job, which statement, and what went wrong.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A `${name}` that the file does not declare.
    #[error("job {job}: line {line}: ${{{name}}} is not declared (add `-- @var {name} = DEFAULT` to the file)")]
    UndeclaredVariable {
        /// Job file name.
        job: String,
        /// 1-based line of the first use.
        line: usize,
        /// The variable.
        name: String,
    },
    /// A malformed `-- @var` line.
    #[error("job {job}: line {line}: {reason}")]
    Declaration {
        /// Job file name.
        job: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The file is not valid SQL.
    #[error("job {job}: cannot parse")]
    Parse {
        /// Job file name.
        job: String,
        /// The parser's error (it names the line and column).
        source: datafusion::error::DataFusionError,
    },
    /// A statement would write outside its allowed locations.
    #[error("job {job}: statement {statement} ({summary}): {reason}")]
    Confinement {
        /// Job file name.
        job: String,
        /// 1-based statement number.
        statement: usize,
        /// The statement's start.
        summary: String,
        /// Where it would write and what is allowed.
        reason: String,
    },
    /// A statement failed to plan or run.
    #[error("job {job}: statement {statement} ({summary})")]
    Statement {
        /// Job file name.
        job: String,
        /// 1-based statement number.
        statement: usize,
        /// The statement's start, to find it in the file.
        summary: String,
        /// The engine's error.
        source: datafusion::error::DataFusionError,
    },
}

/// A declared job variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Its name (`playlist_size`).
    pub name: String,
    /// Its default value.
    pub default: String,
}

/// A ledger declaration: the raw table that feeds a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The raw table the job creates (`raw_ratings`).
    pub raw: String,
    /// The table it writes, whose rejects are `_rejects/<table>`.
    pub table: String,
    /// An input without any record is an error.
    pub required: bool,
}

/// A job file, its variables checked.
#[derive(Debug, Clone)]
pub struct Job {
    /// File name, used in errors and progress ("jobs/01_etl_movielens.sql").
    pub name: String,
    /// The SQL text, `${…}` not yet replaced.
    pub sql: String,
    /// The variables it declares, in file order.
    pub params: Vec<Param>,
    /// Its ledger declarations.
    pub ledger: Vec<LedgerEntry>,
    /// Tables that may be empty after a run (`-- @may_be_empty TABLE`).
    pub may_be_empty: Vec<String>,
}

/// Where a job may write.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// `${curated}`: the staging folder of its tables.
    pub curated: String,
    /// Other folders the caller allowed (absolute locations).
    pub allowed: Vec<String>,
}

/// What a job did.
#[derive(Debug, Default)]
pub struct JobOutcome {
    /// Rows written per table (`movielens_ratings`, `_rejects/movielens_ratings`).
    pub written: BTreeMap<String, u64>,
    /// Tables whose `COPY` wrote no row, with the schema they have: the
    /// caller writes an empty file so that readers find the schema.
    pub empty: BTreeMap<String, SchemaRef>,
    /// The batches of the last statement.
    pub last_result: Vec<RecordBatch>,
    /// The ledger of an ingest job (filled in after it ran).
    pub ledger: Vec<crate::ledger::TableAccount>,
}

impl Job {
    /// Reads a job file's text: its `-- @var` declarations, and checks that
    /// every `${name}` it uses is declared or built in.
    pub fn parse(name: impl Into<String>, sql: &str) -> Result<Self, JobError> {
        let name = name.into();
        let mut params: Vec<Param> = Vec::new();
        let mut ledger: Vec<LedgerEntry> = Vec::new();
        let mut may_be_empty: Vec<String> = Vec::new();
        for (i, line) in sql.lines().enumerate() {
            let bad = |reason: String| JobError::Declaration {
                job: name.clone(),
                line: i + 1,
                reason,
            };
            if let Some(table) = line.trim().strip_prefix("-- @may_be_empty ") {
                let table = table.trim();
                if !is_identifier(table) {
                    return Err(bad(format!("`{table}` is not a table name")));
                }
                may_be_empty.push(table.to_string());
                continue;
            }
            if let Some(decl) = line.trim().strip_prefix("-- @ledger ") {
                let words: Vec<&str> = decl.split_whitespace().collect();
                match words.as_slice() {
                    [raw, "->", table, rest @ ..]
                        if is_identifier(raw) && is_identifier(table) && (rest.is_empty() || rest == ["required"]) =>
                    {
                        ledger.push(LedgerEntry {
                            raw: raw.to_string(),
                            table: table.to_string(),
                            required: !rest.is_empty(),
                        })
                    }
                    _ => {
                        return Err(bad(format!(
                            "expected `-- @ledger RAW_TABLE -> TABLE [required]`, got `{}`",
                            line.trim()
                        )))
                    }
                }
                continue;
            }
            let Some(decl) = line.trim().strip_prefix("-- @var ") else {
                continue;
            };
            let (var, default) = decl
                .split_once('=')
                .ok_or_else(|| bad(format!("expected `-- @var NAME = DEFAULT`, got `{}`", line.trim())))?;
            let var = var.trim();
            if !is_identifier(var) || BUILTIN_VARS.contains(&var) {
                return Err(bad(format!("`{var}` cannot be a variable name")));
            }
            if params.iter().any(|p| p.name == var) {
                return Err(bad(format!("`{var}` is declared twice")));
            }
            params.push(Param {
                name: var.to_string(),
                default: default.trim().to_string(),
            });
        }
        for (i, line) in sql.lines().enumerate() {
            for used in uses(line) {
                if !BUILTIN_VARS.contains(&used) && !params.iter().any(|p| p.name == used) {
                    return Err(JobError::UndeclaredVariable {
                        job: name,
                        line: i + 1,
                        name: used.to_string(),
                    });
                }
            }
        }
        Ok(Self {
            name,
            sql: sql.to_string(),
            params,
            ledger,
            may_be_empty,
        })
    }

    /// The declared defaults, as variables.
    pub fn defaults(&self) -> BTreeMap<String, String> {
        self.params
            .iter()
            .map(|p| (p.name.clone(), p.default.clone()))
            .collect()
    }

    /// Every variable as the job runs: its declared defaults, overridden by
    /// `vars`, and the built-in `${root}` and `${curated}`.
    pub fn variables(&self, vars: &BTreeMap<String, String>, root: &str, curated: &str) -> BTreeMap<String, String> {
        let mut all = self.defaults();
        all.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        all.insert("root".into(), root.to_string());
        all.insert("curated".into(), curated.to_string());
        all
    }

    /// The statements with the defaults and placeholder locations filled
    /// in: for looking at the job's shape, not for running it.
    fn shape(&self) -> Result<Vec<Statement>, JobError> {
        self.statements(&self.variables(&BTreeMap::new(), PLACEHOLDER_ROOT, PLACEHOLDER_CURATED))
    }

    /// The curated tables this job reads (`${root}/curated/<table>`), so a
    /// run can report rows read without scanning them again.
    pub fn curated_inputs(&self) -> Vec<String> {
        let prefix = format!("{PLACEHOLDER_ROOT}/curated/");
        let mut inputs: Vec<String> = self
            .shape()
            .unwrap_or_default()
            .iter()
            .filter_map(|s| match s {
                Statement::CreateExternalTable(t) => {
                    t.locations.iter().find_map(|l| l.strip_prefix(&prefix)).map(table_name)
                }
                _ => None,
            })
            .filter(|t| !t.is_empty())
            .collect();
        inputs.sort();
        inputs.dedup();
        inputs
    }

    /// The tables this job writes under `${curated}`, in file order, each
    /// once (several `COPY`s may write into one table's folder).
    pub fn outputs(&self) -> Vec<String> {
        let prefix = format!("{PLACEHOLDER_CURATED}/");
        let mut outputs: Vec<String> = Vec::new();
        for s in self.shape().unwrap_or_default() {
            let Statement::CopyTo(c) = s else { continue };
            let Some(table) = c
                .target
                .strip_prefix(&prefix)
                .map(|t| t.trim_end_matches('/').to_string())
            else {
                continue;
            };
            let split = c
                .options
                .iter()
                .any(|(k, _)| moodflow_engine::sink::is_rejects_option(k));
            let rejects = split.then(|| format!("_rejects/{table}"));
            for table in std::iter::once(table).chain(rejects) {
                if !table.starts_with(&format!("{SIDE_OUTPUTS_DIR}/")) && !outputs.contains(&table) {
                    outputs.push(table);
                }
            }
        }
        outputs
    }

    /// True when the last statement is a query, whose result is worth showing.
    pub fn ends_with_query(&self) -> bool {
        matches!(
            self.shape().unwrap_or_default().last(),
            Some(Statement::Statement(s)) if matches!(**s, datafusion::sql::sqlparser::ast::Statement::Query(_))
        )
    }

    /// The statements with `vars` substituted.
    pub fn statements(&self, vars: &BTreeMap<String, String>) -> Result<Vec<Statement>, JobError> {
        let sql = substitute(&self.sql, vars).map_err(|(line, name)| JobError::UndeclaredVariable {
            job: self.name.clone(),
            line,
            name,
        })?;
        DFParser::parse_sql(&sql)
            .map(Vec::from)
            .map_err(|source| JobError::Parse {
                job: self.name.clone(),
                source,
            })
    }

    /// Runs every statement on `ctx`, with the semantics of a list (each
    /// sees what the ones before it wrote; the first failure stops it)
    /// but independent ones at once (see [`crate::access`]); variables are
    /// the declared defaults, overridden by `vars`, with `${root}` and
    /// `${curated}` from `root` and `outputs`.
    ///
    /// Tables and views a job creates are its own: they are dropped before
    /// and after it runs, so jobs sharing a session cannot see each other's
    /// names and a job's names can be reused by the next.
    pub async fn execute(
        &self,
        ctx: &SessionContext,
        root: &str,
        outputs: &Outputs,
        vars: &BTreeMap<String, String>,
    ) -> Result<JobOutcome, JobError> {
        let statements = self.statements(&self.variables(vars, root, &outputs.curated))?;
        drop_session_tables(ctx);
        let result = self.execute_statements(ctx, statements, outputs).await;
        drop_session_tables(ctx);
        result
    }

    /// Runs the statements, each as soon as no running one touches what it
    /// touches ([`crate::access`]): DDL and `SET` in file order on the
    /// client, queries and `COPY`s at most [`AT_ONCE`] at a time (see
    /// [`AT_ONCE_VAR`]). The first failing statement (in file order) is
    /// the job's error; nothing new starts after a failure, and what is
    /// running is waited for.
    async fn execute_statements(
        &self,
        ctx: &SessionContext,
        statements: Vec<Statement>,
        outputs: &Outputs,
    ) -> Result<JobOutcome, JobError> {
        let count = statements.len();
        let at_once = at_once();
        let staging = crate::access::normalise(&outputs.curated);
        let mut catalog = crate::access::Catalog::default();
        let mut running: FuturesUnordered<BoxFuture<'_, Finished>> = FuturesUnordered::new();
        let mut accesses: BTreeMap<usize, crate::access::Access> = BTreeMap::new();
        let mut done: BTreeMap<usize, Ran> = BTreeMap::new();
        let mut failed: Option<(usize, JobError)> = None;
        // The targets written so far, each with whether a split's rejects.
        let mut written_by: BTreeMap<String, bool> = BTreeMap::new();
        for (i, statement) in statements.into_iter().enumerate() {
            let summary = summary(&statement.to_string());
            let planned = async {
                let plan = ctx
                    .state()
                    .statement_to_plan(statement)
                    .await
                    .map_err(statement_error(&self.name, i, &summary))?;
                let confinement = |reason| JobError::Confinement {
                    job: self.name.clone(),
                    statement: i + 1,
                    summary: summary.clone(),
                    reason,
                };
                let writes = writes_of(&plan, outputs).map_err(confinement)?;
                // The rejects of a COPY that splits its rows are counted
                // from their folder, so no other statement may write there.
                let own_rejects = split_rejects(&plan, &writes);
                for (table, _) in &writes {
                    let own = own_rejects == Some(table.as_str());
                    let clash = written_by.get(table).is_some_and(|&other_own| own || other_own);
                    if clash {
                        return Err(confinement(format!(
                            "it writes to `{table}`, which another statement of the job also writes, and one of them splits off its rejects there ('{}'): a split's rejects folder is its own",
                            moodflow_engine::sink::REJECTS_OPTION
                        )));
                    }
                }
                for (table, _) in &writes {
                    written_by
                        .entry(table.clone())
                        .or_insert(own_rejects == Some(table.as_str()));
                }
                Ok((plan, writes))
            }
            .await;
            let (plan, writes) = match planned {
                Ok(p) => p,
                Err(e) => {
                    settle(
                        Finished {
                            index: i,
                            result: Err(e),
                        },
                        &mut done,
                        &mut failed,
                    );
                    break;
                }
            };
            let mut access = catalog.access(&plan);
            // A write outside the staging folder is not undone when a
            // later statement fails: it runs alone, after everything
            // before it succeeded, as a list of statements would.
            let outside = access
                .writes
                .iter()
                .any(|w| staging.as_ref().is_none_or(|s| !w.starts_with(s.as_str())));
            access.barrier |= outside;
            while !running.is_empty() && (running.len() >= at_once || accesses.values().any(|a| a.conflicts(&access))) {
                let Some(f) = running.next().await else { break };
                accesses.remove(&f.index);
                settle(f, &mut done, &mut failed);
            }
            if failed.is_some() {
                break;
            }
            let inline = matches!(plan, LogicalPlan::Ddl(_) | LogicalPlan::Statement(_)) || access.barrier;
            let run = run_statement(ctx, &self.name, i, summary, plan.clone(), writes, outputs);
            if inline {
                // The statements after it are planned against what it creates.
                settle(run.await, &mut done, &mut failed);
                if failed.is_some() {
                    break;
                }
                catalog.record(&plan);
            } else {
                accesses.insert(i, access);
                running.push(Box::pin(run));
            }
        }
        while let Some(f) = running.next().await {
            settle(f, &mut done, &mut failed);
        }
        if let Some((_, e)) = failed {
            return Err(e);
        }
        // Counted in file order, as if the statements had run one by one.
        let mut outcome = JobOutcome::default();
        for (i, ran) in done {
            for (table, schema) in ran.writes {
                if table.starts_with(&format!("{SIDE_OUTPUTS_DIR}/")) {
                    continue;
                }
                let rows = ran
                    .counted
                    .get(&table)
                    .copied()
                    .unwrap_or_else(|| count_of(&ran.batches));
                *outcome.written.entry(table.clone()).or_default() += rows;
                if rows == 0 {
                    outcome.empty.entry(table).or_insert(schema);
                } else {
                    outcome.empty.remove(&table);
                }
            }
            if i + 1 == count {
                outcome.last_result = ran.batches;
            }
        }
        Ok(outcome)
    }
}

/// How many queries and `COPY`s of a job run at once: enough to keep two
/// cores busy through each other's single-task tails and round trips,
/// few enough that their memory stays that of a couple of statements.
pub const AT_ONCE: usize = 3;

/// The variable that overrides [`AT_ONCE`] (`1`: one statement after the
/// other, as a list reads; for comparing, or to bound memory).
pub const AT_ONCE_VAR: &str = "MOODFLOW_STATEMENTS_AT_ONCE";

/// [`AT_ONCE`], or a positive number in [`AT_ONCE_VAR`].
fn at_once() -> usize {
    positive_from_env(AT_ONCE_VAR, AT_ONCE)
}

/// The positive number in the environment variable `var`, else `default`
/// (unset, empty, zero or not a number).
pub(crate) fn positive_from_env(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n: &usize| n >= 1)
        .unwrap_or(default)
}

/// A statement that ran: its result and what it wrote.
struct Ran {
    batches: Vec<RecordBatch>,
    writes: Vec<(String, SchemaRef)>,
    /// Rows written to a target the result does not count: the rejects of
    /// a `COPY` that splits its rows, counted from their files.
    counted: BTreeMap<String, u64>,
}

/// A statement that finished, well or not.
struct Finished {
    index: usize,
    result: Result<Ran, JobError>,
}

/// Files a finished statement: its result, or its error if it is the
/// first failure in file order so far.
fn settle(f: Finished, done: &mut BTreeMap<usize, Ran>, failed: &mut Option<(usize, JobError)>) {
    match f.result {
        Ok(ran) => {
            done.insert(f.index, ran);
        }
        Err(e) => {
            if failed.as_ref().is_none_or(|(i, _)| f.index < *i) {
                *failed = Some((f.index, e));
            }
        }
    }
}

/// The error of statement `index` (0-based) of job `job`, as a `map_err`.
fn statement_error<'a>(
    job: &'a str,
    index: usize,
    summary: &'a str,
) -> impl Fn(datafusion::error::DataFusionError) -> JobError + Copy + 'a {
    move |source| JobError::Statement {
        job: job.to_string(),
        statement: index + 1,
        summary: summary.to_string(),
        source,
    }
}

/// Runs one planned statement of job `job` (its `index`, 0-based).
async fn run_statement(
    ctx: &SessionContext,
    job: &str,
    index: usize,
    summary: String,
    plan: LogicalPlan,
    writes: Vec<(String, SchemaRef)>,
    outputs: &Outputs,
) -> Finished {
    let err = statement_error(job, index, &summary);
    let started = std::time::Instant::now();
    // The statement's result counts a split's table only.
    let split_rejects = split_rejects(&plan, &writes).map(str::to_string);
    let result = async {
        let batches = ctx
            .execute_logical_plan(plan)
            .await
            .map_err(err)?
            .collect()
            .await
            .map_err(err)?;
        // `RUST_LOG=moodflow::profile=info` shows where a stage's time goes.
        tracing::info!(
            target: "moodflow::profile",
            "{job} statement {} ({summary}): {:.3}s",
            index + 1,
            started.elapsed().as_secs_f64()
        );
        for (table, schema) in &writes {
            // Scratch is read by the statements that follow: an empty one
            // gets a file with its schema at once (a folder without files
            // is a scan of no partitions, which a Ballista stage cannot
            // run). Never committed.
            if table.starts_with(&format!("{SIDE_OUTPUTS_DIR}/")) && count_of(&batches) == 0 {
                write_empty_scratch(ctx, outputs, table, Arc::clone(schema))
                    .await
                    .map_err(err)?;
            }
        }
        let mut counted = BTreeMap::new();
        if let Some(rejects) = split_rejects {
            let rows = count_rows(ctx, &format!("{}/{rejects}/", outputs.curated.trim_end_matches('/')))
                .await
                .map_err(err)?;
            counted.insert(rejects, rows);
        }
        Ok(Ran {
            batches,
            writes,
            counted,
        })
    }
    .await;
    Finished { index, result }
}

/// Writes an empty Parquet file with `schema` into the scratch folder
/// `table` (`_scan/<name>`) below the job's `${curated}`.
async fn write_empty_scratch(
    ctx: &SessionContext,
    outputs: &Outputs,
    table: &str,
    schema: SchemaRef,
) -> datafusion::common::Result<()> {
    use object_store::ObjectStoreExt;
    let url = datafusion::datasource::listing::ListingTableUrl::parse(format!(
        "{}/{table}/",
        outputs.curated.trim_end_matches('/')
    ))?;
    let store = ctx.runtime_env().object_store(url.object_store())?;
    let bytes = moodflow_ml::kmeans::train::parquet_bytes(schema, &[])?;
    let path = object_store::path::Path::from(format!(
        "{}/part-0.parquet",
        url.prefix().as_ref().trim_end_matches('/')
    ));
    store
        .put(&path, bytes.into())
        .await
        .map_err(|e| datafusion::common::DataFusionError::External(Box::new(e)))?;
    Ok(())
}

/// Placeholder locations for looking at a job's shape.
const PLACEHOLDER_ROOT: &str = "moodflow://root";
const PLACEHOLDER_CURATED: &str = "moodflow://curated";

/// `a-z`, `A-Z`, `0-9`, `_`, not starting with a digit.
fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The table name at the start of `rest` (`movie_text/` → `movie_text`).
fn table_name(rest: &str) -> String {
    rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

/// The `${name}`s of one line.
fn uses(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        out.push(&after[..end]);
        rest = &after[end + 1..];
    }
    out
}

/// Checks `--conf` job variables against what the jobs of a run declare:
/// an unknown key is an error listing the known ones.
pub fn check_conf_vars<'a>(
    jobs: impl IntoIterator<Item = &'a Job>,
    vars: &BTreeMap<String, String>,
) -> Result<(), String> {
    let known: BTreeSet<&str> = jobs
        .into_iter()
        .flat_map(|j| j.params.iter().map(|p| p.name.as_str()))
        .collect();
    let unknown: Vec<&str> = vars.keys().map(String::as_str).filter(|k| !known.contains(k)).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let list = if known.is_empty() {
        "none".to_string()
    } else {
        known.into_iter().collect::<Vec<_>>().join(", ")
    };
    Err(format!(
        "unknown job variable(s) {} (--conf keys are `datafusion.*` and `ballista.*` settings, or the variables the jobs declare: {list})",
        unknown.join(", ")
    ))
}

/// What a statement's plan writes: for each `COPY` (or `INSERT` into a
/// file-backed table), the `${curated}` table it writes with the schema of
/// its rows, or nothing for an allowed folder; an error for a write
/// anywhere else.
fn writes_of(plan: &LogicalPlan, outputs: &Outputs) -> Result<Vec<(String, SchemaRef)>, String> {
    let mut writes = Vec::new();
    let mut problem = None;
    let _ = plan.apply(|node| {
        let checked = match node {
            LogicalPlan::Copy(copy) => match moodflow_engine::sink::rejects_option(copy) {
                None => {
                    confine(&copy.output_url, outputs).map(|t| t.map(|t| (t, Arc::clone(copy.input.schema().inner()))))
                }
                Some(reason) => match split_writes(copy, &reason, outputs) {
                    Ok(both) => {
                        writes.extend(both);
                        Ok(None)
                    }
                    Err(e) => Err(e),
                },
            },
            // A raw table that sets rows aside writes where it says.
            LogicalPlan::Ddl(datafusion::logical_expr::DdlStatement::CreateExternalTable(t)) => t
                .options
                .iter()
                .filter(|(k, _)| moodflow_engine::formats::table::is_side_outputs_option(k))
                .try_for_each(|(_, dir)| confine_side_outputs(dir, outputs))
                .map(|()| None),
            LogicalPlan::Dml(dml) if matches!(dml.op, WriteOp::Insert(_)) => {
                match source_as_provider(&dml.target)
                    .ok()
                    .and_then(|p| p.downcast_ref::<ListingTable>().map(|l| l.table_paths().clone()))
                {
                    // A file-backed table writes into its folders.
                    Some(paths) => paths
                        .iter()
                        .try_for_each(|p| confine(p.as_str(), outputs).map(|_| ()))
                        .map(|()| None),
                    // In-memory tables write no file.
                    None => Ok(None),
                }
            }
            _ => Ok(None),
        };
        match checked {
            Ok(Some(w)) => writes.push(w),
            Ok(None) => {}
            Err(e) => {
                problem = Some(e);
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    match problem {
        Some(p) => Err(p),
        None => Ok(writes),
    }
}

/// What a `COPY` that splits its rows writes (see
/// [`moodflow_engine::sink`]): its table with the columns before `reason`,
/// and `_rejects/<table>` beside it with the columns after and the reason.
/// Both are confined; a target that is itself a rejects or scratch folder
/// has no rejects of its own.
fn split_writes(
    copy: &datafusion::logical_expr::dml::CopyTo,
    reason: &str,
    outputs: &Outputs,
) -> Result<Vec<(String, SchemaRef)>, String> {
    let schema = copy.input.schema().inner();
    let split = moodflow_engine::sink::RejectSplit::new(schema, reason).map_err(|e| e.strip_backtrace())?;
    let rejects_url = moodflow_engine::sink::rejects_url(&copy.output_url).map_err(|e| e.strip_backtrace())?;
    let table = confine(&copy.output_url, outputs)?;
    let rejects = confine(&rejects_url, outputs)?;
    match (table, rejects) {
        (Some(table), Some(rejects)) if !table.starts_with('_') => Ok(vec![
            (table, split.table_schema(schema).map_err(|e| e.strip_backtrace())?),
            (rejects, split.rejects_schema(schema).map_err(|e| e.strip_backtrace())?),
        ]),
        (None, None) => Ok(Vec::new()),
        _ => Err(format!(
            "it writes to '{}' with '{}', whose rejects would go to '{rejects_url}': a COPY that splits off its rejects writes a table `${{curated}}/<table>/` (or into a folder allowed with its `_rejects/` beside it)",
            copy.output_url,
            moodflow_engine::sink::REJECTS_OPTION
        )),
    }
}

/// The rejects target of a `COPY` that splits its rows: the second of
/// its writes (see [`split_writes`]); `None` for any other statement.
fn split_rejects<'a>(plan: &LogicalPlan, writes: &'a [(String, SchemaRef)]) -> Option<&'a str> {
    match plan {
        LogicalPlan::Copy(copy) if moodflow_engine::sink::rejects_option(copy).is_some() => {
            writes.get(1).map(|(t, _)| t.as_str())
        }
        _ => None,
    }
}

/// Checks one write target: `Some(table)` for `${curated}/<table>/` (and
/// `Some("_scan/<name>")` for the job's scratch, which is never committed),
/// `None` for a location inside an allowed folder, an error otherwise.
///
/// The check is on the text, before anything is resolved: a target must
/// *be* `${curated}/` followed by a plain table name (letters, digits,
/// `_`; `_rejects/` may come first), so no `..`, `.`, percent escape or
/// second scheme can lead it elsewhere.
pub fn confine(target: &str, outputs: &Outputs) -> Result<Option<String>, String> {
    let within = |base: &str| {
        target
            .strip_prefix(base.trim_end_matches('/'))
            .and_then(|r| r.strip_prefix('/'))
    };
    if let Some(rest) = within(&outputs.curated) {
        let table = rest.trim_end_matches('/');
        // Scratch: written and read back by the job itself, never committed.
        let scratch = table
            .strip_prefix(SIDE_OUTPUTS_DIR)
            .and_then(|r| r.strip_prefix('/'))
            .is_some_and(is_identifier);
        if scratch {
            return Ok(Some(table.to_string()));
        }
        let plain = table.strip_prefix("_rejects/").unwrap_or(table);
        if is_identifier(plain) && !plain.starts_with('_') {
            return Ok(Some(table.to_string()));
        }
        return Err(format!(
            "it writes to '{target}': below ${{curated}} only a table name may follow (`${{curated}}/<table>/` or `${{curated}}/_rejects/<table>/`, the name of letters, digits and _)"
        ));
    }
    for base in &outputs.allowed {
        if let Some(rest) = within(base) {
            let safe = !rest.is_empty()
                && rest
                    .split(['/', '\\'])
                    .all(|seg| seg != ".." && seg != "." && !seg.to_ascii_lowercase().contains("%2e"));
            if safe {
                return Ok(None);
            }
        }
    }
    let allowed = if outputs.allowed.is_empty() {
        String::new()
    } else {
        format!(" or below {}", outputs.allowed.join(", "))
    };
    Err(format!(
        "it writes to '{target}', outside the job's output folder ${{curated}} ({}){allowed}; nothing was written. A job's tables go to `${{curated}}/<table>/`; `moodflow submit --allow-output DIR` allows another folder",
        outputs.curated
    ))
}

/// Below `${curated}`, a job's scratch: `_scan/<name>/` holds what a raw
/// table's scan sets aside (its rejects and split counts, `OPTIONS
/// ('side_outputs' …)`) and the intermediate tables a job `COPY`s once to
/// read several times; read back by the job, never committed (the staging
/// folder goes with it).
pub const SIDE_OUTPUTS_DIR: &str = "_scan";

/// Checks a raw table's `side_outputs` folder: it must be
/// `${curated}/_scan/<name>/`, the same textual rule as [`confine`].
fn confine_side_outputs(target: &str, outputs: &Outputs) -> Result<(), String> {
    let name = target
        .strip_prefix(outputs.curated.trim_end_matches('/'))
        .and_then(|r| r.strip_prefix('/'))
        .and_then(|r| r.strip_prefix(SIDE_OUTPUTS_DIR))
        .and_then(|r| r.strip_prefix('/'))
        .map(|r| r.trim_end_matches('/'));
    match name {
        Some(n) if is_identifier(n) => Ok(()),
        _ => Err(format!(
            "its side_outputs '{target}' is not `${{curated}}/{SIDE_OUTPUTS_DIR}/<name>/` (letters, digits and _); nothing was written"
        )),
    }
}

/// Deregisters every table and view of the session's default schema.
fn drop_session_tables(ctx: &SessionContext) {
    let state = ctx.state();
    let defaults = &state.config().options().catalog;
    let Some(schema) = ctx
        .catalog(&defaults.default_catalog)
        .and_then(|c| c.schema(&defaults.default_schema))
    else {
        return;
    };
    for name in schema.table_names() {
        let _ = schema.deregister_table(&name);
    }
}

/// The start of a statement, for error messages.
fn summary(stmt: &str) -> String {
    let line = stmt.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut s: String = line.chars().take(80).collect();
    if line.chars().count() > 80 {
        s.push('…');
    }
    s
}

/// The rows of the Parquet files in `folder` (from their footers); 0 when
/// it holds no file. Any other failure is the statement's error, never a
/// count of 0.
async fn count_rows(ctx: &SessionContext, folder: &str) -> datafusion::common::Result<u64> {
    let url = ListingTableUrl::parse(folder)?;
    let store = ctx.runtime_env().object_store(&url)?;
    let first = store.list(Some(url.prefix())).next().await;
    match first {
        None => Ok(0),
        Some(listed) => {
            listed.map_err(|e| datafusion::common::DataFusionError::External(Box::new(e)))?;
            // Counted by this process from the footers: on the cluster's
            // session the count was a Ballista job of its own after every
            // `COPY` with rejects.
            let local = moodflow_engine::local_context(moodflow_engine::session_config(&[])?)?;
            let options = datafusion::prelude::ParquetReadOptions::default();
            Ok(local.read_parquet(folder, options).await?.count().await? as u64)
        }
    }
}

/// The row count a `COPY` returns (one row, one `count` column).
fn count_of(batches: &[RecordBatch]) -> u64 {
    batches
        .iter()
        .filter_map(|b| b.column(0).as_any().downcast_ref::<UInt64Array>().cloned())
        .flat_map(|a| (0..a.len()).map(move |i| a.value(i)))
        .sum()
}

/// Replaces `${name}`; the first unknown name (with its 1-based line) is
/// the error.
pub fn substitute(sql: &str, vars: &BTreeMap<String, String>) -> Result<String, (usize, String)> {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let name = &after[..end];
        let line = out.matches('\n').count() + 1;
        out.push_str(vars.get(name).ok_or_else(|| (line, name.to_string()))?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs() -> Outputs {
        Outputs {
            curated: "/data/curated/_staging/1-2".into(),
            allowed: vec!["/exports".into()],
        }
    }

    #[test]
    fn declared_variables_and_defaults() {
        let job = Job::parse("j", "-- @var size = 20\nSELECT ${size} -- uses ${root}\n").expect("parse");
        assert_eq!(job.defaults(), BTreeMap::from([("size".into(), "20".into())]));
        let undeclared = Job::parse("j", "-- @var size = 20\n\nSELECT ${sise}").expect_err("undeclared");
        assert!(matches!(undeclared, JobError::UndeclaredVariable { line: 3, ref name, .. } if name == "sise"));
        assert!(
            Job::parse("j", "-- @var root = x\n").is_err(),
            "built-ins cannot be redeclared"
        );
        assert!(Job::parse("j", "-- @var a = 1\n-- @var a = 2\n").is_err());
    }

    #[test]
    fn unknown_conf_keys_are_named_with_the_known_ones() {
        let job = Job::parse("j", "-- @var playlist_size = 20\nSELECT ${playlist_size}").expect("parse");
        let vars = BTreeMap::from([("playlist_sise".to_string(), "3".to_string())]);
        let e = check_conf_vars([&job], &vars).expect_err("unknown key");
        assert!(e.contains("playlist_sise") && e.contains("playlist_size"), "{e}");
        let ok = BTreeMap::from([("playlist_size".to_string(), "3".to_string())]);
        assert!(check_conf_vars([&job], &ok).is_ok());
    }

    #[test]
    fn writes_are_confined() {
        let o = outputs();
        assert_eq!(
            confine("/data/curated/_staging/1-2/movies/", &o),
            Ok(Some("movies".into()))
        );
        assert_eq!(
            confine("/data/curated/_staging/1-2/_rejects/movies", &o),
            Ok(Some("_rejects/movies".into()))
        );
        assert_eq!(confine("/exports/out.csv", &o), Ok(None));
        // The job's scratch: allowed, never a table.
        assert_eq!(
            confine("/data/curated/_staging/1-2/_scan/checked/", &o),
            Ok(Some("_scan/checked".into()))
        );
        assert_eq!(
            confine_side_outputs("/data/curated/_staging/1-2/_scan/netflix_ratings/", &o),
            Ok(())
        );
        for bad in [
            "/data/curated/_staging/1-2/_scan/",
            "/data/curated/_staging/1-2/_scan/../x/",
            "/data/curated/_staging/1-2/netflix_ratings/",
            "/exports/x/",
        ] {
            assert!(confine_side_outputs(bad, &o).is_err(), "{bad} must be refused");
        }
        for bad in [
            "/data/curated/_staging/1-2/_scan/",
            "/data/curated/_staging/1-2/_scan/a/b/",
            "/data/curated/_staging/1-2/_scan/%2e%2e/",
            "/data/curated/_staging/1-2/../../../somewhere/",
            "/data/curated/_staging/1-2/a/b/",
            "/data/curated/_staging/1-2/",
            "/data/curated/_staging/1-2/_staging/",
            "/data/curated/_staging/1-2/%2e%2e/",
            "/data/curated/_staging/1-2x/t/",
            "/elsewhere/t/",
            "s3://bucket/t/",
            "/exports/../etc/",
            "/exports/%2E%2E/x",
            "/exports",
        ] {
            assert!(confine(bad, &o).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn shape_of_a_job() {
        let job = Job::parse(
            "j",
            "CREATE EXTERNAL TABLE a STORED AS PARQUET LOCATION '${root}/curated/movie_text/';\n\
             COPY (SELECT 1) TO '${curated}/out/' STORED AS PARQUET; SELECT 'a;b' -- x;\n",
        )
        .expect("parse");
        assert_eq!(job.curated_inputs(), vec!["movie_text".to_string()]);
        assert_eq!(job.outputs(), vec!["out".to_string()]);
        assert!(job.ends_with_query());

        // Two statements writing one table's folder (stage 09): one table.
        let job = Job::parse(
            "j",
            "COPY (SELECT 1) TO '${curated}/b/' STORED AS PARQUET;\n\
             COPY (SELECT 2) TO '${curated}/a/' STORED AS PARQUET;\n\
             COPY (SELECT 3) TO '${curated}/b/' STORED AS PARQUET;\n",
        )
        .expect("parse");
        assert_eq!(job.outputs(), vec!["b".to_string(), "a".to_string()]);
    }

    /// Statements run at once where independent, yet a job reads what an
    /// earlier statement wrote, reports its first failure in file order,
    /// and writes nothing outside its staging folder after a failure.
    #[tokio::test]
    async fn independent_statements_run_at_once_in_file_order_semantics() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().to_str().expect("utf-8 path");
        std::fs::write(format!("{d}/src.csv"), "x\n1\n2\n3\n").expect("write");
        std::fs::create_dir_all(format!("{d}/exports")).expect("mkdir");
        let outputs = Outputs {
            curated: format!("{d}/staging"),
            allowed: vec![format!("{d}/exports")],
        };
        let ctx = SessionContext::new();
        let head = "CREATE EXTERNAL TABLE src (x BIGINT) STORED AS CSV LOCATION '${root}/src.csv' OPTIONS ('format.has_header' 'true');\n";

        // Each table is read back (its schema inferred from the files) only
        // after the statement writing it finished.
        let chain = Job::parse(
            "chain",
            &format!(
                "{head}\
                 COPY (SELECT x FROM src) TO '${{curated}}/a/' STORED AS PARQUET;\n\
                 COPY (SELECT x * 10 AS y FROM src) TO '${{curated}}/b/' STORED AS PARQUET;\n\
                 CREATE EXTERNAL TABLE a STORED AS PARQUET LOCATION '${{curated}}/a/';\n\
                 CREATE EXTERNAL TABLE b STORED AS PARQUET LOCATION '${{curated}}/b/';\n\
                 COPY (SELECT a.x + b.y AS z FROM a JOIN b ON b.y = a.x * 10) TO '${{curated}}/c/' STORED AS PARQUET;\n\
                 CREATE EXTERNAL TABLE c STORED AS PARQUET LOCATION '${{curated}}/c/';\n\
                 SELECT sum(z) AS total FROM c;\n"
            ),
        )
        .expect("parse");
        let done = chain.execute(&ctx, d, &outputs, &BTreeMap::new()).await.expect("runs");
        assert_eq!(done.written["a"], 3);
        assert_eq!(done.written["c"], 3);
        let total = done.last_result[0]
            .column(0)
            .as_any()
            .downcast_ref::<datafusion::arrow::array::Int64Array>()
            .expect("a bigint")
            .value(0);
        assert_eq!(total, 11 + 22 + 33);

        // Statement 3 fails while statement 2 may still run; statement 4
        // writes outside the staging folder and must not start.
        let failing = Job::parse(
            "failing",
            &format!(
                "{head}\
                 COPY (SELECT x FROM src) TO '${{curated}}/ok/' STORED AS PARQUET;\n\
                 COPY (SELECT CAST(concat('x', CAST(x AS VARCHAR)) AS BIGINT) AS bad FROM src) TO '${{curated}}/bad/' STORED AS PARQUET;\n\
                 COPY (SELECT x FROM src) TO '{d}/exports/out/' STORED AS PARQUET;\n"
            ),
        )
        .expect("parse");
        let e = failing
            .execute(&ctx, d, &outputs, &BTreeMap::new())
            .await
            .expect_err("statement 3 fails");
        assert!(matches!(e, JobError::Statement { statement: 3, .. }), "{e}");
        assert!(
            !std::path::Path::new(&format!("{d}/exports/out")).exists(),
            "nothing is written outside the staging folder after a failure"
        );
    }

    /// A `COPY` that splits off its rejects: the job lists and counts its
    /// table and its rejects apart (five rows, two with a reason); another
    /// statement writing into those rejects, or rejects that would land
    /// outside the allowed folder, fail before they write.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_split_copy_counts_its_table_and_its_rejects_apart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().to_str().expect("utf-8 path");
        std::fs::write(format!("{d}/src.csv"), "x\n1\n2\n3\n4\n5\n").expect("write");
        std::fs::create_dir_all(format!("{d}/exports")).expect("mkdir");
        let outputs = Outputs {
            curated: format!("{d}/staging"),
            allowed: vec![format!("{d}/exports")],
        };
        let config = moodflow_engine::session_config(&[]).expect("config");
        let ctx = moodflow_engine::local_context(config).expect("context");
        let head = "CREATE EXTERNAL TABLE src (x BIGINT) STORED AS CSV LOCATION '${root}/src.csv' OPTIONS ('format.has_header' 'true');\n";
        let split = "COPY (SELECT x, CASE WHEN x > 3 THEN 'big' END AS reason, x AS line FROM src) \
                     TO '${curated}/t/' STORED AS PARQUET OPTIONS ('metadata::moodflow_rejects' 'reason');\n";

        let job = Job::parse("split", &format!("{head}{split}")).expect("parse");
        assert_eq!(job.outputs(), vec!["t".to_string(), "_rejects/t".to_string()]);
        let done = job.execute(&ctx, d, &outputs, &BTreeMap::new()).await.expect("runs");
        assert_eq!(done.written["t"], 3);
        assert_eq!(done.written["_rejects/t"], 2);

        let clash = Job::parse(
            "clash",
            &format!("{head}{split}COPY (SELECT 'x' AS reason) TO '${{curated}}/_rejects/t/' STORED AS PARQUET;\n"),
        )
        .expect("parse");
        let e = clash
            .execute(&ctx, d, &outputs, &BTreeMap::new())
            .await
            .expect_err("two writers of a split's rejects");
        assert!(matches!(e, JobError::Confinement { statement: 3, .. }), "{e}");
        assert!(e.to_string().contains("its own"), "{e}");

        // Into an allowed folder, the rejects go beside the table, inside it.
        let export = Job::parse(
            "export",
            &format!(
                "{head}COPY (SELECT x, CASE WHEN x = 1 THEN 'one' END AS reason, x AS line FROM src) \
                 TO '{d}/exports/out/' STORED AS PARQUET OPTIONS ('metadata::moodflow_rejects' 'reason');\n"
            ),
        )
        .expect("parse");
        export.execute(&ctx, d, &outputs, &BTreeMap::new()).await.expect("runs");
        assert!(std::path::Path::new(&format!("{d}/exports/_rejects/out")).is_dir());

        // Scratch has no rejects of its own.
        let scratch = Job::parse(
            "scratch",
            &format!(
                "{head}COPY (SELECT x, CAST(NULL AS VARCHAR) AS reason, x AS line FROM src) \
                 TO '${{curated}}/_scan/x/' STORED AS PARQUET OPTIONS ('metadata::moodflow_rejects' 'reason');\n"
            ),
        )
        .expect("parse");
        let e = scratch
            .execute(&ctx, d, &outputs, &BTreeMap::new())
            .await
            .expect_err("a split into scratch");
        assert!(matches!(e, JobError::Confinement { statement: 2, .. }), "{e}");
        assert!(
            !std::path::Path::new(&format!("{d}/staging/_scan/x")).exists(),
            "nothing written"
        );
    }
}
