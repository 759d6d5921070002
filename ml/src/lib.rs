//! moodflow's machine learning: the algorithms that drive the engine's
//! distributed operators from the client.
//!
//! - [`kmeans`]: k-means over `nf_features` (seeding on a sample, one
//!   Ballista job per Lloyd pass, silhouette for every k, mood labels,
//!   `model.json`): stage 05;
//! - [`moods`]: the mood space (valence and energy), the feelings of its
//!   regions, the choice of k, and "How do you feel?" mapped into it;
//! - [`recommender`]: personal recommendations by alternating least
//!   squares (one Ballista job per half-step), predictions, ranking,
//!   fold-in of new users and the evaluation: stage 12.

pub mod kmeans;
pub mod moods;
pub mod recommender;
