//! `moodflow-scheduler`: a Ballista scheduler with moodflow's extensions
//! (wiring only: the role is [`moodflow_scheduler`]).

use clap::Parser;
use moodflow_scheduler::{run, SchedulerOptions};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    version,
    about = "Ballista scheduler with moodflow's UDFs, table formats, codecs and object stores"
)]
struct Args {
    #[command(flatten)]
    options: SchedulerOptions,
    /// Do not serve: ask the scheduler on 127.0.0.1:--bind-port whether it
    /// answers (its REST API), exit 0 if so, 1 if not. For health checks.
    #[arg(long)]
    health: bool,
}

fn main() -> anyhow::Result<()> {
    // Big worker stacks: see moodflow_engine::WORKER_STACK_BYTES.
    let runtime = moodflow_engine::tokio_runtime()?;
    runtime.block_on(async { tokio::spawn(serve()).await? })
}

async fn serve() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.health {
        let url = format!("http://127.0.0.1:{}/api/state", args.options.bind_port);
        let answer = moodflow_engine::rest::get(&url, std::time::Duration::from_secs(3)).await;
        return match answer {
            Ok(r) if r.status == 200 => {
                println!("scheduler healthy: {}", r.body.trim());
                Ok(())
            }
            Ok(r) => anyhow::bail!("scheduler unhealthy: {url} answered {}", r.status),
            Err(e) => anyhow::bail!("scheduler unhealthy: {url}: {e}"),
        };
    }
    // Ballista's `display` logs an "error" when it cannot lay a stage's
    // metrics over its plan for a debug printout; nothing failed (see the
    // `moodflow` binary's DEFAULT_LOG).
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,ballista_scheduler::display=off")),
        )
        .init();
    run(args.options).await?;
    Ok(())
}
