//! SQL job files: parsing, variable substitution and execution.
//!
//! A job file is a list of SQL statements separated by `;` (DDL, `SET`,
//! queries, `COPY … TO`). `${name}` is replaced before a statement runs:
//! `${root}` is the storage root, `${curated}` the folder that this job's
//! tables are written to (a private staging folder that is committed only
//! when every statement succeeded), and any other name comes from
//! `--conf name=value`. A `COPY … TO '${curated}/<table>/'` statement
//! records how many rows it wrote to `<table>`; `_rejects/<table>` targets
//! count as that table's rejected rows.

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, RecordBatch, UInt64Array};
use datafusion::prelude::SessionContext;

/// Why a job failed: which job, which statement, and the engine's error.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A `${name}` that no variable defines.
    #[error("job {job}: statement {statement}: unknown variable ${{{name}}} (set it with --conf {name}=VALUE)")]
    UnknownVariable {
        /// Job file name.
        job: String,
        /// 1-based statement number.
        statement: usize,
        /// The variable.
        name: String,
    },
    /// A statement failed to plan or run.
    #[error("job {job}: statement {statement} ({summary})")]
    Statement {
        /// Job file name.
        job: String,
        /// 1-based statement number.
        statement: usize,
        /// The statement's first line, to find it in the file.
        summary: String,
        /// The engine's error.
        source: datafusion::error::DataFusionError,
    },
}

/// A parsed job file.
#[derive(Debug, Clone)]
pub struct Job {
    /// File name, used in errors and progress ("01_etl_movielens.sql").
    pub name: String,
    /// The statements, without their terminating `;`.
    pub statements: Vec<String>,
}

/// What a job did: rows written per table and the last statement's result.
#[derive(Debug, Default)]
pub struct JobOutcome {
    /// Rows written per table (`movielens_ratings`, `_rejects/movielens_ratings`).
    pub written: BTreeMap<String, u64>,
    /// The batches of the last statement.
    pub last_result: Vec<RecordBatch>,
}

impl Job {
    /// Parses a job file's text.
    pub fn parse(name: impl Into<String>, sql: &str) -> Self {
        Self {
            name: name.into(),
            statements: split_statements(sql),
        }
    }

    /// The curated tables this job reads (`${root}/curated/<table>`), so a
    /// run can report rows read without scanning them again.
    pub fn curated_inputs(&self) -> Vec<String> {
        let mut inputs: Vec<String> = self
            .statements
            .iter()
            .flat_map(|s| s.match_indices("${root}/curated/").map(move |(i, m)| &s[i + m.len()..]))
            .map(|rest| rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect())
            .filter(|t: &String| !t.is_empty())
            .collect();
        inputs.sort();
        inputs.dedup();
        inputs
    }

    /// True when the last statement is a query (`SELECT`/`WITH`), whose
    /// result is worth showing.
    pub fn ends_with_query(&self) -> bool {
        self.statements.last().is_some_and(|s| {
            let first = s
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with("--"))
                .unwrap_or("");
            let word = first.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
            word == "SELECT" || word == "WITH"
        })
    }

    /// Runs every statement in order on `ctx`, substituting `vars`.
    ///
    /// Tables and views a job creates are its own: they are dropped before
    /// and after it runs, so jobs sharing a session cannot see each other's
    /// names and a job's names can be reused by the next.
    pub async fn execute(&self, ctx: &SessionContext, vars: &BTreeMap<String, String>) -> Result<JobOutcome, JobError> {
        drop_session_tables(ctx);
        let result = self.execute_statements(ctx, vars).await;
        drop_session_tables(ctx);
        result
    }

    async fn execute_statements(
        &self,
        ctx: &SessionContext,
        vars: &BTreeMap<String, String>,
    ) -> Result<JobOutcome, JobError> {
        let mut outcome = JobOutcome::default();
        for (i, raw) in self.statements.iter().enumerate() {
            let sql = substitute(raw, vars).map_err(|name| JobError::UnknownVariable {
                job: self.name.clone(),
                statement: i + 1,
                name,
            })?;
            let err = |source| JobError::Statement {
                job: self.name.clone(),
                statement: i + 1,
                summary: summary(raw),
                source,
            };
            let batches = ctx.sql(&sql).await.map_err(err)?.collect().await.map_err(err)?;
            if let Some(table) = copy_target(raw) {
                *outcome.written.entry(table).or_default() += count_of(&batches);
            }
            outcome.last_result = batches;
        }
        Ok(outcome)
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

/// The first line of a statement, without comments, for error messages.
fn summary(stmt: &str) -> String {
    let line = stmt
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("--"))
        .unwrap_or("");
    let mut s: String = line.chars().take(80).collect();
    if line.chars().count() > 80 {
        s.push('…');
    }
    s
}

