//! An in-process Ballista cluster: moodflow's scheduler and one executor
//! (the same roles as `moodflow-scheduler` and `moodflow-executor`) inside
//! this process, for `moodflow run` without `--scheduler`, and the tests.
//! The pipeline and the dashboard do not link it: they take a
//! [`Cluster`], however it was made.

use std::path::{Path, PathBuf};

use ballista_core::extension::SessionConfigExt;
use datafusion::common::{DataFusionError, Result};
use datafusion::prelude::SessionConfig;
use moodflow_engine::{session_state, Cluster};
use moodflow_executor::{free_port, ExecutorOptions};
use moodflow_scheduler::SchedulerOptions;

/// `SessionConfig::new_with_ballista`'s target partitions.
const BALLISTA_TARGET_PARTITIONS: usize = 16;

/// An in-process Ballista cluster and a session on it: moodflow's scheduler
/// and one executor (as many task slots as `ballista.standalone.parallelism`)
/// as tasks of this runtime, on loopback ports chosen at run time.
///
/// Not Ballista's own standalone mode: its in-process executor can only
/// pull tasks, waiting up to 50 ms for each, which made every job cost
/// about 100 ms and the pipeline latency-bound; these two talk gRPC with
/// push scheduling, exactly as a real cluster does.
pub async fn standalone(config: SessionConfig) -> Result<Cluster> {
    let slots = config.ballista_standalone_parallelism();
    let state = session_state(standalone_config(config, slots)?)?;
    let port = free_port()?;
    let scheduler = SchedulerOptions::local(port);
    tokio::spawn(async move {
        if let Err(e) = moodflow_scheduler::run(scheduler).await {
            tracing::error!("in-process scheduler stopped: {e}");
        }
    });
    let scratch = scratch_dir(std::env::var_os(SCRATCH_VAR).map(PathBuf::from));
    let work = std::sync::Arc::new(
        tempfile::Builder::new()
            .prefix("moodflow-executor-")
            .tempdir_in(&scratch)
            .map_err(|e| {
                DataFusionError::Configuration(format!(
                    "cannot create the executor's work dir in {}: {e}",
                    scratch.display()
                ))
            })?,
    );
    tracing::debug!("in-process executor's shuffle files under {}", work.path().display());
    let executor = ExecutorOptions::local(port, slots, work.path())?;
    tokio::spawn(async move {
        if let Err(e) = moodflow_executor::run(executor).await {
            tracing::error!("in-process executor stopped: {e}");
        }
    });
    // Ready when the scheduler lists the executor.
    let rest = moodflow_engine::rest::SchedulerRest::new(
        &format!("http://127.0.0.1:{port}"),
        std::time::Duration::from_secs(2),
    )
    .map_err(|e| DataFusionError::Configuration(e.to_string()))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if rest.executors().await.is_ok_and(|list| !list.is_empty()) {
            break;
        }
        if std::time::Instant::now() > deadline {
            return Err(DataFusionError::Configuration(format!(
                "the in-process scheduler (port {port}) and executor did not start within 60 s"
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Cluster::connect(format!("http://127.0.0.1:{port}"), state, Some(work))
}

/// The variable naming the folder under which the in-process executor
/// keeps its shuffle files (a fresh folder inside it, removed at the end).
pub const SCRATCH_VAR: &str = "MOODFLOW_SCRATCH";

/// Memory-backed scratch (a tmpfs on Linux), used when it has
/// [`RAM_SCRATCH_MIN_FREE`] available.
pub const RAM_SCRATCH: &str = "/dev/shm";

/// What [`RAM_SCRATCH`] must have available to be used: Ballista deletes a
/// job's intermediate shuffle files when the job ends, so its peak is the
/// largest job's shuffle (measured at 10M ratings in the README's
/// "Benchmarks").
pub const RAM_SCRATCH_MIN_FREE: u64 = 4 << 30;

/// Where the in-process executor's shuffle files go: `explicit` (from
/// [`SCRATCH_VAR`]) when given; else [`RAM_SCRATCH`] when it is a folder
/// with room; else the system's temporary folder.
///
/// Why not simply the temporary folder: Ballista writes every task's
/// shuffle output as new folders and files and deletes a job's
/// intermediate ones as soon as the job ends, so a pipeline of hundreds of
/// short jobs creates and deletes thousands of files within seconds. On an
/// ext4 without a journal (this project's machines) each new file then
/// makes the kernel check every recently deleted inode of its group
/// (`recently_deleted` in `find_inode_bit`); `perf` of stages 01-09 at 1M
/// ratings showed about a quarter of all CPU samples there. Such
/// short-lived files sit in the page cache on a disk too, never reaching
/// it, so memory-backed scratch holds no more memory than they did.
pub fn scratch_dir(explicit: Option<PathBuf>) -> PathBuf {
    if let Some(dir) = explicit.filter(|d| !d.as_os_str().is_empty()) {
        return dir;
    }
    let ram = Path::new(RAM_SCRATCH);
    let room = rustix::fs::statvfs(ram).map_or(0, |s| s.f_bavail.saturating_mul(s.f_frsize));
    if ram.is_dir() && room >= RAM_SCRATCH_MIN_FREE {
        return ram.to_path_buf();
    }
    std::env::temp_dir()
}

/// The settings that differ when the whole cluster is this process, each
/// only where `config` still has Ballista's default (a `--conf` wins).
pub fn standalone_config(config: SessionConfig, slots: usize) -> Result<SessionConfig> {
    // Ballista's default of 16 target partitions is sized for a cluster;
    // with one partition per task, every scan of a small table here was 16
    // tasks queued on two slots, and a UNION of eight such scans 128. Two
    // partitions per slot first (measured on 2 cores, stages 01-09: 13.4 s
    // -> 8.4 s at 1M generated ratings, 28.3 s -> 21.3 s at 10M), now one:
    // several statements and stages run at once, so a slot whose task ends
    // early takes another statement's task rather than a second partition
    // of its own, and each partition costs a task, a shuffle file per
    // reader, a partial aggregate and a hash table. Stages 01-09, five
    // alternating rounds: 7.38 s -> 6.66 s, 12.6 s -> 11.5 s of CPU at 10M;
    // 2.84 s -> 2.35 s at 1M; the same rows. Any other
    // `--conf datafusion.execution.target_partitions=N` is kept.
    let mut config = match config.target_partitions() == BALLISTA_TARGET_PARTITIONS {
        true => config.with_target_partitions(slots.max(1)),
        false => config,
    };
    // Shuffle files never leave this machine here (they are written and
    // read by the one executor, in RAM when there is room: see
    // `scratch_dir`), so compressing them with Ballista's default lz4 only
    // costs CPU: 3% of the pipeline's samples in `perf`, 10% of stage
    // 03's. Measured at 10M generated ratings, stages 01-09, three
    // alternating rounds: 19.9 s -> 18.2 s, 34.0 s -> 31.5 s of CPU. A
    // cluster keeps lz4 (its shuffle crosses the network); `--conf
    // ballista.shuffle.compression.codec=…` is kept.
    if !config.ballista_config().settings().contains_key(SHUFFLE_CODEC) {
        config.options_mut().set(SHUFFLE_CODEC, "none")?;
    }
    Ok(config)
}

/// Ballista's setting for the compression of shuffle files.
pub const SHUFFLE_CODEC: &str = ballista_core::config::BALLISTA_SHUFFLE_COMPRESSION_CODEC;

/// A session on the scheduler at `scheduler` (`df://host:port`) when given,
/// else on an in-process cluster ([`standalone`]).
pub async fn connect(scheduler: Option<&str>, config: SessionConfig) -> Result<Cluster> {
    match scheduler {
        Some(url) => moodflow_engine::remote(url, config).await,
        None => standalone(config).await,
    }
}
