//! The pipeline: its stages in order. Most are SQL jobs; stage 05 is the
//! distributed k-means ([`moodflow_ml::kmeans`]). Every stage writes its
//! tables to a staging folder that is committed only when the whole stage
//! succeeded, so a failed stage leaves the previous version intact.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use datafusion::common::DataFusionError;
use datafusion::prelude::SessionContext;
use futures::stream::{FuturesUnordered, StreamExt};
use moodflow_engine::{Cluster, StorageRoot};
use moodflow_ml::kmeans::driver::Params;
use moodflow_ml::kmeans::model::Model;
use moodflow_ml::kmeans::train::{clustered_schema, parquet_bytes, train};

use crate::commit::{self, CommitError};
use crate::job::{Job, JobError, JobOutcome};
use crate::progress::Progress;

/// One stage: a number, a name and what it runs.
#[derive(Debug, Clone)]
pub struct Stage {
    /// Two-digit stage number ("01").
    pub number: &'static str,
    /// Stage name ("etl_movielens").
    pub name: &'static str,
    /// What the stage runs.
    pub kind: StageKind,
}

/// What a stage runs.
#[derive(Debug, Clone, Copy)]
pub enum StageKind {
    /// A SQL job file's text.
    Sql(&'static str),
    /// Distributed k-means over `nf_features`: `clustered_movies` and
    /// `models/kmeans_model/model.json`.
    TrainKMeans,
    /// Distributed ALS over the unified ratings: `user_factors`,
    /// `item_factors` and `models/recommender/model.json`
    /// ([`crate::recommender`]).
    TrainRecommender,
}

impl Stage {
    /// `01_etl_movielens`.
    pub fn id(&self) -> String {
        format!("{}_{}", self.number, self.name)
    }

    /// The SQL of a SQL stage.
    pub fn sql(&self) -> Option<&'static str> {
        match self.kind {
            StageKind::Sql(sql) => Some(sql),
            StageKind::TrainKMeans | StageKind::TrainRecommender => None,
        }
    }

    /// The job of a SQL stage (`None` for stages 05 and 12); an error only if the
    /// embedded file declares its variables wrongly (a test reads them all).
    pub fn job(&self) -> Option<Result<Job, JobError>> {
        self.sql().map(|sql| Job::parse(format!("jobs/{}.sql", self.id()), sql))
    }

    /// The curated tables the stage reads: a job's `${root}/curated/…`
    /// tables, stage 05's features, stage 12's ratings (either source).
    pub fn reads(&self) -> Vec<String> {
        match self.kind {
            StageKind::Sql(_) => match self.job() {
                Some(Ok(job)) => job.curated_inputs(),
                _ => Vec::new(),
            },
            StageKind::TrainKMeans => vec!["nf_features".to_string()],
            StageKind::TrainRecommender => crate::recommender::INPUTS.iter().map(|t| t.to_string()).collect(),
        }
    }

    /// The tables the stage writes under `curated/`, a table's rejects as
    /// `_rejects/<table>` (for a job: its `COPY` targets in file order).
    pub fn writes(&self) -> Vec<String> {
        let names = |tables: &[&str]| tables.iter().map(|t| t.to_string()).collect();
        match self.kind {
            StageKind::Sql(_) => match self.job() {
                Some(Ok(job)) => job.outputs(),
                // An embedded job that does not parse is caught by the
                // tests of the job files and by `run_stages` before it starts.
                _ => Vec::new(),
            },
            StageKind::TrainKMeans => names(crate::catalog::KMEANS_TABLES),
            StageKind::TrainRecommender => names(crate::recommender::TABLES),
        }
    }
}

/// For each of `stages`, the earlier ones in the list it must wait for:
/// those that write a table it reads. A stage reads what was committed
/// before it starts, so one whose tables come from no stage in the list
/// (an earlier run's) waits for none.
pub fn dependencies(stages: &[Stage]) -> Vec<Vec<usize>> {
    let writes: Vec<Vec<String>> = stages.iter().map(Stage::writes).collect();
    stages
        .iter()
        .enumerate()
        .map(|(i, stage)| {
            let reads = stage.reads();
            (0..i)
                .filter(|&j| writes[j].iter().any(|w| reads.contains(w)))
                .collect()
        })
        .collect()
}

/// The stages `moodflow run` runs, in order; the SQL is embedded so the
/// binary works anywhere (a container, another machine) without the repo.
pub const STAGES: &[Stage] = &[
    Stage {
        number: "01",
        name: "etl_movielens",
        kind: StageKind::Sql(include_str!("../../jobs/01_etl_movielens.sql")),
    },
    Stage {
        number: "02",
        name: "prepare_text",
        kind: StageKind::Sql(include_str!("../../jobs/02_prepare_text.sql")),
    },
    Stage {
        number: "03",
        name: "sentiment",
        kind: StageKind::Sql(include_str!("../../jobs/03_sentiment.sql")),
    },
    Stage {
        number: "04",
        name: "build_features",
        kind: StageKind::Sql(include_str!("../../jobs/04_build_features.sql")),
    },
    Stage {
        number: "05",
        name: "train_kmeans",
        kind: StageKind::TrainKMeans,
    },
    Stage {
        number: "06",
        name: "mood_playlists",
        kind: StageKind::Sql(include_str!("../../jobs/06_mood_playlists.sql")),
    },
];

