//! moodflow's Ballista executor: Ballista 55's executor process whose
//! function registry, runtime (object stores), session settings and
//! physical codec are moodflow's, so it decodes and runs every plan the
//! scheduler sends. The `moodflow-executor` binary parses
//! [`ExecutorOptions`] and calls [`run`]; the standalone mode calls the same.

use std::sync::Arc;

use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
use datafusion::common::{DataFusionError, Result};
use datafusion::prelude::SessionConfig;
use moodflow_engine::codec::MoodflowPhysicalCodec;
use moodflow_engine::kmeans::exec::ExecutorName;

/// The executor's flags (`moodflow-executor --help`), also used by the
/// standalone mode.
#[derive(Debug, Clone, clap::Args)]
pub struct ExecutorOptions {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1", env = "MOODFLOW_BIND_HOST")]
    pub bind_host: String,
    /// Host name the scheduler and other executors use to reach this executor.
    #[arg(long, env = "MOODFLOW_EXTERNAL_HOST")]
    pub external_host: Option<String>,
    /// Flight (data) port.
    #[arg(long, default_value_t = 50051)]
    pub port: u16,
    /// gRPC port.
    #[arg(long, default_value_t = 50052)]
    pub grpc_port: u16,
    /// Scheduler host.
    #[arg(long, default_value = "localhost", env = "MOODFLOW_SCHEDULER_HOST")]
    pub scheduler_host: String,
    /// Scheduler port.
    #[arg(long, default_value_t = 50050, env = "MOODFLOW_SCHEDULER_PORT")]
    pub scheduler_port: u16,
    /// Concurrent task slots (default: the number of cores).
    #[arg(long)]
    pub vcores: Option<usize>,
    /// Directory for shuffle files.
    #[arg(long)]
    pub work_dir: Option<String>,
    /// Memory pool size in bytes (unbounded when absent).
    #[arg(long)]
    pub memory_pool_size: Option<u64>,
    /// Seconds between heartbeats to the scheduler; keep it well below the
    /// scheduler's `--executor-timeout-seconds` (Ballista's default is 60).
    #[arg(long, default_value_t = 5, env = "MOODFLOW_HEARTBEAT_INTERVAL_SECONDS")]
    pub heartbeat_interval_seconds: u64,
}

impl ExecutorOptions {
    /// An executor of `vcores` slots on free loopback ports, registering
    /// with the scheduler on loopback port `scheduler_port` (the standalone
    /// mode and the tests).
    pub fn local(scheduler_port: u16, vcores: usize, work_dir: &std::path::Path) -> Result<Self> {
        Ok(Self {
            bind_host: "127.0.0.1".into(),
            external_host: Some("127.0.0.1".into()),
            port: free_port()?,
            grpc_port: free_port()?,
            scheduler_host: "127.0.0.1".into(),
            scheduler_port,
            vcores: Some(vcores),
            work_dir: Some(work_dir.to_string_lossy().into_owned()),
            memory_pool_size: None,
            heartbeat_interval_seconds: 5,
        })
    }
}

/// A free loopback port (bound, then released for a server to take).
pub fn free_port() -> Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| DataFusionError::Configuration(format!("no free loopback port: {e}")))
}

/// Ballista's executor configuration with moodflow's session installed.
pub fn executor_config(opts: &ExecutorOptions) -> Result<ExecutorProcessConfig> {
    let state = moodflow_engine::session_state(moodflow_engine::session_config(&[])?)?;
    let mut config = ExecutorProcessConfig {
        bind_host: opts.bind_host.clone(),
        external_host: opts.external_host.clone(),
        port: opts.port,
        grpc_port: opts.grpc_port,
        scheduler_host: opts.scheduler_host.clone(),
        scheduler_port: opts.scheduler_port,
        vcores: opts
            .vcores
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        work_dir: opts.work_dir.clone(),
        memory_pool_size: opts.memory_pool_size,
        executor_heartbeat_interval_seconds: opts.heartbeat_interval_seconds.max(1),
        ..ExecutorProcessConfig::default()
    };
    // Decodes moodflow's plan nodes (k-means, Netflix scans), then Ballista's.
    config.override_physical_codec = Some(Arc::new(MoodflowPhysicalCodec::default()));
    config.override_function_registry = Some(Arc::new(BallistaFunctionRegistry::from(&state)));
    // The executor's name rides in every task's session config, so
    // moodflow's operators can report where they ran.
    let name = Arc::new(ExecutorName(format!(
        "{}:{}",
        opts.external_host.as_deref().unwrap_or(&opts.bind_host),
        opts.port
    )));
    config.override_config_producer = Some(Arc::new(move || {
        moodflow_engine::session_config(&[])
            .unwrap_or_else(|_| SessionConfig::new())
            .with_extension(Arc::clone(&name))
    }));
    let runtime = state.runtime_env().clone();
    config.override_runtime_producer = Some(Arc::new(move |_: &SessionConfig| Ok(Arc::clone(&runtime))));
    Ok(config)
}

/// Runs the executor until the process is stopped.
pub async fn run(opts: ExecutorOptions) -> Result<()> {
    start_executor_process(Arc::new(executor_config(&opts)?))
        .await
        .map_err(|e| DataFusionError::Execution(format!("executor: {e}")))
}
