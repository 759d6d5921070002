//! moodflow's engine: everything that makes a DataFusion/Ballista session
//! moodflow's, shared by the client, the standalone mode, the scheduler,
//! the executors, the dashboard and the tests.
//!
//! - [`session`]: the one place a session is built (the UDFs of
//!   `moodflow-udfs`, the table formats, the codecs, the object stores and
//!   the settings), and [`Cluster`], a session on a Ballista scheduler;
//! - [`storage`]: storage roots and the object-store registry (local, HDFS, S3);
//! - [`formats`]: raw files as SQL tables (`STORED AS NETFLIX_RATINGS` /
//!   `NETFLIX_TITLES` / `MOODFLOW_CSV`), scanned on the executors;
//! - [`kmeans`]: the distributed k-means operators;
//! - [`sink`]: `COPY … STORED AS PARQUET` written by every task in
//!   parallel instead of by one;
//! - [`copy_options`]: a Parquet `COPY`'s `OPTIONS (…)` carried to the
//!   scheduler, which would otherwise plan it with the built-in ones;
//! - [`codec`]: the extension codecs that ship those operators and tables;
//! - [`raw`]: raw records exactly as read, for the rejects tables;
//! - [`rng`]: the small seeded generator behind the data and the seeding;
//! - [`rest`]: a typed client of the scheduler's REST API, and health-check GETs (reqwest).

pub mod codec;
pub mod copy_options;
pub mod formats;
#[cfg(test)]
mod fuzz;
pub mod kmeans;
pub mod raw;
pub mod rest;
pub mod rng;
pub mod session;
pub mod sink;
pub mod storage;

pub use session::{
    local_context, remote, session_config, session_config_at, session_state, tokio_runtime, Cluster, WORKER_STACK_BYTES,
};
pub use storage::StorageRoot;