/// The Netflix Prize stages, run after [`STAGES`] when the root holds the
/// Netflix files (see [`netflix_inputs`]).
pub const NETFLIX_STAGES: &[Stage] = &[
    Stage {
        number: "07",
        name: "ingest_netflix_prize",
        kind: StageKind::Sql(include_str!("../../jobs/07_ingest_netflix_prize.sql")),
    },
    Stage {
        number: "08",
        name: "bridge_titles",
        kind: StageKind::Sql(include_str!("../../jobs/08_bridge_titles.sql")),
    },
    Stage {
        number: "09",
        name: "unified_ratings",
        kind: StageKind::Sql(include_str!("../../jobs/09_unified_ratings.sql")),
    },
];

/// Stage 12, run last (after 09 when the Netflix stages run): it trains on
/// their unified ratings, or on the MovieLens ratings alone.
pub const RECOMMENDER_STAGES: &[Stage] = &[Stage {
    number: "12",
    name: "train_recommender",
    kind: StageKind::TrainRecommender,
}];

/// Where the Netflix Prize files live below the root.
pub const NETFLIX_DIR: &str = "raw/netflix_prize";

/// The Netflix Prize inputs found below a root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetflixInputs {
    /// `movie_titles.csv` or `movie_titles.txt`.
    pub titles_file: String,
    /// The `combined_data_*.txt` files.
    pub rating_files: Vec<String>,
}

/// What `raw/netflix_prize/` holds: `None` when there is no Netflix file at
/// all (stages 07-09 are skipped); an error when the set is incomplete or
/// ambiguous, naming what is wrong.
pub async fn netflix_inputs(
    ctx: &SessionContext,
    root: &StorageRoot,
) -> Result<Option<NetflixInputs>, DataFusionError> {
    let names = root.list_names(&ctx.runtime_env(), NETFLIX_DIR).await?;
    let titles: Vec<&String> = names
        .iter()
        .filter(|n| *n == "movie_titles.csv" || *n == "movie_titles.txt")
        .collect();
    let rating_files: Vec<String> = names
        .iter()
        .filter(|n| n.starts_with("combined_data_") && n.ends_with(".txt"))
        .cloned()
        .collect();
    let dir = root.join(NETFLIX_DIR);
    match (titles.as_slice(), rating_files.is_empty()) {
        ([], true) => Ok(None),
        ([], false) => Err(DataFusionError::Plan(format!(
            "{dir} has rating files but no movie_titles.csv (or .txt)"
        ))),
        ([_], true) => Err(DataFusionError::Plan(format!(
            "{dir} has {} but no combined_data_*.txt rating files",
            titles[0]
        ))),
        ([t], false) => Ok(Some(NetflixInputs {
            titles_file: t.to_string(),
            rating_files,
        })),
        _ => Err(DataFusionError::Plan(format!(
            "{dir} has both movie_titles.csv and movie_titles.txt; keep one"
        ))),
    }
}

/// The stages of a whole run: 01-06, then 07-09 when the Netflix files are
/// there, then 12, with the job variables they need.
pub fn run_plan(netflix: Option<&NetflixInputs>) -> (Vec<Stage>, BTreeMap<String, String>) {
    let mut stages = STAGES.to_vec();
    let mut vars = BTreeMap::new();
    if let Some(nf) = netflix {
        stages.extend_from_slice(NETFLIX_STAGES);
        vars.insert("netflix_titles_file".to_string(), nf.titles_file.clone());
    }
    stages.extend_from_slice(RECOMMENDER_STAGES);
    (stages, vars)
}

/// The job variables of every stage with their defaults (see
/// [`crate::catalog::job_variables`]).
pub fn default_vars() -> BTreeMap<String, String> {
    crate::catalog::job_variables()
}

