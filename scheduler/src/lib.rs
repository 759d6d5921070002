//! moodflow's Ballista scheduler: Ballista 55's scheduler with moodflow's
//! session (UDFs, object stores, settings) installed through the same
//! [`moodflow_udfs::session_state`] every other side uses, so it can plan
//! any SQL the client sends, and moodflow's physical extension codec, so it
//! can split and ship the k-means plans.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use datafusion::prelude::SessionConfig;
use moodflow_udfs::codec::MoodflowPhysicalCodec;

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
    // moodflow's plan nodes (k-means), with Ballista's codec in the chain.
    config.override_physical_codec = Some(Arc::new(MoodflowPhysicalCodec::default()));
    config.override_session_builder = Some(Arc::new(|c: SessionConfig| moodflow_udfs::session_state(c)));
    config.override_config_producer = Some(Arc::new(|| {
        // The settings have no user input here, so this cannot fail; fall
        // back to Ballista's defaults rather than panic if it ever did.
        moodflow_udfs::session_config(&[]).unwrap_or_else(|_| SessionConfig::new())
    }));
    config
}

/// Runs the scheduler until the process is stopped.
pub async fn run(opts: SchedulerOptions) -> anyhow::Result<()> {
    let config = scheduler_config(&opts);
    let addr: SocketAddr = format!("{}:{}", opts.bind_host, opts.bind_port).parse()?;
    let cluster = BallistaCluster::new_from_config(&config).await?;
    start_server(cluster, addr, Arc::new(config)).await?;
    Ok(())
}
