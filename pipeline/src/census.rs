//! Which executors a scheduler has, from its REST API, and which of them
//! are gone: when a stage fails on a cluster, the error names the executors
//! that were lost during it (Ballista's own error often only says that a
//! fetch or a task failed). And a watchdog for the case where Ballista 55
//! neither recovers nor fails: after an executor loss its stage rollback
//! can leave a job waiting forever for a task it never reschedules.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use moodflow_engine::rest::SchedulerRest;

/// An executor as the scheduler lists it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Executor {
    /// Ballista's executor id.
    pub id: String,
    /// `host:port` of its Flight service.
    pub addr: String,
}

/// The executors registered with the scheduler at `rest` (`http://HOST:PORT`);
/// `None` when the scheduler does not answer.
pub async fn executors(rest: &str) -> Option<Vec<Executor>> {
    listed(&SchedulerRest::new(rest, Duration::from_secs(3)).ok()?).await
}

/// [`executors`], through a client already made.
async fn listed(rest: &SchedulerRest) -> Option<Vec<Executor>> {
    let list = rest.executors().await.ok()?;
    let mut out: Vec<Executor> = list
        .into_iter()
        .map(|e| Executor {
            addr: format!("{}:{}", e.host, e.port),
            id: e.id,
        })
        .collect();
    out.sort();
    Some(out)
}

/// Of the executors `before` a stage, those that are no longer registered
/// or no longer accept connections.
pub async fn lost(rest: &str, before: &[Executor]) -> Vec<Executor> {
    match SchedulerRest::new(rest, Duration::from_secs(3)) {
        Ok(rest) => lost_from(&rest, before).await,
        Err(_) => before.to_vec(),
    }
}

/// [`lost`], through a client already made.
async fn lost_from(rest: &SchedulerRest, before: &[Executor]) -> Vec<Executor> {
    let now = listed(rest).await.unwrap_or_default();
    let mut gone = Vec::new();
    for e in before {
        let registered = now.iter().any(|n| n.id == e.id);
        let reachable = registered
            && tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(&e.addr))
                .await
                .is_ok_and(|c| c.is_ok());
        if !reachable {
            gone.push(e.clone());
        }
    }
    gone
}

/// What a job's stages have done so far; unchanged means no progress.
async fn job_signature(rest: &SchedulerRest, job_id: &str) -> Option<String> {
    let stages = rest.stages(job_id).await.ok()?.stages;
    Some(
        stages
            .iter()
            .map(|s| {
                let done = s.tasks.iter().filter(|t| t.is_some()).count();
                format!("{}:{}:{}:{}", s.stage_id, s.stage_status, s.output_rows, done)
            })
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// Watches the jobs named `job_name` started since `since_ms` while some
/// of the executors in `before` are lost: a job whose stages make no
/// progress for `stall` is cancelled (`PATCH /api/job/{id}`), so the stage
/// fails with an error instead of hanging. Returns the cancelled job's id;
/// runs until then. (The name keeps it to its own stage's jobs when stages
/// run side by side.)
pub async fn watchdog(rest: &str, job_name: &str, before: &[Executor], since_ms: u64, stall: Duration) -> String {
    // One client for the whole watch, which runs beside every stage: it
    // made one each second, and reqwest loads the system's root
    // certificates for each (`SchedulerRest::new` was 1.8% of the CPU of a
    // run on the tiny sample in `perf`).
    let client = loop {
        match SchedulerRest::new(rest, Duration::from_secs(3)) {
            Ok(client) => break client,
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    };
    let rest = &client;
    let mut seen: HashMap<String, (String, Instant)> = HashMap::new();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if lost_from(rest, before).await.is_empty() {
            seen.clear();
            continue;
        }
        let Ok(jobs) = rest.jobs().await else {
            continue;
        };
        for job in jobs {
            let running = matches!(job.status.as_str(), "Running" | "Queued");
            if !running || job.start_time < since_ms || job.job_name != job_name {
                continue;
            }
            let id = job.job_id.as_str();
            // The job's own counters, plus its stages' task counts when the
            // scheduler can render them (it may fail to for a rolled-back stage).
            let stages = job_signature(rest, id)
                .await
                .unwrap_or_else(|| "stages unavailable".into());
            let sig = format!("{}:{}:{}", job.status, job.completed_stages, stages);
            let entry = seen
                .entry(id.to_string())
                .or_insert_with(|| (sig.clone(), Instant::now()));
            if entry.0 != sig {
                *entry = (sig, Instant::now());
            } else if entry.1.elapsed() >= stall {
                let cancelled = rest.cancel(id).await;
                tracing::warn!(
                    "job {id} made no progress for {stall:?} after an executor was lost; cancelled it ({cancelled:?})"
                );
                return id.to_string();
            }
        }
    }
}
