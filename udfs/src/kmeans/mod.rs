//! Distributed k-means as custom physical operators on Ballista.
//!
//! - [`math`]: the arithmetic (nearest centroid, partials, Lloyd update,
//!   k-means++, squared-Euclidean silhouette) and a single-node reference;
//! - [`exec`]: `KMeansAssignExec` (per partition, on the executors) and
//!   `KMeansMergeExec` (adds the partials), which [`crate::codec`] ships;
//! - [`driver`]: one Ballista job per pass through ballista-core's
//!   `execute_physical_plan` (static planner: an assign stage with one task
//!   per input partition, then the merge), seeding, iterations and the
//!   choice of k by silhouette;
//! - [`model`]: `model.json`, mood labels and the 2-D projection;
//! - [`train`]: stage 05 end to end over `curated/nf_features`.
//!
//! Why physical plans and not SQL: an iteration is one pass over the data
//! whose only output is k partial sums, and the centroids must reach every
//! task. A custom operator carries the centroids in the plan node itself
//! and emits k rows per partition, so the shuffle is tiny and the
//! scheduler's stage split is predictable.

pub mod driver;
pub mod exec;
pub mod math;
pub mod model;
pub mod train;