/// What the stages need besides SQL variables.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// k-means training parameters (stage 05).
    pub kmeans: Params,
    /// Files (and so partitions) of the compact features copy.
    pub kmeans_partitions: usize,
    /// Recommender training parameters (stage 12).
    pub recommender: moodflow_ml::recommender::train::Params,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self {
            kmeans: Params::default(),
            kmeans_partitions: 4,
            recommender: Default::default(),
        }
    }
}

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
    /// Stage 05's or stage 12's training failed.
    #[error("stage {stage} failed")]
    Train {
        /// Stage id.
        stage: String,
        /// What failed.
        source: TrainError,
    },
    /// The stage ran but its tables could not be committed.
    #[error("stage {stage} failed to commit its tables")]
    Commit {
        /// Stage id.
        stage: String,
        /// What failed.
        source: CommitError,
    },
    /// An ingest stage's ledger does not balance.
    #[error("stage {stage} failed its ledger (nothing was committed): {problem}")]
    Ledger {
        /// Stage id.
        stage: String,
        /// What does not add up, naming the file.
        problem: String,
    },
    /// A `--conf` job variable that no stage declares.
    #[error("{0}")]
    Conf(String),
    /// A job of the stage stalled after an executor loss and was cancelled.
    #[error(
        "stage {stage} stalled: Ballista job {job} made no progress after an executor was lost, and was cancelled"
    )]
    Stalled {
        /// Stage id.
        stage: String,
        /// The cancelled job.
        job: String,
    },
    /// The stage failed after executors left the cluster.
    #[error("stage {stage} failed after executor(s) {} left the cluster (killed, crashed or unreachable)", lost.join(", "))]
    ExecutorLost {
        /// Stage id.
        stage: String,
        /// The lost executors, `id (host:port)`.
        lost: Vec<String>,
        /// The stage's own error.
        source: Box<PipelineError>,
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
    /// The job's closing query, as a table (stage 09's per-source
    /// statistics), when its last statement is a query.
    pub summary: Option<String>,
    /// This process's peak resident memory during the stage, in MiB (Linux;
    /// standalone, that includes the in-process scheduler and executor).
    pub peak_rss_mib: Option<f64>,
    /// The ledger checked before the stage's tables were committed (ingest
    /// stages): each raw file's records as its scan counted them.
    pub ledger: Vec<crate::ledger::TableAccount>,
}

/// The whole run.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// One report per stage, in order.
    pub stages: Vec<StageReport>,
    /// The run's wall time: less than the stages' sum when some ran side
    /// by side.
    pub elapsed: Duration,
}

impl RunReport {
    /// The ledgers this run checked, by stage id, for the stage 11 checks
    /// ([`crate::verify::verify_after_run`]).
    pub fn ledgers(&self) -> crate::verify::RunLedgers {
        self.stages
            .iter()
            .filter(|s| !s.ledger.is_empty())
            .map(|s| (s.stage.clone(), s.ledger.clone()))
            .collect()
    }

    /// The highest of the stages' peaks (MiB), when measured.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        self.stages.iter().filter_map(|s| s.peak_rss_mib).reduce(f64::max)
    }

    /// The report as JSON (`moodflow run --report-json`): per stage its
    /// seconds, peak RSS and rows written and rejected per table.
    pub fn to_json(&self) -> serde_json::Value {
        let stages: Vec<serde_json::Value> = self
            .stages
            .iter()
            .map(|s| {
                serde_json::json!({
                    "stage": s.stage,
                    "seconds": s.elapsed.as_secs_f64(),
                    "peak_rss_mib": s.peak_rss_mib,
                    "rows_read": s.rows_read,
                    "written": s.written,
                    "rejected": s.rejected,
                })
            })
            .collect();
        serde_json::json!({
            "stages": stages,
            "seconds": self.elapsed.as_secs_f64(),
            "stages_seconds": self.stages_elapsed().as_secs_f64(),
            "peak_rss_mib": self.peak_rss_mib(),
        })
    }

    /// The stages' own times added up.
    pub fn stages_elapsed(&self) -> Duration {
        self.stages.iter().map(|s| s.elapsed).sum()
    }

    /// A plain-text summary table.
    pub fn render(&self) -> String {
        let mut rows = Vec::new();
        for s in &self.stages {
            for (i, (table, written)) in s.written.iter().enumerate() {
                let rejected = s.rejected.get(table).copied().unwrap_or(0);
                // The stage's own columns on its first line only.
                let (stage, read, time, peak) = if i == 0 {
                    (
                        s.stage.clone(),
                        group(s.rows_read),
                        format!("{:.2}s", s.elapsed.as_secs_f64()),
                        s.peak_rss_mib.map_or_else(String::new, |m| format!("{m:.0} MiB")),
                    )
                } else {
                    Default::default()
                };
                rows.push(vec![
                    stage,
                    table.clone(),
                    read,
                    group(*written),
                    group(rejected),
                    time,
                    peak,
                ]);
            }
        }
        let mut out = crate::output::text_table(
            &["stage", "table", "rows read", "written", "rejected", "time", "peak RSS"],
            &[2, 3, 4, 5, 6],
            rows,
        );
        out.push_str(&format!("\ntotal time {:.2}s", self.elapsed.as_secs_f64()));
        let sum = self.stages_elapsed();
        // Stages that ran side by side each count their whole time.
        if sum > self.elapsed + Duration::from_millis(10) {
            out.push_str(&format!(
                " (the stages' times add up to {:.2}s: some ran side by side)",
                sum.as_secs_f64()
            ));
        }
        match self.peak_rss_mib() {
            Some(peak) => out.push_str(&format!(", peak RSS {peak:.0} MiB\n")),
            None => out.push('\n'),
        }
        for s in &self.stages {
            if let Some(summary) = &s.summary {
                out.push_str(&format!("\n{}:\n{summary}\n", s.stage));
            }
        }
        out
    }
}

