//! The trained recommender in memory: `model.json`, the item factors (all
//! of them: a few MB even for the full Netflix catalogue) and the factors
//! of the users asked about.
//!
//! Scores (see [`super`] for why two models):
//! - prediction `μ + b_u + b_i + p_u·q_i`, clamped to 0.5..5;
//! - ranking `x_u·y_i + β (b_u + b_i + p_u·q_i)` with `β = blend`.

use std::collections::{HashMap, HashSet};

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result};
use serde::{Deserialize, Serialize};

use super::train::{IterationReport, Params};
use moodflow_udfs::als::NormalEquations;

/// `models/recommender/model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Training settings.
    pub params: Params,
    /// Weight of the rating prediction in the ranking score.
    pub blend: f64,
    /// Mean training rating, μ.
    pub global_mean: f64,
    /// Training RMSE and time of each alternation.
    pub iterations: Vec<IterationReport>,
    /// RMSE on the seeded validation holdout (pairs whose user and film
    /// were trained); `None` with no holdout.
    pub validation_rmse: Option<f64>,
    /// Validation pairs scored.
    pub validation_pairs: u64,
    /// Validation ratings held out in all.
    pub validation_ratings: u64,
    /// Training ratings.
    pub ratings: u64,
    /// Users with factors.
    pub users: u64,
    /// Films with factors.
    pub items: u64,
    /// The table trained on (`unified_ratings` or `movielens_ratings`).
    pub source: String,
    /// Ballista jobs the training submitted.
    pub jobs: usize,
    /// Wall time of the training, seconds.
    pub seconds: f64,
}

/// Default weight of the rating prediction in the ranking score: chosen on
/// the ml-latest-small 80/20 split (precision@10 0.170 with 0, 0.189 with
/// 0.2, 0.184 with 0.4).
pub const DEFAULT_BLEND: f64 = 0.2;

/// A rating at or above this is a film the user liked.
pub const LIKED: f64 = 3.5;

/// One user's or one film's vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct Vectors {
    /// Explicit factors.
    pub factors: Vec<f64>,
    /// Explicit bias.
    pub bias: f64,
    /// Implicit factors.
    pub pref: Vec<f64>,
    /// Training ratings behind them.
    pub ratings: u64,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// How a prediction was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Both factor sets known.
    Model,
    /// The user is unknown: `μ + b_i`.
    UnknownUser,
    /// The film is unknown: `μ + b_u`.
    UnknownMovie,
    /// Neither: `μ`.
    Unknown,
}

impl Basis {
    /// The word in `predict`'s output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Model => "model",
            Self::UnknownUser => "unknown_user",
            Self::UnknownMovie => "unknown_movie",
            Self::Unknown => "unknown_user_and_movie",
        }
    }
}

/// The trained factors of every film and of some users.
#[derive(Debug, Clone)]
pub struct Factors {
    /// `model.json`.
    pub info: ModelInfo,
    /// Film ids, ascending.
    pub item_ids: Vec<i64>,
    /// Their vectors, in the same order.
    pub items: Vec<Vectors>,
    index: HashMap<i64, usize>,
    /// `YᵀY` of the implicit item vectors (the fold-in's unobserved zeros).
    gram: Vec<f64>,
    /// Users loaded, by namespaced id.
    pub users: HashMap<String, Vectors>,
}

/// `12` means `ml:12`; a namespaced id is kept.
pub fn user_id(raw: &str) -> String {
    let raw = raw.trim();
    if raw.contains(':') {
        raw.to_string()
    } else {
        format!("ml:{raw}")
    }
}

fn number(batch: &RecordBatch, name: &str, row: usize) -> Result<f64> {
    let c = batch
        .column_by_name(name)
        .ok_or_else(|| DataFusionError::Execution(format!("factors: no column {name}")))?;
    let c = cast(c, &DataType::Float64)?;
    let c = c.as_primitive::<Float64Type>();
    Ok(if c.is_null(row) { 0.0 } else { c.value(row) })
}

