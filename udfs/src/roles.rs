//! The two Ballista roles with moodflow's session installed: the
//! scheduler (UDFs and object stores through [`crate::session_state`] so it
//! can plan any SQL, and [`MoodflowPhysicalCodec`] so it can split and ship
//! the k-means plans) and the executor (the same registry, runtime and
//! codec, so it decodes and runs every plan). `moodflow-scheduler`,
//! `moodflow-executor` and the standalone mode all start them from here.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use datafusion::common::{DataFusionError, Result};
use datafusion::prelude::SessionConfig;

use crate::codec::{MoodflowLogicalCodec, MoodflowPhysicalCodec};
use crate::kmeans::exec::ExecutorName;

/// Where the scheduler listens and how it names itself.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Address to bind (`0.0.0.0` in a container).
    pub bind_host: String,
    /// gRPC and REST port (Ballista's default is 50050).
    pub bind_port: u16,
    /// Host name executors and clients use to reach this scheduler.
    pub external_host: String,
    /// Seconds without a heartbeat before an executor counts as lost.
    pub executor_timeout_seconds: u64,
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
        ..SchedulerConfig::default()
    };
    // moodflow's plan nodes (k-means, Netflix scans) and tables (Netflix),
    // with Ballista's codecs in the chain.
    config.override_physical_codec = Some(Arc::new(MoodflowPhysicalCodec::default()));
    config.override_logical_codec = Some(Arc::new(MoodflowLogicalCodec::default()));
    config.override_session_builder = Some(Arc::new(|c: SessionConfig| crate::session_state(c)));
    config.override_config_producer = Some(Arc::new(|| {
        // The settings have no user input here, so this cannot fail; fall
        // back to Ballista's defaults rather than panic if it ever did.
        crate::session_config(&[]).unwrap_or_else(|_| SessionConfig::new())
    }));
    config
}

/// Runs the scheduler until the process is stopped.
pub async fn run_scheduler(opts: SchedulerOptions) -> Result<()> {
    let config = scheduler_config(&opts);
    let addr: SocketAddr = format!("{}:{}", opts.bind_host, opts.bind_port)
        .parse()
        .map_err(|e| DataFusionError::Configuration(format!("scheduler address: {e}")))?;
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| DataFusionError::Configuration(format!("scheduler state: {e}")))?;
    start_server(cluster, addr, Arc::new(config))
        .await
        .map_err(|e| DataFusionError::Execution(format!("scheduler: {e}")))
}

/// Executor settings exposed as flags.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// Address to bind.
    pub bind_host: String,
    /// Host name the scheduler and other executors use to reach this one.
    pub external_host: Option<String>,
    /// Flight (data) port; 0 picks a free one.
    pub port: u16,
    /// gRPC port; 0 picks a free one.
    pub grpc_port: u16,
    /// Scheduler host.
    pub scheduler_host: String,
    /// Scheduler port.
    pub scheduler_port: u16,
    /// Task slots.
    pub vcores: usize,
    /// Directory for shuffle files.
    pub work_dir: Option<String>,
    /// Memory pool size in bytes (unbounded when absent).
    pub memory_pool_size: Option<u64>,
    /// Seconds between heartbeats to the scheduler.
    pub heartbeat_interval_seconds: u64,
}

/// Ballista's executor configuration with moodflow's session installed.
pub fn executor_config(opts: &ExecutorOptions) -> Result<ExecutorProcessConfig> {
    let state = crate::session_state(crate::session_config(&[])?)?;
    let mut config = ExecutorProcessConfig {
        bind_host: opts.bind_host.clone(),
        external_host: opts.external_host.clone(),
        port: opts.port,
        grpc_port: opts.grpc_port,
        scheduler_host: opts.scheduler_host.clone(),
        scheduler_port: opts.scheduler_port,
        vcores: opts.vcores,
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
        crate::session_config(&[])
            .unwrap_or_else(|_| SessionConfig::new())
            .with_extension(Arc::clone(&name))
    }));
    let runtime = state.runtime_env().clone();
    config.override_runtime_producer = Some(Arc::new(move |_: &SessionConfig| Ok(Arc::clone(&runtime))));
    Ok(config)
}

/// Runs the executor until the process is stopped.
pub async fn run_executor(opts: ExecutorOptions) -> Result<()> {
    start_executor_process(Arc::new(executor_config(&opts)?))
        .await
        .map_err(|e| DataFusionError::Execution(format!("executor: {e}")))
}
