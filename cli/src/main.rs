//! `moodflow`: generate data, run the pipeline, submit SQL jobs.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use moodflow_engine::{session_config, session_config_at, StorageRoot};
use moodflow_ml::kmeans::driver::Params;
use moodflow_pipeline::generate::{generate, GenerateOptions};
use moodflow_pipeline::job::Job;
use moodflow_pipeline::output::{render, Format};
use moodflow_pipeline::progress::Progress;
use moodflow_pipeline::split_conf;
use moodflow_pipeline::stages::{
    netflix_inputs, run_job_atomically, run_plan, run_stages, PipelineOptions, RECOMMENDER_STAGES, STAGES,
};
use moodflow_standalone::connect;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(version, about = "moodflow: a mood-aware movie pipeline on DataFusion + Ballista")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where a job runs and with which settings.
#[derive(clap::Args)]
struct SessionArgs {
    /// Ballista scheduler to submit to (df://HOST:PORT); standalone when absent.
    #[arg(long)]
    scheduler: Option<String>,
    /// `key=value`: datafusion.*/ballista.* settings, or ${key} job variables.
    #[arg(long = "conf", value_name = "KEY=VALUE")]
    conf: Vec<String>,
}

/// The recommender's training settings (stage 12's defaults).
#[derive(clap::Args)]
struct RecommenderArgs {
    /// Factors per user and per film.
    #[arg(long, default_value_t = 20)]
    rank: usize,
    /// Regularisation of the rating model (times each user's or film's count).
    #[arg(long, default_value_t = 0.15)]
    reg: f64,
    /// Alternations (a user half-step and a film half-step each).
    #[arg(long, default_value_t = 10)]
    iters: usize,
    /// Seed of the starting factors and of the held-out split.
    #[arg(long, default_value_t = 42)]
    seed: i64,
}

