//! How good the recommender is, on a seeded per-user split: both kinds of
//! metric (rating error and ranking quality), beside two baselines
//! computed on the same split.
//!
//! - RMSE and MAE over the held-out ratings of films the training split
//!   has (as Spark's `coldStartStrategy = "drop"` measures), and the RMSE
//!   over every held-out rating, where a film the training split never saw
//!   gets the model's fallback (`μ + b_u`, as `predict` would);
//! - precision, recall and nDCG at 10 per user who has at least one
//!   relevant held-out film (rated >= 4), ranking every film the user did
//!   not rate in the training split;
//! - the bias baseline: `μ + b_u + b_i` with damped biases (Koren's
//!   `λ_i = 25`, `λ_u = 10`), ranked by that prediction;
//! - the popularity baseline: the most-rated films of the training split
//!   (no rating prediction).

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::model::{Factors, Vectors};

/// One rating.
#[derive(Debug, Clone, PartialEq)]
pub struct Rating {
    /// Namespaced user id.
    pub user: String,
    /// Film id.
    pub item: i64,
    /// Stars.
    pub rating: f64,
}

/// The metrics of one method.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    /// Method name.
    pub method: String,
    /// Root mean squared error of the held-out ratings of known films
    /// (none for a method that does not predict ratings).
    pub rmse: Option<f64>,
    /// Mean absolute error, same pairs.
    pub mae: Option<f64>,
    /// RMSE over every held-out rating, unknown films by the fallback.
    pub rmse_all: Option<f64>,
    /// Precision at `k`.
    pub precision: f64,
    /// Recall at `k`.
    pub recall: f64,
    /// nDCG at `k` (binary gains).
    pub ndcg: f64,
}

/// Rated at or above this in the held-out split is relevant.
pub const RELEVANT: f64 = 4.0;
/// The length of a ranked list.
pub const K: usize = 10;

/// RMSE and MAE of (prediction, truth) pairs.
pub fn errors(pairs: impl IntoIterator<Item = (f64, f64)>) -> (f64, f64) {
    let (mut se, mut ae, mut n) = (0.0, 0.0, 0usize);
    for (p, t) in pairs {
        se += (p - t).powi(2);
        ae += (p - t).abs();
        n += 1;
    }
    let n = n.max(1) as f64;
    ((se / n).sqrt(), ae / n)
}

/// Precision, recall and nDCG at `k` of one ranked list.
pub fn ranking(list: &[i64], relevant: &HashSet<i64>, k: usize) -> (f64, f64, f64) {
    let top = &list[..list.len().min(k)];
    let hits: Vec<bool> = top.iter().map(|i| relevant.contains(i)).collect();
    let count = hits.iter().filter(|h| **h).count() as f64;
    let dcg: f64 = hits
        .iter()
        .enumerate()
        .filter(|(_, h)| **h)
        .map(|(i, _)| 1.0 / ((i + 2) as f64).log2())
        .sum();
    let ideal: f64 = (0..relevant.len().min(k)).map(|i| 1.0 / ((i + 2) as f64).log2()).sum();
    let recall = if relevant.is_empty() {
        0.0
    } else {
        count / relevant.len() as f64
    };
    (count / k as f64, recall, if ideal > 0.0 { dcg / ideal } else { 0.0 })
}

/// The damped-bias baseline.
#[derive(Debug, Clone, Default)]
pub struct BiasBaseline {
    /// Mean rating.
    pub mu: f64,
    /// User biases.
    pub users: HashMap<String, f64>,
    /// Film biases.
    pub items: HashMap<i64, f64>,
}

impl BiasBaseline {
    /// Fits the biases (film biases, then user biases, three rounds).
    pub fn fit(train: &[Rating]) -> Self {
        let mu = train.iter().map(|r| r.rating).sum::<f64>() / train.len().max(1) as f64;
        let mut b = Self {
            mu,
            ..Default::default()
        };
        for _ in 0..3 {
            let mut sums: HashMap<i64, (f64, f64)> = HashMap::new();
            for r in train {
                let e = sums.entry(r.item).or_default();
                e.0 += r.rating - mu - b.users.get(&r.user).copied().unwrap_or(0.0);
                e.1 += 1.0;
            }
            b.items = sums.into_iter().map(|(k, (s, n))| (k, s / (25.0 + n))).collect();
            let mut sums: HashMap<&str, (f64, f64)> = HashMap::new();
            for r in train {
                let e = sums.entry(&r.user).or_default();
                e.0 += r.rating - mu - b.items.get(&r.item).copied().unwrap_or(0.0);
                e.1 += 1.0;
            }
            b.users = sums
                .into_iter()
                .map(|(k, (s, n))| (k.to_string(), s / (10.0 + n)))
                .collect();
        }
        b
    }

    /// The predicted rating, clamped to 0.5..5.
    pub fn predict(&self, user: &str, item: i64) -> f64 {
        (self.mu + self.users.get(user).copied().unwrap_or(0.0) + self.items.get(&item).copied().unwrap_or(0.0))
            .clamp(0.5, 5.0)
    }
}

