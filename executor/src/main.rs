//! `moodflow-executor`: a Ballista executor with moodflow's extensions.

use clap::Parser;
use moodflow_executor::{run, ExecutorOptions};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(version, about = "Ballista executor with moodflow's UDFs and object stores")]
struct Args {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1", env = "MOODFLOW_BIND_HOST")]
    bind_host: String,
    /// Host name the scheduler and other executors use to reach this executor.
    #[arg(long, env = "MOODFLOW_EXTERNAL_HOST")]
    external_host: Option<String>,
    /// Flight (data) port.
    #[arg(long, default_value_t = 50051)]
    port: u16,
    /// gRPC port.
    #[arg(long, default_value_t = 50052)]
    grpc_port: u16,
    /// Scheduler host.
    #[arg(long, default_value = "localhost", env = "MOODFLOW_SCHEDULER_HOST")]
    scheduler_host: String,
    /// Scheduler port.
    #[arg(long, default_value_t = 50050, env = "MOODFLOW_SCHEDULER_PORT")]
    scheduler_port: u16,
    /// Concurrent task slots (default: the number of cores).
    #[arg(long)]
    vcores: Option<usize>,
    /// Directory for shuffle files.
    #[arg(long)]
    work_dir: Option<String>,
    /// Memory pool size in bytes.
    #[arg(long)]
    memory_pool_size: Option<u64>,
    /// Seconds between heartbeats to the scheduler; keep it well below the
    /// scheduler's `--executor-timeout-seconds` (Ballista's default is 60).
    #[arg(long, default_value_t = 5, env = "MOODFLOW_HEARTBEAT_INTERVAL_SECONDS")]
    heartbeat_interval_seconds: u64,
    /// Do not serve: check that this executor's Flight and gRPC ports on
    /// 127.0.0.1 accept connections, exit 0 if so, 1 if not. For health checks.
    #[arg(long)]
    health: bool,
}

fn main() -> anyhow::Result<()> {
    // Big worker stacks: see moodflow_udfs::WORKER_STACK_BYTES.
    let runtime = moodflow_udfs::tokio_runtime()?;
    runtime.block_on(async { tokio::spawn(serve()).await? })
}

async fn serve() -> anyhow::Result<()> {
    let a = Args::parse();
    if a.health {
        for (what, port) in [("flight", a.port), ("grpc", a.grpc_port)] {
            let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
            match tokio::time::timeout(std::time::Duration::from_secs(3), connect).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => anyhow::bail!("executor unhealthy: {what} port {port}: {e}"),
                Err(_) => anyhow::bail!("executor unhealthy: {what} port {port}: no answer in 3 s"),
            }
        }
        println!(
            "executor healthy: ports {} and {} accept connections",
            a.port, a.grpc_port
        );
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    run(ExecutorOptions {
        bind_host: a.bind_host,
        external_host: a.external_host,
        port: a.port,
        grpc_port: a.grpc_port,
        scheduler_host: a.scheduler_host,
        scheduler_port: a.scheduler_port,
        vcores: a
            .vcores
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        work_dir: a.work_dir,
        memory_pool_size: a.memory_pool_size,
        heartbeat_interval_seconds: a.heartbeat_interval_seconds,
    })
    .await?;
    Ok(())
}