impl RecommenderArgs {
    fn params(&self) -> moodflow_ml::recommender::train::Params {
        moodflow_ml::recommender::train::Params {
            rank: self.rank,
            reg: self.reg,
            iters: self.iters,
            seed: self.seed,
            ..Default::default()
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Write a synthetic raw data set (MovieLens, Netflix Prize, catalogue).
    Generate {
        /// Storage root to write `raw/` under (a local directory).
        #[arg(long, default_value = "./data")]
        root: PathBuf,
        /// Number of valid MovieLens ratings (Netflix gets half as many).
        #[arg(long, default_value_t = 100_000)]
        ratings: u64,
        /// Seed of the generator; the same seed gives the same files.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Run the pipeline (stages 01-06, 07-09 when raw/netflix_prize/ has the
    /// Netflix Prize files, 12 the recommender, then the stage 11 checks); generates the default
    /// sample first when the root has no raw data.
    Run {
        /// Storage root: a directory, file://, hdfs://NN:PORT/path or s3://bucket/path.
        #[arg(long, default_value = "./data")]
        root: String,
        #[command(flatten)]
        session: SessionArgs,
        /// No progress or summary, only errors.
        #[arg(short, long)]
        quiet: bool,
        /// Stop after this stage (`--until 09`: everything but the
        /// recommender; the stage 11 checks still run, unless the stop
        /// leaves out a stage whose outputs they check).
        #[arg(long, value_name = "NN")]
        until: Option<String>,
        /// Also write the summary as JSON here (per stage: seconds, peak
        /// RSS, rows written and rejected).
        #[arg(long, value_name = "FILE")]
        report_json: Option<PathBuf>,
    },
    /// Stage 10: retrain k-means on the current nf_features (for tuning),
    /// then rebuild the playlists.
    TrainKmeans {
        /// Storage root.
        #[arg(long, default_value = "./data")]
        root: String,
        /// One k (overrides --k-range).
        #[arg(long)]
        k: Option<usize>,
        /// The k range to choose from by silhouette, `A..B` inclusive.
        #[arg(long, default_value = "3..8")]
        k_range: String,
        /// Seed of the k-means++ seeding.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Most Lloyd's steps per k.
        #[arg(long, default_value_t = 40)]
        max_iter: usize,
        /// Files (partitions) of the compact features copy.
        #[arg(long, default_value_t = 4)]
        partitions: usize,
        #[command(flatten)]
        session: SessionArgs,
    },
    /// Stage 12: retrain the recommender (ALS) on the current ratings.
    TrainRecommender {
        /// Storage root.
        #[arg(long, default_value = "./data")]
        root: String,
        #[command(flatten)]
        training: RecommenderArgs,
        #[command(flatten)]
        session: SessionArgs,
    },
    /// Predicted ratings for `userId,movieId` pairs (bare user ids are
    /// MovieLens users: `12` means `ml:12`).
    Predict {
        /// Storage root with a trained recommender.
        #[arg(long, default_value = "./data")]
        root: String,
        /// CSV with a `userId,movieId` header.
        #[arg(long)]
        pairs: PathBuf,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Personal recommendations: never a film the user rated.
    Recommend {
        /// Storage root with a trained recommender.
        #[arg(long, default_value = "./data")]
        root: String,
        /// One user (`12`, `ml:12` or `nf:1488844`).
        #[arg(long, conflicts_with = "users", required_unless_present = "users")]
        user: Option<String>,
        /// A CSV with a `userId` column.
        #[arg(long)]
        users: Option<PathBuf>,
        /// Only films of this mood (its label, or a word of it).
        #[arg(long)]
        mood: Option<String>,
        /// Films per user.
        #[arg(short = 'n', long, default_value_t = 10)]
        n: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// The recommender on a per-user seeded split: RMSE, MAE, precision,
    /// recall and nDCG at 10, beside the bias and popularity baselines.
    EvaluateRecommender {
        /// Storage root of a finished run.
        #[arg(long, default_value = "./data")]
        root: String,
        /// Share of each user's ratings held out.
        #[arg(long, default_value_t = 0.2)]
        holdout: f64,
        #[command(flatten)]
        training: RecommenderArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        session: SessionArgs,
    },
    /// How well the moods match labelled films and "how do you feel"
    /// sentences (see README "Moods"): balanced accuracies, hit rate, the
    /// emotional share of the clustering.
    EvaluateMoods {
        /// Storage root of a finished run.
        #[arg(long, default_value = "./data")]
        root: String,
        /// Labelled films (`movieId,title,tone`); default: the shipped list
        /// of ml-latest-small films.
        #[arg(long)]
        films: Option<PathBuf>,
        /// Labelled sentences (`sentence,valence,energy`); default: the
        /// shipped list.
        #[arg(long)]
        sentences: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Stage 11: check every output; exits non-zero when a check fails.
    Verify {
        /// Storage root.
        #[arg(long, default_value = "./data")]
        root: String,
    },
    /// Run one SQL job file's statements in order and print the last result.
    Submit {
        /// The job file.
        file: PathBuf,
        /// Storage root substituted for ${root}.
        #[arg(long, default_value = "./data")]
        root: String,
        #[command(flatten)]
        session: SessionArgs,
        /// Output format of the last result.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// A folder (local path or URL) the job's `COPY` statements may write
        /// to besides `${curated}`; repeatable. Without it, a job writes only
        /// its own tables under the root.
        #[arg(long = "allow-output", value_name = "DIR")]
        allow_output: Vec<String>,
    },
    /// Serve the Mood Explorer dashboard over a root's outputs.
    Dashboard {
        /// Storage root of the pipeline's outputs.
        #[arg(long, default_value = "./data")]
        root: String,
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:8502")]
        bind: String,
        /// Seconds between checks for a newer pipeline run.
        #[arg(long, default_value_t = 5)]
        refresh_secs: u64,
        /// Stage 06's damping (`--conf playlist_damping`), for the playlist score.
        #[arg(long, default_value_t = 10.0)]
        damping: f64,
    },
    /// Exit 0 when URL answers 200, 1 otherwise (container health checks,
    /// which have no curl: `moodflow health http://127.0.0.1:8502/health`).
    Health {
        /// An http:// URL.
        url: String,
    },
    /// Print throughput and memory figures (build with --release first).
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// VADER texts per second on one core, direct and through the SQL UDF.
    Vader {
        /// Number of short texts.
        #[arg(long, default_value_t = 1_000_000)]
        texts: usize,
    },
    /// Stages 01-04 on generated data: wall time, rows/s, peak RSS per stage.
    Stages {
        /// Sizes in ratings, comma separated.
        #[arg(long, value_delimiter = ',', default_value = "100000,1000000,10000000")]
        ratings: Vec<u64>,
        /// Scratch directory (replaced for each size).
        #[arg(long, default_value = "./bench-data")]
        dir: PathBuf,
        /// Ballista scheduler to submit to; standalone when absent.
        #[arg(long)]
        scheduler: Option<String>,
    },
    /// Netflix Prize ingest on generated rating files: ratings/s and MB/s
    /// of `wc -l`, of the scan alone and of stage 07.
    Netflix {
        /// Sizes in ratings, comma separated.
        #[arg(long, value_delimiter = ',', default_value = "1000000,100000000")]
        ratings: Vec<u64>,
        /// Scratch directory (replaced for each size).
        #[arg(long, default_value = "./bench-netflix")]
        dir: PathBuf,
        /// Ballista scheduler to submit to; standalone when absent.
        #[arg(long)]
        scheduler: Option<String>,
    },
    /// Stage 12 (ALS) on generated unified ratings: seconds per alternation
    /// and peak RSS.
    Recommender {
        /// Sizes in MovieLens ratings (Netflix gets half as many), comma separated.
        #[arg(long, value_delimiter = ',', default_value = "1000000,10000000")]
        ratings: Vec<u64>,
        /// Scratch directory (replaced for each size).
        #[arg(long, default_value = "./bench-recommender")]
        dir: PathBuf,
        /// Ballista scheduler to submit to; standalone when absent.
        #[arg(long)]
        scheduler: Option<String>,
    },
    /// Stages 01-09 on generated data, as a separate `moodflow run --until
    /// 09` process: wall time and peak RSS per stage and in total; with
    /// `--vs-spark DIR`, the PySpark implementation in DIR (its
    /// `run_all.py`) on the same raw files, and the ratios.
    Pipeline {
        /// Sizes in MovieLens ratings (Netflix gets half as many), comma separated.
        #[arg(long, value_delimiter = ',', default_value = "1000000,10000000")]
        ratings: Vec<u64>,
        /// Scratch directory (one subdirectory per size, kept and reused
        /// while the size matches).
        #[arg(long, default_value = "./bench-pipeline")]
        dir: PathBuf,
        /// A PySpark implementation of the same stages to compare with
        /// (e.g. ../shared/anchors/spark); skipped, with a note, when the
        /// Python cannot import pyspark.
        #[arg(long, value_name = "DIR")]
        vs_spark: Option<PathBuf>,
        /// The Python that runs it.
        #[arg(long, default_value = "python3")]
        spark_python: String,
    },
    /// Latency of trivial jobs (`SELECT 1`): Ballista's fixed cost per job.
    Job {
        /// Ballista scheduler to submit to; standalone when absent.
        #[arg(long)]
        scheduler: Option<String>,
        /// Jobs to time.
        #[arg(long, default_value_t = 50)]
        n: usize,
    },
    /// The dashboard's playlist API under concurrent clients on loopback:
    /// requests/s and latency percentiles.
    Dashboard {
        /// Storage root with a pipeline run's outputs.
        #[arg(long, default_value = "./data")]
        root: String,
        /// Concurrent keep-alive clients.
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// Seconds of load per endpoint.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

/// Warnings and errors, except one line Ballista's scheduler logs at error
/// level when it cannot lay a finished stage's metrics over its plan for a
/// debug printout (the executor's decoded plan of a wide UNION has a few
/// more operators than the scheduler's): nothing failed, the job goes on,
/// and an "ERROR" on every run would send users looking for a fault.
/// `RUST_LOG` replaces this filter.
const DEFAULT_LOG: &str = "warn,ballista_scheduler::display=off";

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG)))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match moodflow_engine::tokio_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("moodflow: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Run on a worker thread (big stack), not on the main thread.
    let result = runtime.block_on(async {
        // The in-process executor listens for Ctrl-C (to leave its
        // scheduler cleanly), which replaces the default of ending the
        // process; end it here, as a user expects.
        tokio::spawn(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("moodflow: interrupted");
                std::process::exit(130);
            }
        });
        tokio::spawn(dispatch(cli.command)).await
    });
    match result.map_err(anyhow::Error::from).and_then(|r| r) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("moodflow: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Generate { root, ratings, seed } => {
            let storage = StorageRoot::parse(&root.to_string_lossy())?;
            let summary = locked(&storage, "generate", async {
                Ok(generate(&root, GenerateOptions { ratings, seed })?)
            })
            .await?;
            println!("generated under {}: {summary:?}", root.display());
            Ok(())
        }
        Command::Run {
            root,
            session,
            quiet,
            until,
            report_json,
        } => {
            let storage = StorageRoot::parse(&root)?;
            let options = RunOptions {
                quiet,
                until,
                report_json,
            };
            locked(
                &storage,
                "run",
                run(&root, session.scheduler.as_deref(), &session.conf, &options),
            )
            .await
        }
        Command::TrainKmeans {
            root,
            k,
            k_range,
            seed,
            max_iter,
            partitions,
            session,
        } => {
            let (k_min, k_max) = match k {
                Some(k) => (k, k),
                None => parse_k_range(&k_range)?,
            };
            let options = PipelineOptions {
                kmeans: Params {
                    k_min,
                    k_max,
                    seed,
                    max_iter,
                    ..Params::default()
                },
                kmeans_partitions: partitions,
                ..PipelineOptions::default()
            };
            let storage = StorageRoot::parse(&root)?;
            locked(&storage, "train-kmeans", train_kmeans(&root, &session, &options)).await
        }
        Command::TrainRecommender {
            root,
            training,
            session,
        } => {
            let storage = StorageRoot::parse(&root)?;
            let options = PipelineOptions {
                recommender: training.params(),
                ..PipelineOptions::default()
            };
            locked(
                &storage,
                "train-recommender",
                train_recommender(&root, &session, &options),
            )
            .await
        }
        Command::Predict { root, pairs, out } => predict(&root, &pairs, out.as_ref()).await,
        Command::Recommend {
            root,
            user,
            users,
            mood,
            n,
            format,
        } => recommend(&root, user, users.as_ref(), mood.as_deref(), n, format).await,
        Command::EvaluateRecommender {
            root,
            holdout,
            training,
            json,
            session,
        } => {
            let storage = StorageRoot::parse(&root)?;
            locked(
                &storage,
                "evaluate-recommender",
                evaluate_recommender(&root, holdout, &training, json, &session),
            )
            .await
        }
        Command::Verify { root } => verify(&root).await,
        Command::EvaluateMoods {
            root,
            films,
            sentences,
            json,
        } => evaluate_moods(&root, films.as_ref(), sentences.as_ref(), json).await,
        Command::Submit {
            file,
            root,
            session,
            format,
            allow_output,
        } => {
            let storage = StorageRoot::parse(&root)?;
            let command = format!("submit {}", file.display());
            locked(
                &storage,
                &command,
                submit(&file, &root, &session, format, &allow_output),
            )
            .await
        }
        Command::Dashboard {
            root,
            bind,
            refresh_secs,
            damping,
        } => dashboard(&root, &bind, refresh_secs, damping).await,
        Command::Health { url } => {
            let r = moodflow_engine::rest::get(&url, std::time::Duration::from_secs(3))
                .await
                .with_context(|| format!("{url} does not answer"))?;
            if r.status != 200 {
                bail!("{url} answered {}", r.status);
            }
            println!("{url}: ok");
            Ok(())
        }
        Command::Bench { what } => match what {
            BenchCommand::Vader { texts } => moodflow_pipeline::bench::bench_vader(texts).await,
            BenchCommand::Stages {
                ratings,
                dir,
                scheduler,
            } => {
                let cluster = connect(scheduler.as_deref(), session_config_at(&bench_root(&dir)?, &[])?).await?;
                for n in ratings {
                    moodflow_pipeline::bench::bench_stages(&dir.join(n.to_string()), n, &cluster).await?;
                }
                Ok(())
            }
            BenchCommand::Netflix {
                ratings,
                dir,
                scheduler,
            } => {
                let cluster = connect(scheduler.as_deref(), session_config_at(&bench_root(&dir)?, &[])?).await?;
                for n in ratings {
                    moodflow_pipeline::bench::bench_netflix(&dir.join(n.to_string()), n, &cluster).await?;
                }
                Ok(())
            }
            BenchCommand::Recommender {
                ratings,
                dir,
                scheduler,
            } => {
                let cluster = connect(scheduler.as_deref(), session_config_at(&bench_root(&dir)?, &[])?).await?;
                for n in ratings {
                    moodflow_pipeline::bench::bench_recommender(&dir.join(n.to_string()), n, &cluster).await?;
                }
                Ok(())
            }
            BenchCommand::Pipeline {
                ratings,
                dir,
                vs_spark,
                spark_python,
            } => {
                let exe = std::env::current_exe().context("cannot find the moodflow binary")?;
                let dir = std::path::absolute(&dir)?;
                let spark = match vs_spark {
                    Some(d) => Some(moodflow_pipeline::bench::SparkAnchor {
                        dir: std::path::absolute(&d)?,
                        python: spark_python,
                    }),
                    None => None,
                };
                for n in ratings {
                    moodflow_pipeline::bench::bench_pipeline(&dir.join(n.to_string()), n, &exe, spark.as_ref()).await?;
                }
                Ok(())
            }
            BenchCommand::Job { scheduler, n } => {
                let cluster = connect(scheduler.as_deref(), session_config(&[])?).await?;
                let on = scheduler.as_deref().unwrap_or("an in-process cluster");
                moodflow_pipeline::bench::bench_job(&cluster, on, n.max(1)).await
            }
            BenchCommand::Dashboard { root, clients, seconds } => {
                moodflow_dashboard::bench::run(&StorageRoot::parse(&root)?, clients, seconds).await
            }
        },
    }
}

async fn dashboard(root: &str, bind: &str, refresh_secs: u64, damping: f64) -> Result<()> {
    use moodflow_dashboard::{AppState, Settings};
    let settings = Settings {
        root: StorageRoot::parse(root)?,
        damping,
        refresh: std::time::Duration::from_secs(refresh_secs.max(1)),
    };
    let state = AppState::load(settings)
        .await
        .with_context(|| format!("cannot read the pipeline outputs under {root}"))?;
    let (listener, addr) = moodflow_dashboard::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    if let Err(problem) = state.snapshot() {
        eprintln!("moodflow dashboard: {problem}");
    }
    println!("Mood Explorer on http://{addr}/ (outputs of {root}; Ctrl-C stops it)");
    moodflow_dashboard::serve(state, listener).await?;
    Ok(())
}

/// Runs `work` holding the root's run lock ([`moodflow_pipeline::lock`]): a second
/// run on the same root refuses, naming this one.
async fn locked<T>(root: &StorageRoot, command: &str, work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    let runtime = moodflow_engine::session::runtime_env()?;
    let lock =
        moodflow_pipeline::lock::RunLock::acquire(&runtime, root, command, &|m| eprintln!("moodflow: {m}")).await?;
    let result = work.await;
    lock.release().await;
    result
}

/// How `moodflow run` runs and reports.
struct RunOptions {
    quiet: bool,
    until: Option<String>,
    report_json: Option<PathBuf>,
}

async fn run(root: &str, scheduler: Option<&str>, conf: &[String], options: &RunOptions) -> Result<()> {
    let quiet = options.quiet;
    let root = StorageRoot::parse(root)?;
    let (settings, vars) = split_conf(conf).map_err(anyhow::Error::msg)?;
    let progress = Progress::new(quiet);
    if let Some(dir) = root.local_path() {
        if !dir.join("raw/movielens/ratings.csv").exists() {
            if dir.join("raw").exists() {
                bail!(
                    "{}: raw/ exists but raw/movielens/ratings.csv is missing",
                    dir.display()
                );
            }
            progress.note(&format!(
                "{} has no raw data: generating the default sample (100,000 ratings, seed 42)…",
                dir.display()
            ));
            generate(dir, GenerateOptions::default())?;
        }
    }
    let cluster = connect(scheduler, session_config_at(&root, &settings)?)
        .await
        .context("cannot start a Ballista session")?;
    root.check_reachable(&cluster.ctx.runtime_env(), std::time::Duration::from_secs(30))
        .await?;
    let netflix = netflix_inputs(&cluster.ctx, &root).await?;
    if netflix.is_none() {
        progress.note(&format!(
            "no Netflix Prize files in {}: stages 07-09 skipped",
            root.join(moodflow_pipeline::stages::NETFLIX_DIR)
        ));
    }
    let (mut stages, mut stage_vars) = run_plan(netflix.as_ref());
    // Stages cut off by `--until` whose outputs the stage 11 checks need.
    let mut skipped: Vec<&str> = Vec::new();
    if let Some(until) = &options.until {
        let Some(last) = stages.iter().position(|s| s.number == until.as_str()) else {
            let planned: Vec<&str> = stages.iter().map(|s| s.number).collect();
            bail!("--until {until}: this run's stages are {}", planned.join(", "));
        };
        skipped = stages
            .split_off(last + 1)
            .iter()
            .map(|s| s.number)
            .filter(|n| *n < "11")
            .collect();
    }
    stage_vars.extend(vars);
    let report = run_stages(
        &cluster,
        &root,
        &stages,
        &stage_vars,
        &PipelineOptions::default(),
        &progress,
    )
    .await?;
    if !quiet {
        println!("{}", report.render());
        println!("outputs under {}", root.join("curated"));
    }
    if let Some(path) = &options.report_json {
        std::fs::write(path, serde_json::to_string_pretty(&report.to_json())?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if !skipped.is_empty() {
        progress.note(&format!(
            "stage 11 checks skipped: --until stops before stages {}, whose outputs they check",
            skipped.join(", ")
        ));
        return Ok(());
    }
    let checks = moodflow_pipeline::verify::verify_after_run(&root, &report.ledgers()).await?;
    if !quiet || !checks.passed() {
        print!("{}", checks.render());
    }
    if !checks.passed() {
        bail!("stage 11_verify: quality checks failed");
    }
    Ok(())
}

fn parse_k_range(s: &str) -> Result<(usize, usize)> {
    let (a, b) = s
        .split_once("..")
        .with_context(|| format!("--k-range '{s}': expected A..B"))?;
    let a: usize = a
        .trim()
        .parse()
        .with_context(|| format!("--k-range '{s}': '{a}' is not a number"))?;
    let b: usize = b
        .trim()
        .parse()
        .with_context(|| format!("--k-range '{s}': '{b}' is not a number"))?;
    if a < 2 || a > b {
        bail!("--k-range '{s}': need 2 <= A <= B");
    }
    Ok((a, b))
}

/// A benchmark's folder as the root its jobs write under (its Parquet
/// codec is the one `moodflow run` would use there).
fn bench_root(dir: &std::path::Path) -> Result<StorageRoot> {
    Ok(StorageRoot::parse(&dir.to_string_lossy())?)
}

async fn train_kmeans(root: &str, session: &SessionArgs, options: &PipelineOptions) -> Result<()> {
    let root = StorageRoot::parse(root)?;
    let (settings, vars) = split_conf(&session.conf).map_err(anyhow::Error::msg)?;
    let cluster = connect(session.scheduler.as_deref(), session_config_at(&root, &settings)?)
        .await
        .context("cannot start a Ballista session")?;
    let stages: Vec<_> = STAGES
        .iter()
        .filter(|s| s.number == "05" || s.number == "06")
        .cloned()
        .collect();
    let progress = Progress::new(false);
    let report = run_stages(&cluster, &root, &stages, &vars, options, &progress).await?;
    println!("{}", report.render());
    if let Some(model) = moodflow_pipeline::stages::read_model(&cluster.ctx, &root).await? {
        let rows = model.per_k.iter().map(|p| {
            vec![
                p.k.to_string(),
                format!("{:.4}", p.silhouette),
                format!("{:.2}", p.cost),
                p.iterations.to_string(),
                if p.k == model.k { "<- chosen" } else { "" }.to_string(),
            ]
        });
        let header = ["k", "silhouette", "cost", "iterations", ""];
        println!(
            "{}",
            moodflow_pipeline::output::text_table(&header, &[0, 1, 2, 3], rows)
        );
        for m in &model.moods {
            println!("mood {}: {} ({} movies)", m.cluster, m.label, m.size);
        }
    }
    Ok(())
}

async fn evaluate_moods(root: &str, films: Option<&PathBuf>, sentences: Option<&PathBuf>, json: bool) -> Result<()> {
    use moodflow_pipeline::evaluate::{evaluate_moods, FILMS_CSV, SENTENCES_CSV};
    let read = |p: Option<&PathBuf>, default: &str| -> Result<String> {
        p.map_or(Ok(default.to_string()), |p| {
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
        })
    };
    let root = StorageRoot::parse(root)?;
    let e = evaluate_moods(&root, &read(films, FILMS_CSV)?, &read(sentences, SENTENCES_CSV)?).await?;
    if json {
        println!("{}", e.to_json());
    } else {
        print!("{}", e.render());
    }
    Ok(())
}

async fn verify(root: &str) -> Result<()> {
    let root = StorageRoot::parse(root)?;
    let report = moodflow_pipeline::verify::verify(&root).await?;
    print!("{}", report.render());
    if !report.passed() {
        bail!("stage 11_verify: quality checks failed");
    }
    Ok(())
}

async fn submit(file: &PathBuf, root: &str, session: &SessionArgs, format: Format, allow: &[String]) -> Result<()> {
    let root = StorageRoot::parse(root)?;
    let (settings, vars) = split_conf(&session.conf).map_err(anyhow::Error::msg)?;
    let allow_output = allow
        .iter()
        .map(|dir| StorageRoot::parse(dir).map(|d| d.as_location()))
        .collect::<Result<Vec<_>, _>>()?;
    let sql = std::fs::read_to_string(file).with_context(|| format!("cannot read job file {}", file.display()))?;
    let job = Job::parse(file.display().to_string(), &sql)?;
    moodflow_pipeline::job::check_conf_vars([&job], &vars).map_err(anyhow::Error::msg)?;
    let cluster = connect(session.scheduler.as_deref(), session_config_at(&root, &settings)?)
        .await
        .context("cannot start a Ballista session")?;
    root.check_reachable(&cluster.ctx.runtime_env(), std::time::Duration::from_secs(30))
        .await?;
    let outcome = run_job_atomically(&cluster.ctx, &root, &job, &vars, &allow_output).await?;
    print!("{}", render(&outcome.last_result, format)?);
    if format == Format::Table {
        println!();
    }
    Ok(())
}

async fn train_recommender(root: &str, session: &SessionArgs, options: &PipelineOptions) -> Result<()> {
    let root = StorageRoot::parse(root)?;
    let (settings, vars) = split_conf(&session.conf).map_err(anyhow::Error::msg)?;
    let cluster = connect(session.scheduler.as_deref(), session_config_at(&root, &settings)?)
        .await
        .context("cannot start a Ballista session")?;
    let progress = Progress::new(false);
    let report = run_stages(&cluster, &root, RECOMMENDER_STAGES, &vars, options, &progress).await?;
    println!("{}", report.render());
    if let Some(model) = moodflow_pipeline::recommender::read_model(&cluster.ctx, &root).await? {
        let rows = model.iterations.iter().map(|i| {
            vec![
                i.iteration.to_string(),
                format!("{:.4}", i.train_rmse),
                format!("{:.2}s", i.seconds),
            ]
        });
        println!(
            "{}",
            moodflow_pipeline::output::text_table(&["iteration", "training RMSE", "time"], &[0, 1, 2], rows)
        );
        if let Some(v) = model.validation_rmse {
            println!(
                "validation RMSE {v:.4} on {} held-out ratings",
                moodflow_pipeline::output::group(model.validation_pairs)
            );
        }
    }
    Ok(())
}

/// A local (client-side) session: predictions and recommendations read
/// the trained factors and need no cluster.
fn local() -> Result<datafusion::prelude::SessionContext> {
    Ok(moodflow_engine::session::local_context(session_config(&[])?)?)
}

async fn loaded(
    ctx: &datafusion::prelude::SessionContext,
    root: &StorageRoot,
    users: moodflow_pipeline::recommender::Users<'_>,
) -> Result<moodflow_ml::recommender::model::Factors> {
    moodflow_pipeline::recommender::load_factors(ctx, root, users)
        .await?
        .with_context(|| {
            format!(
                "{} has no trained recommender: run `moodflow run` or `moodflow train-recommender` first",
                root.join(moodflow_pipeline::recommender::MODEL_DIR)
            )
        })
}

async fn predict(root: &str, pairs: &PathBuf, out: Option<&PathBuf>) -> Result<()> {
    use moodflow_pipeline::recommender::{predict_csv, read_pairs, Users};
    let root = StorageRoot::parse(root)?;
    let text = std::fs::read_to_string(pairs).with_context(|| format!("cannot read {}", pairs.display()))?;
    let pairs = read_pairs(&text, &pairs.display().to_string()).map_err(anyhow::Error::msg)?;
    let mut ids: Vec<String> = pairs.iter().map(|(u, _)| u.clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    let factors = loaded(&local()?, &root, Users::Some(&ids)).await?;
    let csv = predict_csv(&factors, &pairs).map_err(anyhow::Error::msg)?;
    match out {
        Some(path) => std::fs::write(path, csv).with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{csv}"),
    }
    Ok(())
}

async fn recommend(
    root: &str,
    user: Option<String>,
    users: Option<&PathBuf>,
    mood: Option<&str>,
    n: usize,
    format: Format,
) -> Result<()> {
    use moodflow_ml::recommender::model::user_id;
    use moodflow_pipeline::recommender::{
        films, ratings_of, read_user_ids, recommend_for, recommendations_batch, resolve_mood, Users,
    };
    let root = StorageRoot::parse(root)?;
    let ids: Vec<String> = match (user, users) {
        (Some(u), _) => vec![user_id(&u)],
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            read_user_ids(&text, &path.display().to_string()).map_err(anyhow::Error::msg)?
        }
        (None, None) => bail!("give --user ID or --users FILE.csv"),
    };
    let ctx = local()?;
    let factors = loaded(&ctx, &root, Users::Some(&ids)).await?;
    let films = films(&ctx, &root).await?;
    let mood = match mood {
        Some(m) => Some(resolve_mood(m, films.values().map(|(_, m)| m.as_str())).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let rated = ratings_of(&ctx, &root, &factors.info, &ids).await?;
    let mut lists = Vec::new();
    for id in &ids {
        let Some(vectors) = factors.users.get(id) else {
            bail!(
                "user {id} has no factors (unknown, or all of their ratings were held out for validation); \
                 the dashboard's new-user page recommends from a few ratings"
            );
        };
        let theirs = rated.get(id).map(Vec::as_slice).unwrap_or_default();
        lists.push((
            id.clone(),
            recommend_for(&factors, &films, vectors, theirs, mood.as_deref(), n),
        ));
    }
    let batch = recommendations_batch(&lists, format == Format::Csv)?;
    print!("{}", render(&[batch], format)?);
    if format == Format::Table {
        println!();
    }
    Ok(())
}

async fn evaluate_recommender(
    root: &str,
    holdout: f64,
    training: &RecommenderArgs,
    json: bool,
    session: &SessionArgs,
) -> Result<()> {
    let root = StorageRoot::parse(root)?;
    let (settings, _) = split_conf(&session.conf).map_err(anyhow::Error::msg)?;
    let cluster = connect(session.scheduler.as_deref(), session_config_at(&root, &settings)?)
        .await
        .context("cannot start a Ballista session")?;
    let report =
        moodflow_pipeline::recommender::evaluate_recommender(&cluster, &root, holdout, &training.params()).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "per-user split: {:.0}% held out (seed {}), {} training and {} held-out ratings ({} of films in the training split: \
         RMSE and MAE; \"RMSE all\" gives the rest the fallback); ranking over {} users with a held-out film rated >= 4",
        report.holdout * 100.0,
        report.seed,
        moodflow_pipeline::output::group(report.train_ratings as u64),
        moodflow_pipeline::output::group(report.test_ratings as u64),
        moodflow_pipeline::output::group(report.known_pairs as u64),
        report.ranked_users
    );
    let num = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
    let rows = report.methods.iter().map(|m| {
        vec![
            m.method.clone(),
            num(m.rmse),
            num(m.mae),
            num(m.rmse_all),
            format!("{:.4}", m.precision),
            format!("{:.4}", m.recall),
            format!("{:.4}", m.ndcg),
        ]
    });
    println!(
        "{}",
        moodflow_pipeline::output::text_table(
            &[
                "method",
                "RMSE",
                "MAE",
                "RMSE all",
                "precision@10",
                "recall@10",
                "nDCG@10"
            ],
            &[1, 2, 3, 4, 5, 6],
            rows
        )
    );
    Ok(())
}
