//! moodflow's Ballista executor: Ballista 55's executor process whose
//! function registry, runtime (object stores) and session settings come from
//! [`moodflow_udfs::session_state`], so it decodes and runs every plan the
//! scheduler sends, UDFs included.

use std::sync::Arc;

use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
use datafusion::prelude::SessionConfig;
use moodflow_udfs::codec::MoodflowPhysicalCodec;
use moodflow_udfs::kmeans::exec::ExecutorName;

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
pub fn executor_config(opts: &ExecutorOptions) -> anyhow::Result<ExecutorProcessConfig> {
    let state = moodflow_udfs::session_state(moodflow_udfs::session_config(&[])?)?;
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
    // Decodes moodflow's plan nodes (k-means), then Ballista's.
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
        moodflow_udfs::session_config(&[])
            .unwrap_or_else(|_| SessionConfig::new())
            .with_extension(Arc::clone(&name))
    }));
    let runtime = state.runtime_env().clone();
    config.override_runtime_producer = Some(Arc::new(move |_: &SessionConfig| Ok(Arc::clone(&runtime))));
    Ok(config)
}

/// Runs the executor until the process is stopped.
pub async fn run(opts: ExecutorOptions) -> anyhow::Result<()> {
    start_executor_process(Arc::new(executor_config(&opts)?)).await?;
    Ok(())
}
