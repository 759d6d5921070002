//! An in-process Ballista cluster: moodflow's scheduler and one executor
//! (the same roles as `moodflow-scheduler` and `moodflow-executor`) inside
//! this process, for `moodflow run` without `--scheduler`, and the tests.
//! The pipeline and the dashboard do not link it: they take a
//! [`Cluster`], however it was made.

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
    // Ballista's default of 16 target partitions is sized for a cluster;
    // with one partition per task, every scan of a small table here was 16
    // tasks queued on two slots, and a UNION of eight such scans 128. Two
    // partitions per slot (measured on 2 cores, stages 01-09: 13.4 s ->
    // 8.4 s at 1M generated ratings, 28.3 s -> 21.3 s at 10M). Only when
    // the setting is still Ballista's default: any other
    // `--conf datafusion.execution.target_partitions=N` is kept.
    let config = match config.target_partitions() == BALLISTA_TARGET_PARTITIONS {
        true => config.with_target_partitions((2 * slots).max(1)),
        false => config,
    };
    let state = session_state(config)?;
    let port = free_port()?;
    let scheduler = SchedulerOptions::local(port);
    tokio::spawn(async move {
        if let Err(e) = moodflow_scheduler::run(scheduler).await {
            tracing::error!("in-process scheduler stopped: {e}");
        }
    });
    let work = std::sync::Arc::new(
        tempfile::Builder::new()
            .prefix("moodflow-executor-")
            .tempdir()
            .map_err(|e| DataFusionError::Configuration(format!("cannot create the executor's work dir: {e}")))?,
    );
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

/// A session on the scheduler at `scheduler` (`df://host:port`) when given,
/// else on an in-process cluster ([`standalone`]).
pub async fn connect(scheduler: Option<&str>, config: SessionConfig) -> Result<Cluster> {
    match scheduler {
        Some(url) => moodflow_engine::remote(url, config).await,
        None => standalone(config).await,
    }
}
