//! Stage progress on stderr: on a terminal an indicatif spinner per
//! running stage (stages may run side by side) with the elapsed time and
//! the stage's Ballista jobs as the scheduler's REST API reports them (jobs
//! done, the running job's completed stages); one line per stage
//! otherwise; nothing with `-q`.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use moodflow_engine::rest::{JobResponse, SchedulerRest};

use crate::stages::{group, StageReport};

/// How progress is shown.
#[derive(Debug, Clone)]
pub struct Progress {
    quiet: bool,
    /// The live lines on a terminal; `None` off a terminal or quiet.
    bars: Option<MultiProgress>,
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
        let target = ProgressDrawTarget::stderr();
        let bars = (!quiet && !target.is_hidden()).then(|| MultiProgress::with_draw_target(target));
        Self { quiet, bars }
    }

    /// A line above the live ones (or on stderr when there are none).
    fn println(&self, line: &str) {
        if self.quiet {
            return;
        }
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    /// Announces a stage and, on a terminal, keeps its elapsed time and
    /// its jobs on the scheduler at `scheduler` (`http://HOST:PORT`) ticking.
    pub fn start(&self, stage: &str, scheduler: Option<&str>) -> Ticker {
        let Some(bars) = &self.bars else {
            // Not a terminal: one line per stage, for logs.
            self.println(&format!("▶ {stage}"));
            return Ticker {
                bar: None,
                poller: None,
            };
        };
        let bar = bars.add(ProgressBar::new_spinner());
        let style = ProgressStyle::with_template("{spinner} {prefix} {elapsed_precise} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.set_prefix(stage.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        let since_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let rest = scheduler.and_then(|s| SchedulerRest::new(s, Duration::from_secs(1)).ok());
        let job_name = crate::stages::job_name(stage);
        let poller = rest.map(|rest| {
            let bar = bar.clone();
            let rest = Arc::new(rest);
            tokio::spawn(async move {
                loop {
                    if let Some(line) = job_line(&rest, &job_name, since_ms).await {
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
        let written: u64 = report.written.values().sum();
        let rejected: u64 = report.rejected.values().sum();
        self.println(&format!(
            "✔ {:<20} {:>7.2}s  {:>12} rows written  {:>8} rejected",
            report.stage,
            report.elapsed.as_secs_f64(),
            group(written),
            group(rejected)
        ));
    }

    /// A free-form note ("generating the default sample…").
    pub fn note(&self, msg: &str) {
        self.println(msg);
    }
}

/// The stage's Ballista jobs (named `job_name`, started since `since_ms`)
/// as the scheduler's REST API lists them: "· 3 jobs done · job ab12:
/// stage 1/4".
async fn job_line(rest: &SchedulerRest, job_name: &str, since_ms: u64) -> Option<String> {
    let jobs = rest.jobs().await.ok()?;
    let mine: Vec<&JobResponse> = jobs
        .iter()
        .filter(|j| j.start_time >= since_ms && j.job_name == job_name)
        .collect();
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
