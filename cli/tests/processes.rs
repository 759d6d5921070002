//! The real binaries as separate processes: their health checks, and the
//! pipeline on a cluster of a scheduler and executors (equal to a
//! standalone run; an executor killed mid-stage). They run the binaries
//! this package just built (`env!("CARGO_BIN_EXE_…")`).

mod executor_health;
mod processes_impl;
mod scheduler_health;
