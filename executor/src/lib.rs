//! moodflow's Ballista executor: Ballista 55's executor process whose
//! function registry, runtime (object stores), session settings and
//! physical codec are moodflow's. The configuration lives in
//! [`moodflow_udfs::roles`], shared with the standalone mode; this crate is
//! the `moodflow-executor` binary's library.

pub use moodflow_udfs::roles::{executor_config, run_executor as run, ExecutorOptions};
