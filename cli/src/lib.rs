//! The moodflow command line as a library: the data generator, SQL job
//! files, the staged pipeline runner and result formatting. `main.rs` only
//! parses arguments and calls into here, so tests drive the same code.

pub mod bench;
pub mod census;
pub mod commit;
pub mod generate;
pub mod job;
pub mod ledger;
pub mod lock;
pub mod output;
pub mod pipeline;
pub mod progress;
pub mod verify;

use std::collections::BTreeMap;

use datafusion::prelude::SessionConfig;
use moodflow_udfs::Cluster;

pub use moodflow_udfs::WORKER_STACK_BYTES;

/// Session settings (`key`, `value`) and `${name}` job variables.
pub type ConfSplit = (Vec<(String, String)>, BTreeMap<String, String>);

/// Splits `--conf key=value` pairs: `datafusion.*` and `ballista.*` keys are
/// session settings, every other key is a `${key}` job variable.
pub fn split_conf(pairs: &[String]) -> Result<ConfSplit, String> {
    let mut settings = Vec::new();
    let mut vars = BTreeMap::new();
    for pair in pairs {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("--conf '{pair}': expected key=value"))?;
        let k = k.trim();
        if k.starts_with("datafusion.") || k.starts_with("ballista.") {
            settings.push((k.to_string(), v.to_string()));
        } else if matches!(k, "root" | "curated") {
            return Err(format!("--conf '{pair}': '{k}' is set by moodflow itself (use --root)"));
        } else {
            vars.insert(k.to_string(), v.to_string());
        }
    }
    Ok((settings, vars))
}

/// A session on a remote scheduler when `scheduler` is given, else on an
/// in-process (standalone) Ballista scheduler and executor.
pub async fn connect(scheduler: Option<&str>, config: SessionConfig) -> datafusion::error::Result<Cluster> {
    match scheduler {
        Some(url) => moodflow_udfs::remote(url, config).await,
        None => moodflow_udfs::standalone(config).await,
    }
}