pub use crate::output::group;

/// How many stages of a run may run at once: two, so a stage made of
/// chains of small jobs (02, 03, 05) leaves its idle core to one that
/// needs nothing from it (07 needs no MovieLens table), while memory stays
/// that of two stages.
pub const STAGES_AT_ONCE: usize = 2;

/// The variable that overrides [`STAGES_AT_ONCE`] (`1`: the stages one
/// after the other in list order; for comparing, or to bound memory).
pub const STAGES_AT_ONCE_VAR: &str = "MOODFLOW_STAGES_AT_ONCE";

/// [`STAGES_AT_ONCE`], or a positive number in [`STAGES_AT_ONCE_VAR`].
fn stages_at_once() -> usize {
    crate::job::positive_from_env(STAGES_AT_ONCE_VAR, STAGES_AT_ONCE)
}

/// The name of a stage's Ballista jobs (`moodflow 07_ingest_netflix_prize`),
/// by which its progress line and its stall watchdog find them among the
/// jobs of stages running beside it.
pub fn job_name(stage_id: &str) -> String {
    format!("moodflow {stage_id}")
}

/// Runs `stages` against `root`, each as soon as the stages it reads from
/// ([`dependencies`]) have committed, at most [`STAGES_AT_ONCE`] at a
/// time, each on a session of its own; the report lists them in order.
/// After a failure nothing new starts and what runs is waited for (each
/// stage commits only its own tables, and only when it succeeds); the
/// error is that of the first failed stage in list order.
pub async fn run_stages(
    cluster: &Cluster,
    root: &StorageRoot,
    stages: &[Stage],
    conf_vars: &BTreeMap<String, String>,
    options: &PipelineOptions,
    progress: &Progress,
) -> Result<RunReport, PipelineError> {
    // Against every stage of the pipeline, not only those that run now: a
    // Netflix setting is not a typo because this root has no Netflix files.
    let jobs = STAGES
        .iter()
        .chain(NETFLIX_STAGES)
        .chain(stages)
        .filter_map(Stage::job)
        .collect::<Result<Vec<Job>, JobError>>()
        .map_err(|source| PipelineError::Job {
            stage: "(job files)".into(),
            source,
        })?;
    crate::job::check_conf_vars(&jobs, conf_vars).map_err(PipelineError::Conf)?;
    let started = Instant::now();
    let shared = Shared {
        root,
        vars: conf_vars,
        options,
        progress,
        counts: Mutex::new(BTreeMap::new()),
    };
    let reports = in_dependency_order(&dependencies(stages), stages_at_once(), |i, alone| {
        // The peak is reset only when no other stage runs, so each stage's
        // reading covers its whole run (and whatever ran beside it).
        if alone {
            crate::memory::reset_peak_rss();
        }
        run_with_retry(cluster, &stages[i], &shared)
    })
    .await?;
    Ok(RunReport {
        stages: reports,
        elapsed: started.elapsed(),
    })
}

/// What the stages of one run share.
struct Shared<'a> {
    root: &'a StorageRoot,
    vars: &'a BTreeMap<String, String>,
    options: &'a PipelineOptions,
    progress: &'a Progress,
    /// Rows written per table by this run's stages so far.
    counts: Mutex<BTreeMap<String, u64>>,
}

/// Runs `run(i, alone)` for every index once all of `deps[i]` (indexes
/// before `i`) have succeeded, at most `at_once` at a time, starting the
/// ready ones in list order; `alone` says nothing else was running. After
/// a failure nothing new starts and what runs is waited for; the error of
/// the first failed index in list order is returned, else every result
/// in list order.
async fn in_dependency_order<T, E, F, Fut>(deps: &[Vec<usize>], at_once: usize, mut run: F) -> Result<Vec<T>, E>
where
    F: FnMut(usize, bool) -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut results: Vec<Option<T>> = deps.iter().map(|_| None).collect();
    let mut started = vec![false; deps.len()];
    let mut failed: Option<(usize, E)> = None;
    let mut running = FuturesUnordered::new();
    loop {
        if failed.is_none() {
            for i in 0..deps.len() {
                if running.len() >= at_once.max(1) {
                    break;
                }
                if !started[i] && deps[i].iter().all(|&d| d < i && results[d].is_some()) {
                    started[i] = true;
                    let work = run(i, running.is_empty());
                    running.push(async move { (i, work.await) });
                }
            }
        }
        let Some((i, result)) = running.next().await else {
            break;
        };
        match result {
            Ok(t) => results[i] = Some(t),
            Err(e) => {
                if failed.as_ref().is_none_or(|(first, _)| i < *first) {
                    failed = Some((i, e));
                }
            }
        }
    }
    if let Some((_, e)) = failed {
        return Err(e);
    }
    // Without a failure every index ran: each waits only for earlier ones.
    Ok(results.into_iter().flatten().collect())
}