/// The evaluation of one split.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Share held out per user.
    pub holdout: f64,
    /// Seed of the split and of the training.
    pub seed: i64,
    /// Training ratings.
    pub train_ratings: usize,
    /// Held-out ratings.
    pub test_ratings: usize,
    /// Held-out ratings of films the training split has (the pairs of
    /// `rmse` and `mae`).
    pub known_pairs: usize,
    /// Users with at least one relevant held-out film (the ranking
    /// metrics average over them).
    pub ranked_users: usize,
    /// The model, then the bias and popularity baselines.
    pub methods: Vec<Metrics>,
}

/// Scores the trained `factors` (holding every training user) and both
/// baselines on the split.
pub fn report(factors: &Factors, train: &[Rating], test: &[Rating], holdout: f64, seed: i64) -> Report {
    let mut seen: HashMap<&str, HashSet<i64>> = HashMap::new();
    let mut counts: HashMap<i64, u64> = HashMap::new();
    for r in train {
        seen.entry(&r.user).or_default().insert(r.item);
        *counts.entry(r.item).or_default() += 1;
    }
    let mut relevant: HashMap<&str, HashSet<i64>> = HashMap::new();
    for r in test.iter().filter(|r| r.rating >= RELEVANT) {
        relevant.entry(&r.user).or_default().insert(r.item);
    }
    let mut users: Vec<&str> = relevant.keys().copied().collect();
    users.sort_unstable();
    let bias = BiasBaseline::fit(train);
    let mut popular: Vec<(i64, u64)> = counts.iter().map(|(k, v)| (*k, *v)).collect();
    popular.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut by_bias: Vec<(i64, f64)> = bias.items.iter().map(|(k, v)| (*k, *v)).collect();
    by_bias.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let empty = HashSet::new();
    let top_unseen = |ordered: &mut dyn Iterator<Item = i64>, user: &str| -> Vec<i64> {
        let s = seen.get(user).unwrap_or(&empty);
        ordered.filter(|i| !s.contains(i)).take(K).collect()
    };
    let average = |lists: &dyn Fn(&str) -> Vec<i64>| -> (f64, f64, f64) {
        let (mut p, mut r, mut n) = (0.0, 0.0, 0.0);
        for u in &users {
            let (a, b, c) = ranking(&lists(u), &relevant[u], K);
            p += a;
            r += b;
            n += c;
        }
        let m = users.len().max(1) as f64;
        (p / m, r / m, n / m)
    };
    let model_lists = |u: &str| -> Vec<i64> {
        let s = seen.get(u).unwrap_or(&empty);
        match factors.users.get(u) {
            Some(v) => factors
                .recommend(v, s, |_| true, K)
                .into_iter()
                .map(|(i, _)| i)
                .collect(),
            None => Vec::new(),
        }
    };
    let user = |u: &str| -> Option<&Vectors> { factors.users.get(u) };
    let known: Vec<&Rating> = test.iter().filter(|r| counts.contains_key(&r.item)).collect();
    let model = |r: &Rating| factors.predict(user(&r.user), r.item).0;
    let (rmse, mae) = errors(known.iter().map(|r| (model(r), r.rating)));
    let (rmse_all, _) = errors(test.iter().map(|r| (model(r), r.rating)));
    let (p, r, n) = average(&model_lists);
    let mut methods = vec![Metrics {
        method: "moodflow ALS".into(),
        rmse: Some(rmse),
        mae: Some(mae),
        rmse_all: Some(rmse_all),
        precision: p,
        recall: r,
        ndcg: n,
    }];
    let (rmse, mae) = errors(known.iter().map(|r| (bias.predict(&r.user, r.item), r.rating)));
    let (rmse_all, _) = errors(test.iter().map(|r| (bias.predict(&r.user, r.item), r.rating)));
    let (p, r, n) = average(&|u| top_unseen(&mut by_bias.iter().map(|(i, _)| *i), u));
    methods.push(Metrics {
        method: "bias baseline".into(),
        rmse: Some(rmse),
        mae: Some(mae),
        rmse_all: Some(rmse_all),
        precision: p,
        recall: r,
        ndcg: n,
    });
    let (p, r, n) = average(&|u| top_unseen(&mut popular.iter().map(|(i, _)| *i), u));
    methods.push(Metrics {
        method: "most rated".into(),
        rmse: None,
        mae: None,
        rmse_all: None,
        precision: p,
        recall: r,
        ndcg: n,
    });
    Report {
        holdout,
        seed,
        train_ratings: train.len(),
        test_ratings: test.len(),
        known_pairs: known.len(),
        ranked_users: users.len(),
        methods,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranking_metrics_by_hand() {
        let relevant: HashSet<i64> = [1, 2, 3].into_iter().collect();
        // Hits at positions 1 and 3 of 10.
        let (p, r, n) = ranking(&[1, 9, 2, 8, 7, 6, 5, 4, 10, 11], &relevant, 10);
        assert!((p - 0.2).abs() < 1e-12 && (r - 2.0 / 3.0).abs() < 1e-12);
        let dcg = 1.0 + 1.0 / 4f64.log2();
        let ideal = 1.0 + 1.0 / 3f64.log2() + 1.0 / 4f64.log2();
        assert!((n - dcg / ideal).abs() < 1e-12);
        assert_eq!(errors([(1.0, 2.0), (3.0, 3.0)]), ((0.5f64).sqrt(), 0.5));
    }
}