fn vector(batch: &RecordBatch, name: &str, row: usize, rank: usize) -> Result<Vec<f64>> {
    let c = batch
        .column_by_name(name)
        .and_then(|c| c.as_list_opt::<i32>())
        .ok_or_else(|| DataFusionError::Execution(format!("factors: no list column {name}")))?;
    if c.is_null(row) {
        return Err(DataFusionError::Execution(format!("factors: a null {name}")));
    }
    let v = c.value(row);
    let v = v
        .as_primitive_opt::<Float64Type>()
        .ok_or_else(|| DataFusionError::Execution(format!("factors: {name} is not doubles")))?;
    if v.len() != rank {
        return Err(DataFusionError::Execution(format!(
            "factors: {name} has {} values, the model's rank is {rank}",
            v.len()
        )));
    }
    Ok(v.values().to_vec())
}

/// Reads factor rows (`key`, factors, bias, pref, ratings) from batches.
pub fn read_vectors<K>(
    batches: &[RecordBatch],
    key: &str,
    rank: usize,
    mut key_of: impl FnMut(&dyn Array, usize) -> Option<K>,
) -> Result<Vec<(K, Vectors)>> {
    let mut out = Vec::new();
    for b in batches {
        let keys = b
            .column_by_name(key)
            .ok_or_else(|| DataFusionError::Execution(format!("factors: no column {key}")))?;
        for row in 0..b.num_rows() {
            let Some(k) = key_of(keys.as_ref(), row) else {
                continue;
            };
            out.push((
                k,
                Vectors {
                    factors: vector(b, "factors", row, rank)?,
                    bias: number(b, "bias", row)?,
                    pref: vector(b, "pref", row, rank)?,
                    ratings: number(b, "ratings", row)? as u64,
                },
            ));
        }
    }
    Ok(out)
}

/// A bigint key of a factor table.
pub fn int_key(a: &dyn Array, row: usize) -> Option<i64> {
    a.as_primitive_opt::<Int64Type>()
        .and_then(|a| (!a.is_null(row)).then(|| a.value(row)))
}

/// A string key of a factor table.
pub fn str_key(a: &dyn Array, row: usize) -> Option<String> {
    if let Some(s) = a.as_string_opt::<i32>() {
        return (!s.is_null(row)).then(|| s.value(row).to_string());
    }
    a.as_string_view_opt()
        .and_then(|s| (!s.is_null(row)).then(|| s.value(row).to_string()))
}

impl Factors {
    /// The model from its parts (see [`read_vectors`]).
    pub fn new(info: ModelInfo, mut items: Vec<(i64, Vectors)>, users: Vec<(String, Vectors)>) -> Self {
        items.sort_by_key(|(id, _)| *id);
        let rank = info.params.rank;
        let mut gram = vec![0.0; rank * rank];
        for (_, v) in &items {
            for i in 0..rank {
                for j in 0..rank {
                    gram[i * rank + j] += v.pref[i] * v.pref[j];
                }
            }
        }
        let index = items.iter().enumerate().map(|(i, (id, _))| (*id, i)).collect();
        let (item_ids, items) = items.into_iter().unzip();
        Self {
            info,
            item_ids,
            items,
            index,
            gram,
            users: users.into_iter().collect(),
        }
    }

    /// A film's vectors.
    pub fn item(&self, id: i64) -> Option<&Vectors> {
        self.index.get(&id).map(|i| &self.items[*i])
    }

    /// The predicted rating of a film, and how it was made.
    pub fn predict(&self, user: Option<&Vectors>, item: i64) -> (f64, Basis) {
        let mu = self.info.global_mean;
        let (raw, basis) = match (user, self.item(item)) {
            (Some(u), Some(i)) => (mu + u.bias + i.bias + dot(&u.factors, &i.factors), Basis::Model),
            (None, Some(i)) => (mu + i.bias, Basis::UnknownUser),
            (Some(u), None) => (mu + u.bias, Basis::UnknownMovie),
            (None, None) => (mu, Basis::Unknown),
        };
        (raw.clamp(0.5, 5.0), basis)
    }