/// Runs one stage on a session of its own, once more if executors were
/// lost during it and others remain.
async fn run_with_retry(cluster: &Cluster, stage: &Stage, shared: &Shared<'_>) -> Result<StageReport, PipelineError> {
    let progress = shared.progress;
    let cluster = &cluster.session(&job_name(&stage.id()));
    let mut attempt = 0;
    // The executors at the first attempt: a retry is watched against
    // them too, since a loss can leave the survivors unable to run
    // anything (Ballista 55 may keep a slot of an aborted task busy).
    let before = crate::census::executors(&cluster.scheduler_url).await;
    let mut stage_report = loop {
        attempt += 1;
        let result = run_watched(cluster, stage, shared, &before).await;
        let e = match result {
            Ok(report) => break report,
            Err(e) => e,
        };
        let lost = match &before {
            Some(before) => crate::census::lost(&cluster.scheduler_url, before).await,
            None => Vec::new(),
        };
        if lost.is_empty() {
            return Err(e);
        }
        let names: Vec<String> = lost.iter().map(|l| format!("{} ({})", l.id, l.addr)).collect();
        let remaining = crate::census::executors(&cluster.scheduler_url)
            .await
            .map_or(0, |now| now.iter().filter(|n| !lost.contains(n)).count());
        // The stage's tables are staged and committed only on success,
        // so running it again is safe; once is enough to tell a lost
        // executor from a broken cluster.
        if attempt == 1 && remaining > 0 {
            progress.note(&format!(
                "{}: executor(s) {} lost; running the stage again on the {remaining} remaining",
                stage.id(),
                names.join(", ")
            ));
            continue;
        }
        return Err(PipelineError::ExecutorLost {
            stage: stage.id(),
            lost: names,
            source: Box::new(e),
        });
    };
    stage_report.peak_rss_mib = crate::memory::peak_rss_mib();
    progress.done(&stage_report);
    Ok(stage_report)
}

/// How long a job may make no progress after an executor loss before it is
/// cancelled (see [`crate::census::watchdog`]).
pub const STALL_AFTER_LOSS: Duration = Duration::from_secs(30);

/// Runs a stage with the stall watchdog beside it.
async fn run_watched(
    cluster: &Cluster,
    stage: &Stage,
    shared: &Shared<'_>,
    before: &Option<Vec<crate::census::Executor>>,
) -> Result<StageReport, PipelineError> {
    let run = run_stage(cluster, stage, shared);
    let Some(before) = before.as_ref().filter(|b| !b.is_empty()) else {
        return run.await;
    };
    let since_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let name = job_name(&stage.id());
    tokio::pin!(run);
    tokio::select! {
        r = &mut run => r,
        job = crate::census::watchdog(&cluster.scheduler_url, &name, before, since_ms, STALL_AFTER_LOSS) => {
            // Cancelled: the client sees the job fail; if even that never
            // arrives, give up on the stage here.
            match tokio::time::timeout(Duration::from_secs(60), &mut run).await {
                Ok(r) => r,
                Err(_) => Err(PipelineError::Stalled { stage: stage.id(), job }),
            }
        }
    }
}