/// The table a `COPY … TO '${curated}/<table>/'` writes, with `_rejects/`
/// kept as a prefix.
pub fn copy_target(stmt: &str) -> Option<String> {
    let body = strip_comments(stmt);
    if !body.trim_start().to_ascii_uppercase().starts_with("COPY") {
        return None;
    }
    let start = body.rfind("'${curated}/")? + "'${curated}/".len();
    let rest = &body[start..];
    let end = rest.find('\'')?;
    Some(rest[..end].trim_end_matches('/').to_string())
}

/// The row count a `COPY` returns (one row, one `count` column).
fn count_of(batches: &[RecordBatch]) -> u64 {
    batches
        .iter()
        .filter_map(|b| b.column(0).as_any().downcast_ref::<UInt64Array>().cloned())
        .flat_map(|a| (0..a.len()).map(move |i| a.value(i)))
        .sum()
}

/// Replaces `${name}`; returns the first unknown name as the error.
pub fn substitute(sql: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
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
        out.push_str(vars.get(name).ok_or_else(|| name.to_string())?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn strip_comments(stmt: &str) -> String {
    stmt.lines()
        .map(|l| match l.find("--") {
            Some(i) if !l[..i].contains('\'') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Splits SQL text on `;` outside quotes and comments; drops empty
/// statements (including ones that are only comments).
pub fn split_statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = sql.chars().peekable();
    let mut has_code = false;
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                has_code = true;
                cur.push(c);
                // A doubled quote inside a literal is an escaped quote; it
                // closes and reopens, which this loop handles naturally.
                for d in chars.by_ref() {
                    cur.push(d);
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                cur.push(c);
                for d in chars.by_ref() {
                    cur.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                cur.push(c);
                let mut prev = ' ';
                for d in chars.by_ref() {
                    cur.push(d);
                    if prev == '*' && d == '/' {
                        break;
                    }
                    prev = d;
                }
            }
            ';' => {
                if has_code {
                    out.push(cur.trim().to_string());
                }
                cur.clear();
                has_code = false;
            }
            _ => {
                if !c.is_whitespace() {
                    has_code = true;
                }
                cur.push(c);
            }
        }
    }
    if has_code {
        out.push(cur.trim().to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_outside_quotes_and_comments() {
        let sql = "-- header; still a comment\nSELECT 'a;b' AS \"x;y\"; /* c; */ SELECT 2;\n-- only a comment;\n";
        let s = split_statements(sql);
        assert_eq!(s.len(), 2, "{s:?}");
        assert!(s[0].ends_with("SELECT 'a;b' AS \"x;y\""));
        assert_eq!(s[1], "/* c; */ SELECT 2");
    }

    #[test]
    fn substitutes_and_reports_unknown() {
        let vars = BTreeMap::from([("root".to_string(), "/d".to_string())]);
        assert_eq!(substitute("'${root}/raw'", &vars), Ok("'/d/raw'".into()));
        assert_eq!(substitute("${nope}", &vars), Err("nope".into()));
    }

    #[test]
    fn copy_targets() {
        assert_eq!(
            copy_target("-- x\nCOPY (SELECT 1) TO '${curated}/movielens_movies/' STORED AS PARQUET"),
            Some("movielens_movies".into())
        );
        assert_eq!(
            copy_target("COPY (SELECT 1) TO '${curated}/_rejects/movielens_ratings/' STORED AS PARQUET"),
            Some("_rejects/movielens_ratings".into())
        );
        assert_eq!(copy_target("SELECT '${curated}/x'"), None);
    }

    #[test]
    fn finds_curated_inputs() {
        let job = Job::parse("j", "CREATE EXTERNAL TABLE a STORED AS PARQUET LOCATION '${root}/curated/movie_text/'; SELECT 1 FROM x; CREATE EXTERNAL TABLE b STORED AS PARQUET LOCATION '${root}/curated/movielens_movies/'");
        assert_eq!(
            job.curated_inputs(),
            vec!["movie_text".to_string(), "movielens_movies".to_string()]
        );
    }
}
