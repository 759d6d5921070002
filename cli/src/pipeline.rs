//! The pipeline: its stages in order, each a SQL job whose tables are
//! written to a staging folder and committed only when the whole stage
//! succeeded, so a failed stage leaves the previous version intact.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use datafusion::prelude::SessionContext;
use moodflow_udfs::StorageRoot;

use crate::commit::{self, CommitError};
use crate::job::{Job, JobError, JobOutcome};
use crate::progress::Progress;

/// One stage: a number, a name and its SQL job.
#[derive(Debug, Clone)]
pub struct Stage {
    /// Two-digit stage number ("01").
    pub number: &'static str,
    /// Stage name ("etl_movielens").
    pub name: &'static str,
    /// The job file's text.
    pub sql: &'static str,
}

impl Stage {
    /// `01_etl_movielens`.
    pub fn id(&self) -> String {
        format!("{}_{}", self.number, self.name)
    }

    /// The parsed job.
    pub fn job(&self) -> Job {
        Job::parse(format!("jobs/{}.sql", self.id()), self.sql)
    }
}

/// The stages `moodflow run` runs, in order; the SQL is embedded so the
/// binary works anywhere (a container, another machine) without the repo.
pub const STAGES: &[Stage] = &[
    Stage {
        number: "01",
        name: "etl_movielens",
        sql: include_str!("../../jobs/01_etl_movielens.sql"),
    },
    Stage {
        number: "02",
        name: "prepare_text",
        sql: include_str!("../../jobs/02_prepare_text.sql"),
    },
    Stage {
        number: "03",
        name: "sentiment",
        sql: include_str!("../../jobs/03_sentiment.sql"),
    },
    Stage {
        number: "04",
        name: "build_features",
        sql: include_str!("../../jobs/04_build_features.sql"),
    },
];

/// A stage failure, naming the stage.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A statement of the stage's job failed.
    #[error("stage {stage} failed")]
    Job {
        /// Stage id.
        stage: String,
        /// What failed.
        source: JobError,
    },
    /// The stage ran but its tables could not be committed.
    #[error("stage {stage} failed to commit its tables")]
    Commit {
        /// Stage id.
        stage: String,
        /// What failed.
        source: CommitError,
    },
}

/// What one stage did.
#[derive(Debug, Clone)]
pub struct StageReport {
    /// Stage id.
    pub stage: String,
    /// Wall time.
    pub elapsed: Duration,
    /// Rows read: a raw table's written plus rejected rows, plus the rows of
    /// the curated tables it reads that this run wrote.
    pub rows_read: u64,
    /// Rows written per table.
    pub written: BTreeMap<String, u64>,
    /// Rows rejected per table.
    pub rejected: BTreeMap<String, u64>,
}

/// The whole run.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// One report per stage, in order.
    pub stages: Vec<StageReport>,
}

impl RunReport {
    /// A plain-text summary table.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "{:<20} {:<36} {:>12} {:>12} {:>10} {:>9}\n",
            "stage", "table", "rows read", "written", "rejected", "time"
        ));
        let mut total = Duration::ZERO;
        for s in &self.stages {
            total += s.elapsed;
            let mut first = true;
            for (table, rows) in &s.written {
                let rejected = s.rejected.get(table).copied().unwrap_or(0);
                let (stage, read, time) = if first {
                    (
                        s.stage.as_str(),
                        group(s.rows_read),
                        format!("{:.2}s", s.elapsed.as_secs_f64()),
                    )
                } else {
                    ("", String::new(), String::new())
                };
                first = false;
                out.push_str(&format!(
                    "{stage:<20} {table:<36} {read:>12} {:>12} {:>10} {time:>9}\n",
                    group(*rows),
                    group(rejected)
                ));
            }
        }
        out.push_str(&format!("total time {:.2}s\n", total.as_secs_f64()));
        out
    }
}

/// `1234567` -> `1,234,567`.
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Runs `stages` in order against `root`; stops at the first failure.
pub async fn run_stages(
    ctx: &SessionContext,
    root: &StorageRoot,
    stages: &[Stage],
    conf_vars: &BTreeMap<String, String>,
    progress: &Progress,
) -> Result<RunReport, PipelineError> {
    let mut report = RunReport::default();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for stage in stages {
        let job = stage.job();
        let started = Instant::now();
        let ticker = progress.start(&stage.id());
        let result = run_job_atomically(ctx, root, &job, conf_vars).await;
        ticker.stop();
        let written = result.map(|o| o.written).map_err(|e| match e {
            AtomicError::Job(source) => PipelineError::Job {
                stage: stage.id(),
                source,
            },
            AtomicError::Commit(source) => PipelineError::Commit {
                stage: stage.id(),
                source,
            },
        })?;
        let mut stage_report = StageReport {
            stage: stage.id(),
            elapsed: started.elapsed(),
            rows_read: job.curated_inputs().iter().filter_map(|t| counts.get(t)).sum(),
            written: BTreeMap::new(),
            rejected: BTreeMap::new(),
        };
        for (table, rows) in &written {
            if let Some(t) = table.strip_prefix("_rejects/") {
                stage_report.rejected.insert(t.to_string(), *rows);
            } else {
                stage_report.written.insert(table.clone(), *rows);
                counts.insert(table.clone(), *rows);
            }
        }
        for (t, rejected) in &stage_report.rejected {
            stage_report.rows_read += rejected + stage_report.written.get(t).copied().unwrap_or(0);
        }
        progress.done(&stage_report);
        report.stages.push(stage_report);
    }
    Ok(report)
}

/// Why a job run with staging failed.
#[derive(Debug, thiserror::Error)]
pub enum AtomicError {
    /// A statement failed; nothing was committed.
    #[error(transparent)]
    Job(#[from] JobError),
    /// The commit failed.
    #[error(transparent)]
    Commit(#[from] CommitError),
}

/// Runs a job with `${curated}` pointing at a fresh staging folder, then
/// commits every table it wrote to `ROOT/curated/`. The staging folder is
/// removed whatever happens.
pub async fn run_job_atomically(
    ctx: &SessionContext,
    root: &StorageRoot,
    job: &Job,
    conf_vars: &BTreeMap<String, String>,
) -> Result<JobOutcome, AtomicError> {
    let staging = commit::new_staging_dir();
    let mut vars = conf_vars.clone();
    vars.insert("root".into(), root.as_location());
    vars.insert("curated".into(), root.join(&staging));
    let outcome = job.execute(ctx, &vars).await;
    let result = match outcome {
        Ok(outcome) => commit::commit_tables(ctx, root, &staging, outcome.written.keys())
            .await
            .map(|()| outcome)
            .map_err(AtomicError::from),
        Err(e) => Err(AtomicError::from(e)),
    };
    commit::remove_staging(ctx, root, &staging).await;
    result
}