async fn run_stage(cluster: &Cluster, stage: &Stage, shared: &Shared<'_>) -> Result<StageReport, PipelineError> {
    let Shared {
        root,
        vars,
        options,
        progress,
        counts,
    } = shared;
    let started = Instant::now();
    let ticker = progress.start(&stage.id(), Some(&cluster.scheduler_url));
    let mut summary = None;
    let mut ledger = Vec::new();
    let (written, inputs) = match (stage.kind, stage.job()) {
        (_, Some(job)) => {
            let job = job.map_err(|source| PipelineError::Job {
                stage: stage.id(),
                source,
            })?;
            let result = run_job_atomically(&cluster.ctx, root, &job, vars, &[]).await;
            ticker.stop();
            let outcome = result.map_err(|e| match e {
                AtomicError::Job(source) => PipelineError::Job {
                    stage: stage.id(),
                    source,
                },
                AtomicError::Commit(source) => PipelineError::Commit {
                    stage: stage.id(),
                    source,
                },
                AtomicError::Ledger(problem) => PipelineError::Ledger {
                    stage: stage.id(),
                    problem,
                },
            })?;
            if job.ends_with_query() {
                summary = datafusion::arrow::util::pretty::pretty_format_batches(&outcome.last_result)
                    .ok()
                    .map(|t| t.to_string());
            }
            ledger = outcome.ledger;
            (outcome.written, job.curated_inputs())
        }
        (StageKind::TrainRecommender, None) => {
            let result = crate::recommender::run_recommender(cluster, root, &options.recommender).await;
            ticker.stop();
            let trained = result.map_err(|source| PipelineError::Train {
                stage: stage.id(),
                source,
            })?;
            let m = &trained.model;
            progress.note(&format!(
                "{}: rank {} on {} ratings of {} ({} users, {} films), training RMSE {:.4}, validation RMSE {}, {} Ballista jobs",
                stage.id(),
                m.params.rank,
                group(m.ratings),
                m.source,
                group(m.users),
                group(m.items),
                m.iterations.last().map_or(f64::NAN, |i| i.train_rmse),
                m.validation_rmse.map_or("n/a".to_string(), |v| format!("{v:.4}")),
                m.jobs
            ));
            (trained.written, vec![m.source.clone()])
        }
        (_, None) => {
            let result = run_training(cluster, root, options).await;
            ticker.stop();
            let (written, model) = result.map_err(|source| PipelineError::Train {
                stage: stage.id(),
                source,
            })?;
            progress.note(&format!(
                "{}: k = {} of {}..{} (silhouette {:.3}), {} Ballista jobs",
                stage.id(),
                model.k,
                model.k_range[0],
                model.k_range[1],
                model
                    .per_k
                    .iter()
                    .find(|p| p.k == model.k)
                    .map_or(f64::NAN, |p| p.silhouette),
                model.jobs
            ));
            (written, vec!["nf_features".to_string()])
        }
    };
    // The stages this one reads from have finished: their counts are in.
    let mut counts = counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut stage_report = StageReport {
        stage: stage.id(),
        elapsed: started.elapsed(),
        rows_read: inputs.iter().filter_map(|t| counts.get(t)).sum(),
        written: BTreeMap::new(),
        rejected: BTreeMap::new(),
        summary,
        peak_rss_mib: None,
        ledger,
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
    Ok(stage_report)
}

/// Where the model lives below the root.
pub const MODEL_DIR: &str = "models/kmeans_model";

/// Stage 05: trains on `nf_features`, then commits `clustered_movies` and
/// `models/kmeans_model/` together; the staging folder (with the compact
/// features copy) is removed whatever happens.
pub async fn run_training(
    cluster: &Cluster,
    root: &StorageRoot,
    options: &PipelineOptions,
) -> Result<(BTreeMap<String, u64>, Model), TrainError> {
    let staging = commit::new_staging_dir();
    let result = train_into(cluster, root, options, &staging).await;
    commit::remove_staging(&cluster.ctx, root, &staging).await;
    result
}

async fn train_into(
    cluster: &Cluster,
    root: &StorageRoot,
    options: &PipelineOptions,
    staging: &str,
) -> Result<(BTreeMap<String, u64>, Model), TrainError> {
    let runtime = cluster.ctx.runtime_env();
    let trained = train(
        cluster,
        root,
        &format!("{staging}/_kmeans_input"),
        &options.kmeans,
        options.kmeans_partitions,
    )
    .await?;
    let bytes = parquet_bytes(clustered_schema(), std::slice::from_ref(&trained.clustered))?;
    root.write_file(&runtime, &format!("{staging}/clustered_movies/part-0.parquet"), bytes)
        .await?;
    let json = serde_json::to_vec_pretty(&trained.model).map_err(|e| TrainError::Model(e.to_string()))?;
    root.write_file(&runtime, &format!("{staging}/kmeans_model/model.json"), json)
        .await?;
    commit::commit_dir(
        &cluster.ctx,
        root,
        &format!("{staging}/clustered_movies"),
        "curated/clustered_movies",
    )
    .await?;
    commit::commit_dir(&cluster.ctx, root, &format!("{staging}/kmeans_model"), MODEL_DIR).await?;
    let written = BTreeMap::from([("clustered_movies".to_string(), trained.clustered.num_rows() as u64)]);
    Ok((written, trained.model))
}

/// Why training failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Reading, a pass or writing failed.
    #[error(transparent)]
    Engine(#[from] DataFusionError),
    /// The model could not be serialised.
    #[error("cannot write model.json: {0}")]
    Model(String),
    /// The outputs could not be committed.
    #[error(transparent)]
    Commit(#[from] CommitError),
}

/// Reads `models/kmeans_model/model.json` below `root`; `None` before the
/// first training.
pub async fn read_model(ctx: &SessionContext, root: &StorageRoot) -> Result<Option<Model>, DataFusionError> {
    match root
        .read_file(&ctx.runtime_env(), &format!("{MODEL_DIR}/model.json"))
        .await?
    {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| DataFusionError::Execution(format!("{}/model.json: {e}", root.join(MODEL_DIR)))),
    }
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
    /// The ledger does not balance: records read were neither written nor
    /// rejected (or the other way round); nothing was committed.
    #[error("ledger: {0}")]
    Ledger(String),
}

/// Runs a job with `${curated}` pointing at a fresh staging folder, then
/// commits every table it wrote to `ROOT/curated/`. `allowed` are other
/// folders its `COPY`s may write to (see [`crate::job::confine`]). The
/// staging folder is removed whatever happens.
pub async fn run_job_atomically(
    ctx: &SessionContext,
    root: &StorageRoot,
    job: &Job,
    conf_vars: &BTreeMap<String, String>,
    allowed: &[String],
) -> Result<JobOutcome, AtomicError> {
    let staging = commit::new_staging_dir();
    let outputs = crate::job::Outputs {
        curated: root.join(&staging),
        allowed: allowed.to_vec(),
    };
    let result = match job.execute(ctx, &root.as_location(), &outputs, conf_vars).await {
        Ok(outcome) => match check_ledger(ctx, root, job, &staging, conf_vars, outcome).await {
            Ok(outcome) => commit_outcome(ctx, root, &staging, outcome).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(AtomicError::from(e)),
    };
    commit::remove_staging(ctx, root, &staging).await;
    result
}

/// The ledger of an ingest job, on its staged tables: a record read but
/// neither written nor rejected fails the job, naming the file.
async fn check_ledger(
    ctx: &SessionContext,
    root: &StorageRoot,
    job: &Job,
    staging: &str,
    vars: &BTreeMap<String, String>,
    mut outcome: JobOutcome,
) -> Result<JobOutcome, AtomicError> {
    // The empty tables' files come first: the ledger reads what will be committed.
    write_empty_tables(ctx, root, staging, &mut outcome).await?;
    let started = std::time::Instant::now();
    // Counted on a session of this process, not the cluster: each entry is
    // a few queries of Parquet footers and small tables (the scan's split
    // counts, the staged rejects), which as Ballista jobs were 30 of the
    // 77 jobs of a run on the tiny sample and, for stages 01 and 02, on
    // the pipeline's critical path. The client reads the same root to commit and verify.
    let local = moodflow_engine::session_config(&[])
        .and_then(moodflow_engine::local_context)
        .map_err(|e| AtomicError::Ledger(format!("cannot count the ledger: {e}")))?;
    let accounts = crate::ledger::account(&local, job, root, staging, vars, &[])
        .await
        .map_err(|e| AtomicError::Ledger(format!("cannot count the ledger: {e}")))?;
    if !job.ledger.is_empty() {
        tracing::info!(target: "moodflow::profile", "{} ledger: {:.3}s", job.name, started.elapsed().as_secs_f64());
    }
    let problems: Vec<String> = accounts.iter().flat_map(|a| a.problems()).collect();
    if !problems.is_empty() {
        return Err(AtomicError::Ledger(problems.join("; ")));
    }
    outcome.ledger = accounts;
    Ok(outcome)
}

/// Commits a job's tables; a table whose `COPY` wrote no row gets an empty
/// Parquet file with its schema first, so the next stage reads an empty
/// table instead of failing to infer a schema from an empty folder.
async fn commit_outcome(
    ctx: &SessionContext,
    root: &StorageRoot,
    staging: &str,
    mut outcome: JobOutcome,
) -> Result<JobOutcome, AtomicError> {
    write_empty_tables(ctx, root, staging, &mut outcome).await?;
    commit::commit_tables(ctx, root, staging, outcome.written.keys()).await?;
    Ok(outcome)
}

/// Writes an empty Parquet file for every table whose `COPY` wrote no row
/// (once: the list is emptied).
async fn write_empty_tables(
    ctx: &SessionContext,
    root: &StorageRoot,
    staging: &str,
    outcome: &mut JobOutcome,
) -> Result<(), AtomicError> {
    for (table, schema) in std::mem::take(&mut outcome.empty) {
        let bytes = parquet_bytes(schema, &[]).map_err(|e| {
            AtomicError::Commit(CommitError::Store {
                op: "write an empty table",
                path: table.clone(),
                source: Box::new(e),
            })
        })?;
        root.write_file(&ctx.runtime_env(), &format!("{staging}/{table}/part-0.parquet"), bytes)
            .await
            .map_err(|e| {
                AtomicError::Commit(CommitError::Store {
                    op: "write an empty table",
                    path: root.join(&format!("{staging}/{table}")),
                    source: Box::new(e),
                })
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn each_stage_waits_for_the_stages_whose_tables_it_reads() {
        let nf = NetflixInputs {
            titles_file: "movie_titles.csv".into(),
            rating_files: vec!["combined_data_1.txt".into()],
        };
        let (stages, _) = run_plan(Some(&nf));
        let numbers: Vec<&str> = stages.iter().map(|s| s.number).collect();
        assert_eq!(numbers, ["01", "02", "03", "04", "05", "06", "07", "08", "09", "12"]);
        let deps: Vec<Vec<&str>> = dependencies(&stages)
            .iter()
            .map(|d| d.iter().map(|&j| stages[j].number).collect())
            .collect();
        // Read off the job files' `${root}/curated/…` tables by hand.
        let want: Vec<Vec<&str>> = vec![
            vec![],                 // 01: raw files only
            vec!["01"],             // 02: movies, tags
            vec!["01", "02"],       // 03: movies, ratings; text, evidence
            vec!["01", "03"],       // 04: ratings; movies with sentiment
            vec!["04"],             // 05: nf_features
            vec!["01", "04", "05"], // 06: movies; features; clusters
            vec![],                 // 07: raw Netflix files only
            vec!["01", "07"],       // 08: MovieLens movies; Netflix titles
            vec!["01", "07", "08"], // 09: both ratings; the bridge
            vec!["01", "09"],       // 12: unified or MovieLens ratings
        ];
        assert_eq!(deps, want);
        // A stage whose source is not in the list reads the last commit.
        assert_eq!(dependencies(&STAGES[4..6]), vec![vec![], vec![0]]);
    }

    /// What the fake stages of [`in_dependency_order`]'s tests did, in order.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Event {
        Start(usize),
        End(usize),
    }

    async fn run_fake(
        deps: &[Vec<usize>],
        at_once: usize,
        millis: &[u64],
        fail: &[usize],
    ) -> (Result<Vec<usize>, String>, Vec<Event>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let result = in_dependency_order(deps, at_once, |i, _alone| {
            let log = log.clone();
            let (ms, fails) = (millis[i], fail.contains(&i));
            async move {
                log.lock().expect("log").push(Event::Start(i));
                tokio::time::sleep(Duration::from_millis(ms)).await;
                log.lock().expect("log").push(Event::End(i));
                if fails {
                    Err(format!("stage {i} failed"))
                } else {
                    Ok(i)
                }
            }
        })
        .await;
        let events = log.lock().expect("log").clone();
        (result, events)
    }

    fn position(events: &[Event], e: Event) -> usize {
        events
            .iter()
            .position(|x| *x == e)
            .unwrap_or_else(|| panic!("{e:?} in {events:?}"))
    }

    #[tokio::test]
    async fn stages_start_when_what_they_read_is_done_at_most_n_at_once() {
        // 0 -> 1 -> 2 (a chain), 3 independent, 4 needs 2 and 3.
        let deps = vec![vec![], vec![0], vec![1], vec![], vec![2, 3]];
        let (result, events) = run_fake(&deps, 2, &[10, 10, 10, 25, 5], &[]).await;
        assert_eq!(result, Ok(vec![0, 1, 2, 3, 4]), "results in list order");
        for (i, d) in deps.iter().enumerate() {
            for &j in d {
                assert!(
                    position(&events, Event::End(j)) < position(&events, Event::Start(i)),
                    "{i} started before {j} ended: {events:?}"
                );
            }
        }
        let mut running = 0usize;
        let mut most = 0;
        for e in &events {
            running = match e {
                Event::Start(_) => running + 1,
                Event::End(_) => running - 1,
            };
            most = most.max(running);
        }
        assert_eq!(most, 2, "{events:?}");
        // The independent stage ran beside the chain, not after it.
        assert!(
            position(&events, Event::Start(3)) < position(&events, Event::End(0)),
            "{events:?}"
        );

        // One at a time is the list order.
        let (_, events) = run_fake(&deps, 1, &[10, 10, 10, 25, 5], &[]).await;
        let order: Vec<Event> = (0..5).flat_map(|i| [Event::Start(i), Event::End(i)]).collect();
        assert_eq!(events, order);
    }

    #[tokio::test]
    async fn after_a_failure_nothing_starts_what_runs_finishes_and_the_first_in_list_order_is_the_error() {
        let deps = vec![vec![], vec![0], vec![], vec![1]];
        // 1 fails at 20 ms while 2 (independent, 50 ms) runs: 2 finishes,
        // 3 never starts.
        let (result, events) = run_fake(&deps, 2, &[10, 10, 50, 10], &[1]).await;
        assert_eq!(result, Err("stage 1 failed".to_string()));
        assert!(events.contains(&Event::End(2)), "{events:?}");
        assert!(!events.contains(&Event::Start(3)), "{events:?}");
        // Both fail, the later-listed one first in time: the error is the
        // earlier-listed stage's, as when they run one after the other.
        let (result, _) = run_fake(&[vec![], vec![]], 2, &[30, 10], &[0, 1]).await;
        assert_eq!(result, Err("stage 0 failed".to_string()));
    }
}
