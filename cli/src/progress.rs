//! Stage progress on stderr: a live elapsed-time line on a terminal, one
//! line per stage otherwise, nothing with `-q`.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::pipeline::{group, StageReport};

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

    /// Announces a stage and, on a terminal, keeps its elapsed time ticking.
    pub fn start(&self, stage: &str) -> Ticker {
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
        std::thread::spawn(move || {
            while running.load(Ordering::SeqCst) {
                eprint!("\r\x1b[2K▶ {stage}  {:.1}s", started.elapsed().as_secs_f64());
                let _ = std::io::stderr().flush();
                std::thread::sleep(Duration::from_millis(200));
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
