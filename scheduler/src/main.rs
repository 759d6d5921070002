//! `moodflow-scheduler`: a Ballista scheduler with moodflow's extensions.

use clap::Parser;
use moodflow_scheduler::{run, SchedulerOptions};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(version, about = "Ballista scheduler with moodflow's UDFs and object stores")]
struct Args {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1", env = "MOODFLOW_BIND_HOST")]
    bind_host: String,
    /// Port for gRPC and the REST API.
    #[arg(long, default_value_t = 50050, env = "MOODFLOW_BIND_PORT")]
    bind_port: u16,
    /// Host name that executors and clients use to reach this scheduler.
    #[arg(long, default_value = "localhost", env = "MOODFLOW_EXTERNAL_HOST")]
    external_host: String,
}

fn main() -> anyhow::Result<()> {
    // Big worker stacks: see moodflow_udfs::WORKER_STACK_BYTES.
    let runtime = moodflow_udfs::tokio_runtime()?;
    runtime.block_on(async { tokio::spawn(serve()).await? })
}

async fn serve() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let args = Args::parse();
    run(SchedulerOptions {
        bind_host: args.bind_host,
        bind_port: args.bind_port,
        external_host: args.external_host,
    })
    .await
}
