//! A Ballista cluster inside the test process: moodflow's scheduler and
//! executors (the same code the binaries run), on loopback ports chosen at
//! run time, each executor with its own work directory and name.

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use moodflow_executor::ExecutorOptions;
use moodflow_scheduler::{SchedulerOptions, TaskDistribution};

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits until something accepts connections on `port`.
pub async fn wait_for_port(port: u16) {
    for _ in 0..400 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("nothing listens on port {port}");
}

/// A scheduler and executors running as tasks of the current runtime.
pub struct InProcessCluster {
    /// `df://127.0.0.1:PORT`.
    pub url: String,
    work: tempfile::TempDir,
    executors: usize,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl InProcessCluster {
    /// Starts a scheduler and `executors` executors of `vcores` task slots.
    pub async fn start(executors: usize, vcores: usize) -> Self {
        Self::start_with(executors, vcores, TaskDistribution::default()).await
    }

    /// [`Self::start`] with a task distribution policy.
    pub async fn start_with(executors: usize, vcores: usize, distribution: TaskDistribution) -> Self {
        let port = free_port();
        let mut tasks = vec![tokio::spawn(async move {
            let opts = SchedulerOptions {
                task_distribution: distribution,
                ..SchedulerOptions::local(port)
            };
            if let Err(e) = moodflow_scheduler::run(opts).await {
                eprintln!("in-process scheduler stopped: {e:#}");
            }
        })];
        wait_for_port(port).await;
        let work = tempfile::tempdir().expect("work dir");
        for i in 0..executors {
            let dir = work.path().join(format!("executor-{i}"));
            std::fs::create_dir_all(&dir).expect("executor dir");
            let opts = ExecutorOptions::local(port, vcores, &dir).expect("executor options");
            let flight = opts.port;
            tasks.push(tokio::spawn(async move {
                if let Err(e) = moodflow_executor::run(opts).await {
                    eprintln!("in-process executor stopped: {e:#}");
                }
            }));
            wait_for_port(flight).await;
        }
        let cluster = Self {
            url: format!("df://127.0.0.1:{port}"),
            work,
            executors,
            tasks,
        };
        cluster.wait_for_executors().await;
        cluster
    }

    /// Waits until every executor has registered with the scheduler.
    async fn wait_for_executors(&self) {
        let port = self.url.rsplit(':').next().unwrap_or_default();
        let url = format!("http://127.0.0.1:{port}");
        let rest = moodflow_engine::rest::SchedulerRest::new(&url, Duration::from_secs(10)).expect("client");
        for _ in 0..400 {
            if rest.executors().await.is_ok_and(|list| list.len() >= self.executors) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("executors did not register with {url}");
    }

    /// Work directory of executor `i`.
    pub fn work_dir(&self, i: usize) -> PathBuf {
        self.work.path().join(format!("executor-{i}"))
    }
}

impl Drop for InProcessCluster {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
