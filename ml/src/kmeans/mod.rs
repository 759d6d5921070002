//! Distributed k-means, driven from the client over the engine's
//! operators ([`moodflow_engine::kmeans`]):
//!
//! - [`driver`]: one Ballista job per pass through ballista-core's
//!   `execute_physical_plan` (static planner: an assign stage with one task
//!   per input partition, then the merge), seeding, iterations and the
//!   choice of k by silhouette;
//! - [`model`]: `model.json`, mood labels and the 2-D projection;
//! - [`train`]: stage 05 end to end over `curated/nf_features`.

pub mod driver;
pub mod model;
pub mod train;

pub use moodflow_engine::kmeans::{exec, math};
