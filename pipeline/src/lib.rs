//! moodflow's pipeline: SQL job files and their checks (declared
//! variables, confined writes), the stages in order with staging and
//! atomic commit, the ingest ledger, the run lock, `verify`, the mood
//! evaluation, the data generator, result formatting and the benchmarks. The CLI, the dashboard
//! and the tests use it; it runs on any [`moodflow_engine::Cluster`] and
//! links no Ballista role.

pub mod access;
pub mod bench;
pub mod catalog;
pub mod census;
pub mod commit;
pub mod evaluate;
pub mod generate;
pub mod job;
pub mod ledger;
pub mod lock;
pub mod memory;
pub mod output;
pub mod progress;
pub mod recommender;
pub mod stages;
pub mod verify;

use std::collections::BTreeMap;

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
