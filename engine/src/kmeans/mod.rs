//! Distributed k-means as custom physical operators: the part of k-means
//! that travels inside Ballista plans (the driver that submits them lives
//! in `moodflow-ml`).
//!
//! - [`math`]: the arithmetic (nearest centroid, partials, Lloyd update,
//!   k-means++, squared-Euclidean silhouette) and a single-node reference;
//! - [`exec`]: `KMeansAssignExec` (per partition, on the executors) and
//!   `KMeansMergeExec` (adds the partials), which [`crate::codec`] ships.
//!
//! Why physical plans and not SQL: an iteration is one pass over the data
//! whose only output is k partial sums, and the centroids must reach every
//! task. A custom operator carries the centroids in the plan node itself
//! and emits k rows per partition, so the shuffle is tiny and the
//! scheduler's stage split is predictable.

pub mod exec;
pub mod math;
