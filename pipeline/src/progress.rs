//! Stage progress on stderr: on a terminal an indicatif spinner with the
//! elapsed time and the stage's Ballista jobs as the scheduler's REST API
//! reports them (jobs done, the running job's completed stages); one line
//! per stage otherwise; nothing with `-q`.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use moodflow_engine::rest::{JobResponse, SchedulerRest};

use crate::stages::{group, StageReport};

/// How progress is shown.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    quiet: bool,
}

/// A running stage's live line (an indicatif spinner); cleared when
/// stopped or dropped.
pub struct Ticker {
    bar: Option<ProgressBar>,
    poller: Option<tokio::task::JoinHandle<()>>,
}

impl Ticker {
    /// Stops the live line.
    pub fn stop(self) {}
}

impl Drop for Ticker {
    fn drop(&mut self) {
        if let Some(poller) = self.poller.take() {
            poller.abort();
        }
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Progress {
    /// Progress for this process: nothing with `quiet`; a live spinner on a
    /// terminal (indicatif draws nothing when stderr is not one).
    pub fn new(quiet: bool) -> Self {
        Self { quiet }
    }

    /// Announces a stage and, on a terminal, keeps its elapsed time and
    /// its jobs on the scheduler at `scheduler` (`http://HOST:PORT`) ticking.
    pub fn start(&self, stage: &str, scheduler: Option<&str>) -> Ticker {
        if self.quiet {
            return Ticker {
                bar: None,
                poller: None,
            };
        }
        let target = ProgressDrawTarget::stderr();
        if target.is_hidden() {
            // Not a terminal: one line per stage, for logs.
            eprintln!("▶ {stage}");
            return Ticker {
                bar: None,
                poller: None,
            };
        }
        let bar = ProgressBar::with_draw_target(None, target);
        let style = ProgressStyle::with_template("{spinner} {prefix} {elapsed_precise} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.set_prefix(stage.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        let since_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let rest = scheduler.and_then(|s| SchedulerRest::new(s, Duration::from_secs(1)).ok());
        let poller = rest.map(|rest| {
            let bar = bar.clone();
            let rest = Arc::new(rest);
            tokio::spawn(async move {
                loop {
                    if let Some(line) = job_line(&rest, since_ms).await {
                        bar.set_message(line);
                    }
                    tokio::time::sleep(Duration::from_millis(800)).await;
                }
            })
        });
        Ticker { bar: Some(bar), poller }
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
async fn job_line(rest: &SchedulerRest, since_ms: u64) -> Option<String> {
    let jobs = rest.jobs().await.ok()?;
    let mine: Vec<&JobResponse> = jobs.iter().filter(|j| j.start_time >= since_ms).collect();
    let done = mine.iter().filter(|j| j.status == "Completed").count();
    let mut line = format!("  · {done} Ballista job{} done", if done == 1 { "" } else { "s" });
    if let Some(run) = mine.iter().find(|j| j.status == "Running") {
        line.push_str(&format!(
            " · job {}: stage {}/{}",
            run.job_id.chars().take(7).collect::<String>(),
            run.completed_stages + 1,
            run.num_stages
        ));
    }
    Some(line)
}
