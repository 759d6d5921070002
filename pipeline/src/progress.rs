//! Stage progress on stderr: on a terminal a live line with the elapsed
//! time and the stage's Ballista jobs as the scheduler's REST API reports
//! them (jobs done, the running job's completed stages); one line per stage
//! otherwise; nothing with `-q`.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::stages::{group, StageReport};

/// How progress is shown.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    quiet: bool,
    live: bool,
}

/// A running stage's live line; stops when dropped or stopped.
pub struct Ticker {
    running: Option<Arc<AtomicBool>>,
}

impl Ticker {
    /// Stops the live line.
    pub fn stop(self) {}
}

impl Drop for Ticker {
    fn drop(&mut self) {
        if let Some(flag) = self.running.take() {
            flag.store(false, Ordering::SeqCst);
            eprint!("\r\x1b[2K");
        }
    }
}

impl Progress {
    /// Progress for this process: live when stderr is a terminal.
    pub fn new(quiet: bool) -> Self {
        Self {
            quiet,
            live: std::io::stderr().is_terminal(),
        }
    }

    /// Announces a stage and, on a terminal, keeps its elapsed time and
    /// its jobs on the scheduler at `scheduler` (`http://HOST:PORT`) ticking.
    pub fn start(&self, stage: &str, scheduler: Option<&str>) -> Ticker {
        if self.quiet {
            return Ticker { running: None };
        }
        if !self.live {
            eprintln!("▶ {stage}");
            return Ticker { running: None };
        }
        let flag = Arc::new(AtomicBool::new(true));
        let running = Arc::clone(&flag);
        let stage = stage.to_string();
        let started = Instant::now();
        let since_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let jobs_url = scheduler.map(|s| format!("{}/api/jobs", s.trim_end_matches('/')));
        tokio::spawn(async move {
            let mut jobs = String::new();
            let mut tick = 0u64;
            while running.load(Ordering::SeqCst) {
                if let (Some(url), 0) = (&jobs_url, tick % 4) {
                    if let Some(line) = job_line(url, since_ms).await {
                        jobs = line;
                    }
                }
                if !running.load(Ordering::SeqCst) {
                    break;
                }
                eprint!("\r\x1b[2K▶ {stage}  {:.1}s{jobs}", started.elapsed().as_secs_f64());
                let _ = std::io::stderr().flush();
                tick += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        Ticker { running: Some(flag) }
    }

    /// Reports a finished stage.
    pub fn done(&self, report: &StageReport) {
        if self.quiet {
            return;
        }
        let written: u64 = report.written.values().sum();
        let rejected: u64 = report.rejected.values().sum();
        eprintln!(
            "✔ {:<20} {:>7.2}s  {:>12} rows written  {:>8} rejected",
            report.stage,
            report.elapsed.as_secs_f64(),
            group(written),
            group(rejected)
        );
    }

    /// A free-form note ("generating the default sample…").
    pub fn note(&self, msg: &str) {
        if !self.quiet {
            eprintln!("{msg}");
        }
    }
}

/// The stage's Ballista jobs (started since `since_ms`) as the scheduler's
/// REST API lists them: "· 3 jobs done · job ab12: stage 1/4".
async fn job_line(url: &str, since_ms: u64) -> Option<String> {
    let r = moodflow_engine::http::get(url, Duration::from_secs(1)).await.ok()?;
    let jobs: Vec<serde_json::Value> = serde_json::from_str(&r.body).ok()?;
    let mine: Vec<&serde_json::Value> = jobs
        .iter()
        .filter(|j| j["start_time"].as_u64().is_some_and(|t| t >= since_ms))
        .collect();
    let done = mine.iter().filter(|j| j["status"] == "Completed").count();
    let mut line = format!("  · {done} Ballista job{} done", if done == 1 { "" } else { "s" });
    if let Some(run) = mine.iter().find(|j| j["status"] == "Running") {
        let id = run["job_id"].as_str().unwrap_or("");
        line.push_str(&format!(
            " · job {}: stage {}/{}",
            id.chars().take(7).collect::<String>(),
            run["completed_stages"].as_u64().unwrap_or(0) + 1,
            run["num_stages"].as_u64().unwrap_or(0)
        ));
    }
    Some(line)
}
