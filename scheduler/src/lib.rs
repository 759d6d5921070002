//! moodflow's Ballista scheduler: Ballista 55's scheduler with moodflow's
//! session (UDFs, object stores, settings) and physical codec installed.
//! The configuration lives in [`moodflow_udfs::roles`], shared with the
//! standalone mode; this crate is the `moodflow-scheduler` binary's library.

pub use moodflow_udfs::roles::{run_scheduler as run, scheduler_config, SchedulerOptions};
