//! Personal recommendations: matrix factorisation by alternating least
//! squares over the unified ratings, trained by Ballista jobs, and the
//! model that predicts, ranks and folds in new users on one machine.
//!
//! - [`train`]: the distributed training (stage 12), one Ballista job per
//!   half-step;
//! - [`model`]: the trained factors in memory: predictions, the ranking
//!   score, "because you liked", fold-in of a new user;
//! - [`evaluate`]: the per-user seeded split, the metrics (RMSE, MAE,
//!   precision, recall and nDCG at 10) and the two baselines.
//!
//! # Two objectives, one pass
//!
//! Each user and each item gets two vectors. The *explicit* one, with a
//! bias, predicts the rating (biased ALS with Spark's count-scaled
//! regularisation `λ·n`); the *implicit* one models whether a person
//! watches a film at all (Hu, Koren & Volinsky's weighted ALS on the binary
//! "rated it" matrix). The rating prediction alone ranks obscure films first
//! (measured on ml-latest-small: precision@10 of 0.003 against 0.12 for the
//! most-rated films), because a film three people loved has a high
//! predicted rating and no evidence; the implicit model ranks what a person
//! is likely to watch, and the ranking score is
//! `implicit + β · (explicit prediction − μ)`, so the rating breaks ties
//! among the likely films. Both are solved in the same SQL statement, so a
//! half-step reads the ratings once.
//!
//! # Plan shapes
//!
//! A half-step is one SQL statement run by Ballista:
//!
//! ```text
//! COPY (SELECT r."userId", als_solve(x(i), a, t, λ, …) …        -- final aggregate, hash-partitioned by user
//!       FROM ratings r JOIN items i ON r."movieId" = i."movieId" -- the factors arrive through the data
//!       GROUP BY r."userId") TO '<work>/users_<n>/'             -- written by the executors
//! ```
//!
//! Ballista cuts it into stages: a scan of the ratings and of the other
//! side's factors, a hash join (the factors table is the small side), a
//! partial `als_solve` per input partition (each group's normal equations,
//! `d(d+1)/2 + d + 2` numbers), a shuffle by the solved key, the final
//! `als_solve` that adds the partial sums and solves each key's `d × d`
//! system, and the Parquet writer. So the rows a task needs (every rating
//! of its users, with the factors of the items they rated) are brought
//! together by the shuffle, and *neither* factor set travels inside a
//! serialized plan: at Netflix scale the user factors (480k × 2 × rank
//! doubles) are a table that the item half-step joins, like any other.
//! The only values in the plan are constants: μ, λ, α and the implicit
//! model's `d × d` Gram matrix `YᵀY` (a few hundred numbers, computed by
//! `als_gram` in a one-row job first). The training error comes out of
//! the same sums (`Σ(t − x·w)²` from the normal equations), so no extra
//! pass measures it.
//!
//! Everything is deterministic for a seed: starting vectors are a hash of
//! the seed and the key (`als_init`), the validation split a hash of the
//! seed, user and film (`split_unit`). Floating-point sums are added in the
//! order the partitions arrive, so two cluster shapes agree to ~1e-12
//! rather than bit for bit.

pub mod evaluate;
pub mod model;
pub mod train;
