//! `moodflow-executor`: a Ballista executor with moodflow's extensions
//! (wiring only: the role is [`moodflow_executor`]).

use clap::Parser;
use moodflow_executor::{run, ExecutorOptions};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    version,
    about = "Ballista executor with moodflow's UDFs, table formats, codecs and object stores"
)]
struct Args {
    #[command(flatten)]
    options: ExecutorOptions,
    /// Do not serve: check that this executor's Flight and gRPC ports on
    /// 127.0.0.1 accept connections, exit 0 if so, 1 if not. For health checks.
    #[arg(long)]
    health: bool,
}

fn main() -> anyhow::Result<()> {
    // Big worker stacks: see moodflow_engine::WORKER_STACK_BYTES.
    let runtime = moodflow_engine::tokio_runtime()?;
    runtime.block_on(async { tokio::spawn(serve()).await? })
}

async fn serve() -> anyhow::Result<()> {
    let a = Args::parse();
    let o = &a.options;
    if a.health {
        for (what, port) in [("flight", o.port), ("grpc", o.grpc_port)] {
            let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
            match tokio::time::timeout(std::time::Duration::from_secs(3), connect).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => anyhow::bail!("executor unhealthy: {what} port {port}: {e}"),
                Err(_) => anyhow::bail!("executor unhealthy: {what} port {port}: no answer in 3 s"),
            }
        }
        println!(
            "executor healthy: ports {} and {} accept connections",
            o.port, o.grpc_port
        );
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    run(a.options).await?;
    Ok(())
}
