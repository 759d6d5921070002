//! A Ballista cluster of separate processes: the real `moodflow-scheduler`
//! and `moodflow-executor` binaries (the caller names them, see
//! [`Binaries`]), on loopback ports chosen at run time, with
//! their logs kept in files so a failure can show them. An executor can be
//! killed with SIGKILL mid-run.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::cluster::{free_port, wait_for_port};

/// The role binaries to start: the test that uses a process cluster
/// passes the ones cargo built for it (`env!("CARGO_BIN_EXE_…")` in the
/// package that owns them), never a possibly stale file found on disk.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// `moodflow-scheduler`.
    pub scheduler: PathBuf,
    /// `moodflow-executor`.
    pub executor: PathBuf,
}

/// One process and where its output goes.
struct Proc {
    child: Child,
    log: PathBuf,
}

fn spawn(bin: &Path, args: &[String], log: PathBuf) -> Proc {
    let out = std::fs::File::create(&log).expect("log file");
    let err = out.try_clone().expect("log file");
    let child = Command::new(bin)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    Proc { child, log }
}

/// A scheduler and executors, each its own process.
pub struct ProcessCluster {
    /// `df://127.0.0.1:PORT`.
    pub url: String,
    /// The scheduler's REST base, `http://127.0.0.1:PORT`.
    pub rest: String,
    /// The executors' Flight addresses (`127.0.0.1:PORT`), as the scheduler lists them.
    pub executor_addrs: Vec<String>,
    scheduler: Proc,
    executors: Vec<Proc>,
    work: tempfile::TempDir,
}

impl ProcessCluster {
    /// Starts a scheduler whose executors expire after `timeout_s` seconds
    /// without a heartbeat, and `executors` executors of `vcores` slots
    /// that send one every quarter of that.
    pub async fn start(bins: &Binaries, executors: usize, vcores: usize, timeout_s: u64) -> Self {
        let work = tempfile::tempdir().expect("work dir");
        let port = free_port();
        let scheduler = spawn(
            &bins.scheduler,
            &[
                "--bind-host=127.0.0.1".into(),
                format!("--bind-port={port}"),
                "--external-host=127.0.0.1".into(),
                format!("--executor-timeout-seconds={timeout_s}"),
            ],
            work.path().join("scheduler.log"),
        );
        let mut cluster = Self {
            url: format!("df://127.0.0.1:{port}"),
            rest: format!("http://127.0.0.1:{port}"),
            executor_addrs: Vec::new(),
            scheduler,
            executors: Vec::new(),
            work,
        };
        wait_for_port(port).await;
        for i in 0..executors {
            let dir = cluster.work.path().join(format!("executor-{i}"));
            std::fs::create_dir_all(&dir).expect("executor dir");
            let (flight, grpc) = (free_port(), free_port());
            let proc = spawn(
                &bins.executor,
                &[
                    "--bind-host=127.0.0.1".into(),
                    "--external-host=127.0.0.1".into(),
                    format!("--port={flight}"),
                    format!("--grpc-port={grpc}"),
                    "--scheduler-host=127.0.0.1".into(),
                    format!("--scheduler-port={port}"),
                    format!("--vcores={vcores}"),
                    format!("--work-dir={}", dir.display()),
                    format!("--heartbeat-interval-seconds={}", (timeout_s / 4).max(1)),
                ],
                cluster.work.path().join(format!("executor-{i}.log")),
            );
            cluster.executors.push(proc);
            cluster.executor_addrs.push(format!("127.0.0.1:{flight}"));
        }
        cluster.wait_for_executors(executors).await;
        cluster
    }

    /// The executors the scheduler lists now (`host:port`).
    pub async fn registered(&self) -> Vec<String> {
        let Ok(rest) = moodflow_engine::rest::SchedulerRest::new(&self.rest, Duration::from_secs(10)) else {
            return Vec::new();
        };
        rest.executors()
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|e| format!("{}:{}", e.host, e.port))
            .collect()
    }

    async fn wait_for_executors(&self, n: usize) {
        for _ in 0..600 {
            if self.registered().await.len() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("executors did not register:\n{}", self.logs());
    }

    /// Kills executor `i` with SIGKILL (no goodbye to the scheduler).
    pub fn kill_executor(&mut self, i: usize) {
        let p = &mut self.executors[i];
        p.child.kill().expect("kill -9");
        let _ = p.child.wait();
    }

    /// Every process's log, for a failure message.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for p in std::iter::once(&self.scheduler).chain(&self.executors) {
            let text = std::fs::read_to_string(&p.log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            out.push_str(&format!("--- {} (last lines)\n", p.log.display()));
            for l in tail.into_iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for ProcessCluster {
    fn drop(&mut self) {
        for p in self.executors.iter_mut().chain(std::iter::once(&mut self.scheduler)) {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }
}
