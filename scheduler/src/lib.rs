//! moodflow's Ballista scheduler: Ballista 55's scheduler with moodflow's
//! session installed (the UDFs and table formats through
//! [`moodflow_engine::session_state`], so it can plan any job, and the
//! codecs, so it can split and ship moodflow's plans). The
//! `moodflow-scheduler` binary parses [`SchedulerOptions`] and calls
//! [`run`]; the standalone mode calls the same.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::{SchedulerConfig, TaskDistributionPolicy};
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use datafusion::common::{DataFusionError, Result};
use datafusion::prelude::SessionConfig;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use moodflow_engine::codec::{MoodflowLogicalCodec, MoodflowPhysicalCodec};

/// How tasks are spread over executors (`--task-distribution`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum TaskDistribution {
    /// One task per executor in turn: a small job's tasks land on every
    /// executor (moodflow's default).
    #[default]
    RoundRobin,
    /// Ballista's default: fill the first executor's free slots first, so
    /// a small pipeline may run on one executor only.
    Bias,
}

/// The scheduler's flags (`moodflow-scheduler --help`), also used by the
/// standalone mode.
#[derive(Debug, Clone, clap::Args)]
pub struct SchedulerOptions {
    /// Address to bind (`0.0.0.0` in a container).
    #[arg(long, default_value = "127.0.0.1", env = "MOODFLOW_BIND_HOST")]
    pub bind_host: String,
    /// Port for gRPC and the REST API (Ballista's default is 50050).
    #[arg(long, default_value_t = 50050, env = "MOODFLOW_BIND_PORT")]
    pub bind_port: u16,
    /// Host name that executors and clients use to reach this scheduler.
    #[arg(long, default_value = "localhost", env = "MOODFLOW_EXTERNAL_HOST")]
    pub external_host: String,
    /// Seconds without a heartbeat after which an executor is declared
    /// lost and its tasks run elsewhere (Ballista's default is 180). Must
    /// exceed the executors' `--heartbeat-interval-seconds` (5).
    #[arg(long, default_value_t = 30, env = "MOODFLOW_EXECUTOR_TIMEOUT_SECONDS")]
    pub executor_timeout_seconds: u64,
    /// How tasks are spread over executors: round-robin (one per executor
    /// in turn, so every executor works) or bias (Ballista's default: the
    /// first executor's slots first).
    #[arg(long, value_enum, default_value_t = TaskDistribution::RoundRobin, env = "MOODFLOW_TASK_DISTRIBUTION")]
    pub task_distribution: TaskDistribution,
}

impl SchedulerOptions {
    /// A scheduler on loopback port `port` with the default settings (the
    /// standalone mode and the tests).
    pub fn local(port: u16) -> Self {
        Self {
            bind_host: "127.0.0.1".into(),
            bind_port: port,
            external_host: "127.0.0.1".into(),
            executor_timeout_seconds: 30,
            task_distribution: TaskDistribution::default(),
        }
    }
}

/// Ballista's scheduler configuration with moodflow's session installed.
pub fn scheduler_config(opts: &SchedulerOptions) -> SchedulerConfig {
    let mut config = SchedulerConfig {
        bind_host: opts.bind_host.clone(),
        bind_port: opts.bind_port,
        external_host: opts.external_host.clone(),
        executor_timeout_seconds: opts.executor_timeout_seconds,
        // Look for lost executors often enough that the timeout is what
        // decides how soon their tasks move (Ballista checks every 15 s).
        expire_dead_executor_interval_seconds: (opts.executor_timeout_seconds / 2).clamp(1, 15),
        task_distribution: match opts.task_distribution {
            TaskDistribution::RoundRobin => TaskDistributionPolicy::RoundRobin,
            TaskDistribution::Bias => TaskDistributionPolicy::Bias,
        },
        ..SchedulerConfig::default()
    };
    // moodflow's plan nodes (k-means, Netflix scans) and tables (Netflix),
    // with Ballista's codecs in the chain.
    config.override_physical_codec = Some(Arc::new(MoodflowPhysicalCodec::default()));
    config.override_logical_codec = Some(Arc::new(MoodflowLogicalCodec::default()));
    config.override_session_builder = Some(Arc::new(|c: SessionConfig| moodflow_engine::session_state(c)));
    config.override_config_producer = Some(Arc::new(|| {
        // The settings have no user input here, so this cannot fail; fall
        // back to Ballista's defaults rather than panic if it ever did.
        moodflow_engine::session_config(&[]).unwrap_or_else(|_| SessionConfig::new())
    }));
    config
}

/// Runs the scheduler until the process is stopped.
pub async fn run(opts: SchedulerOptions) -> Result<()> {
    let config = scheduler_config(&opts);
    let addr: SocketAddr = format!("{}:{}", opts.bind_host, opts.bind_port)
        .parse()
        .map_err(|e| DataFusionError::Configuration(format!("scheduler address: {e}")))?;
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| DataFusionError::Configuration(format!("scheduler state: {e}")))?;
    // Ballista's `start_server`, with the listener bound here (below).
    config
        .validate()
        .map_err(|e| DataFusionError::Configuration(format!("scheduler: {e}")))?;
    let scheduler = create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, Arc::new(config))
        .await
        .map_err(|e| DataFusionError::Execution(format!("scheduler: {e}")))?;
    let listener = nodelay_listener(addr)?;
    tracing::info!("moodflow scheduler (Ballista) listening on {addr}");
    start_grpc_service_with_listener(listener, scheduler)
        .await
        .map_err(|e| DataFusionError::Execution(format!("scheduler: {e}")))
}

/// A listening socket on `addr` with `TCP_NODELAY`, which Linux passes on
/// to every connection it accepts.
///
/// Ballista serves the scheduler's gRPC (job submission and the stream of
/// job statuses each client waits on) through axum on a plain listener, so
/// its connections keep Nagle's algorithm: a status message written while
/// the previous one was not yet acknowledged waited for the client's
/// delayed ACK. Measured on the standalone cluster (1M generated ratings,
/// stage 05): the scheduler finished a k-means job 20-25 ms before its
/// client heard of it, on every one of the stage's 23 jobs.
pub fn nodelay_listener(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    let bind = |e: std::io::Error| DataFusionError::Configuration(format!("scheduler: cannot listen on {addr}: {e}"));
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    }
    .map_err(bind)?;
    // As tokio's `TcpListener::bind` does: a restarted scheduler can take
    // its port back at once.
    socket.set_reuseaddr(true).map_err(bind)?;
    socket.set_nodelay(true).map_err(bind)?;
    socket.bind(addr).map_err(bind)?;
    socket.listen(1024).map_err(bind)
}
