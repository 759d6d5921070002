//! moodflow's engine extensions, shared by the CLI, the standalone mode, the
//! Ballista scheduler and executors, the dashboard and the tests:
//!
//! - [`vader`]: a faithful port of Python `vaderSentiment` 3.3.2 and its SQL
//!   UDFs `vader_compound` and `vader_scores`;
//! - [`text`]: `normalize_text`, `release_year`, `title_without_year`,
//!   `title_key`;
//! - [`storage`]: storage roots and the object-store registry (local, HDFS, S3);
//! - [`kmeans`]: distributed k-means as custom physical operators, its
//!   driver (seeding, iterations, model selection by silhouette) and model;
//! - [`codec`]: the extension codecs that ship those operators and tables;
//! - [`formats`]: raw files as SQL tables (`STORED AS
//!   NETFLIX_RATINGS` / `NETFLIX_TITLES` / `MOODFLOW_CSV`), run on the executors;
//! - [`raw`]: raw records exactly as read, for the rejects tables;
//! - [`rng`]: the small seeded generator behind the data and the seeding;
//! - [`http`]: a minimal HTTP GET for health checks and the scheduler's REST API;
//! - [`roles`]: the scheduler's and executor's configuration with all of the above;
//! - [`session`]: the one function that builds a session with all of the above.

pub mod codec;
pub mod formats;
#[cfg(test)]
mod fuzz;
pub mod http;
pub mod kmeans;
pub mod raw;
pub mod rng;
pub mod roles;
pub mod session;
pub mod storage;
mod string_udf;
pub mod text;
pub mod vader;

pub use session::{
    local_context, remote, session_config, session_state, standalone, tokio_runtime, Cluster, WORKER_STACK_BYTES,
};
pub use storage::StorageRoot;