    /// The ranking score of film `i` (an index into [`Self::items`]).
    pub fn score(&self, user: &Vectors, i: usize) -> f64 {
        let item = &self.items[i];
        dot(&user.pref, &item.pref) + self.info.blend * (user.bias + item.bias + dot(&user.factors, &item.factors))
    }

    /// The `n` best films for `user` that are not in `seen` and pass
    /// `allowed`, best first: (film id, score).
    pub fn recommend(
        &self,
        user: &Vectors,
        seen: &HashSet<i64>,
        allowed: impl Fn(i64) -> bool,
        n: usize,
    ) -> Vec<(i64, f64)> {
        let mut scored: Vec<(i64, f64)> = self
            .item_ids
            .iter()
            .enumerate()
            .filter(|(_, id)| !seen.contains(id) && allowed(**id))
            .map(|(i, id)| (*id, self.score(user, i)))
            .collect();
        // Ties by film id, so a list never depends on the order of the table.
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(n);
        scored
    }

    /// A new user's vectors from their ratings, against the item factors
    /// (no retraining): the same two solves as a user half-step, except
    /// that only films rated at least [`LIKED`] count as watched in the
    /// implicit model: a newcomer rates the films we offer, not films they
    /// chose, so a disliked one says nothing about what they would watch.
    /// Films without factors are ignored; `None` when none has factors.
    pub fn fold_in(&self, ratings: &[(i64, f64)]) -> Option<Vectors> {
        let p = &self.info.params;
        let rank = p.rank;
        let mut explicit = NormalEquations::new(rank + 1);
        let mut implicit = NormalEquations::new(rank);
        let mu = self.info.global_mean;
        for (id, r) in ratings {
            let Some(item) = self.item(*id) else { continue };
            let mut x = item.factors.clone();
            x.push(1.0);
            explicit.add(&x, 1.0, r - mu - item.bias);
            if *r >= LIKED {
                implicit.add(&item.pref, p.alpha, 1.0 + p.alpha);
            }
        }
        if explicit.count == 0 {
            return None;
        }
        let e = explicit.solve(p.reg, true, &[])?;
        let i = implicit.solve(p.implicit_reg, false, &self.gram)?;
        Some(Vectors {
            factors: e.w[..rank].to_vec(),
            bias: e.w[rank],
            pref: i.w,
            ratings: explicit.count,
        })
    }

    /// Cosine similarity of two films' implicit vectors (who watches one
    /// watches the other).
    pub fn similarity(&self, a: i64, b: i64) -> Option<f64> {
        let (a, b) = (self.item(a)?, self.item(b)?);
        let norm = (dot(&a.pref, &a.pref) * dot(&b.pref, &b.pref)).sqrt();
        (norm > 0.0).then(|| dot(&a.pref, &b.pref) / norm)
    }

    /// The films of `liked` most similar to `item`, most similar first (at
    /// most `n`): "because you liked …".
    pub fn because(&self, item: i64, liked: &[i64], n: usize) -> Vec<i64> {
        let mut s: Vec<(i64, f64)> = liked
            .iter()
            .filter(|l| **l != item)
            .filter_map(|l| Some((*l, self.similarity(item, *l)?)))
            .collect();
        s.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        s.into_iter().take(n).map(|(id, _)| id).collect()
    }

    /// The films most similar to `item` with at least `min_ratings`
    /// training ratings (the movie page's "people who liked this also
    /// liked").
    pub fn similar(&self, item: i64, min_ratings: u64, n: usize) -> Vec<(i64, f64)> {
        let mut s: Vec<(i64, f64)> = self
            .item_ids
            .iter()
            .zip(&self.items)
            .filter(|(id, v)| **id != item && v.ratings >= min_ratings)
            .filter_map(|(id, _)| Some((*id, self.similarity(item, *id)?)))
            .collect();
        s.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        s.truncate(n);
        s
    }
}
