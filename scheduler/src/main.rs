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
    /// Seconds without a heartbeat after which an executor is declared
    /// lost and its tasks run elsewhere (Ballista's default is 180). Must
    /// exceed the executors' `--heartbeat-interval-seconds` (5).
    #[arg(long, default_value_t = 30, env = "MOODFLOW_EXECUTOR_TIMEOUT_SECONDS")]
    executor_timeout_seconds: u64,
    /// Do not serve: ask the scheduler on 127.0.0.1:--bind-port whether it
    /// answers (its REST API), exit 0 if so, 1 if not. For health checks.
    #[arg(long)]
    health: bool,
}

fn main() -> anyhow::Result<()> {
    // Big worker stacks: see moodflow_udfs::WORKER_STACK_BYTES.
    let runtime = moodflow_udfs::tokio_runtime()?;
    runtime.block_on(async { tokio::spawn(serve()).await? })
}

async fn serve() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.health {
        let url = format!("http://127.0.0.1:{}/api/state", args.bind_port);
        let answer = moodflow_udfs::http::get(&url, std::time::Duration::from_secs(3)).await;
        return match answer {
            Ok(r) if r.status == 200 => {
                println!("scheduler healthy: {}", r.body.trim());
                Ok(())
            }
            Ok(r) => anyhow::bail!("scheduler unhealthy: {url} answered {}", r.status),
            Err(e) => anyhow::bail!("scheduler unhealthy: {url}: {e}"),
        };
    }
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    run(SchedulerOptions {
        bind_host: args.bind_host,
        bind_port: args.bind_port,
        external_host: args.external_host,
        executor_timeout_seconds: args.executor_timeout_seconds,
    })
    .await?;
    Ok(())
}
