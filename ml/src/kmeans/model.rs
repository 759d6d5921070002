//! `models/kmeans_model/model.json`: what training found, readable back by
//! the dashboard and `train-kmeans`; the mood labels; the 2-D projection.

use serde::{Deserialize, Serialize};

/// The features of `nf_features.features`, in order (stage 04 writes them so).
pub const FEATURE_NAMES: &[&str] = &[
    "sentiment",
    "release_year",
    "rating_mean",
    "rating_log_count",
    "genre_action",
    "genre_adventure",
    "genre_animation",
    "genre_children",
    "genre_comedy",
    "genre_crime",
    "genre_documentary",
    "genre_drama",
    "genre_fantasy",
    "genre_film_noir",
    "genre_horror",
    "genre_imax",
    "genre_musical",
    "genre_mystery",
    "genre_romance",
    "genre_sci_fi",
    "genre_thriller",
    "genre_war",
    "genre_western",
];

/// MovieLens' spelling of a `genre_*` feature.
pub fn genre_display(feature: &str) -> Option<&'static str> {
    const NAMES: &[(&str, &str)] = &[
        ("genre_action", "Action"),
        ("genre_adventure", "Adventure"),
        ("genre_animation", "Animation"),
        ("genre_children", "Children"),
        ("genre_comedy", "Comedy"),
        ("genre_crime", "Crime"),
        ("genre_documentary", "Documentary"),
        ("genre_drama", "Drama"),
        ("genre_fantasy", "Fantasy"),
        ("genre_film_noir", "Film-Noir"),
        ("genre_horror", "Horror"),
        ("genre_imax", "IMAX"),
        ("genre_musical", "Musical"),
        ("genre_mystery", "Mystery"),
        ("genre_romance", "Romance"),
        ("genre_sci_fi", "Sci-Fi"),
        ("genre_thriller", "Thriller"),
        ("genre_war", "War"),
        ("genre_western", "Western"),
    ];
    NAMES.iter().find(|(f, _)| *f == feature).map(|(_, d)| *d)
}

/// How a feature was standardised: `(raw - mean) / std`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaling {
    /// Feature name.
    pub name: String,
    /// Mean of the raw column.
    pub mean: f64,
    /// Population standard deviation of the raw column (0: constant).
    pub std: f64,
}

impl Scaling {
    /// A standardised value back in raw units.
    pub fn unscale(&self, z: f64) -> f64 {
        z * self.std + self.mean
    }
}

/// The result for one k of the range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KSummary {
    /// Number of clusters.
    pub k: usize,
    /// Sum of squared distances to the centroids.
    pub cost: f64,
    /// Mean squared-Euclidean silhouette.
    pub silhouette: f64,
    /// Lloyd's steps run.
    pub iterations: usize,
    /// Whether the tolerance was reached.
    pub converged: bool,
    /// Movies per cluster.
    pub sizes: Vec<u64>,
}

/// One mood: a cluster of the chosen model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mood {
    /// Cluster number.
    pub cluster: usize,
    /// Human-readable, unique label ("Dark Horror & Thriller").
    pub label: String,
    /// Dark, Neutral, Positive or Inspirational.
    pub tone: String,
    /// The centroid's sentiment in VADER compound units.
    pub sentiment: f64,
    /// Most characteristic genres, most characteristic first.
    pub genres: Vec<String>,
    /// Movies in the cluster.
    pub size: u64,
}

/// The 2-D projection used for plots: the first two principal components.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    /// Mean of the features.
    pub mean: Vec<f64>,
    /// Two unit vectors.
    pub components: Vec<Vec<f64>>,
    /// Variance along each.
    pub variance: Vec<f64>,
}

impl Projection {
    /// Coordinates of a feature vector.
    pub fn project(&self, x: &[f64]) -> Vec<f64> {
        self.components
            .iter()
            .map(|c| c.iter().zip(x).zip(&self.mean).map(|((w, v), m)| w * (v - m)).sum())
            .collect()
    }
}

/// The trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Chosen number of clusters.
    pub k: usize,
    /// The k range searched, inclusive.
    pub k_range: [usize; 2],
    /// Seed of the seeding.
    pub seed: u64,
    /// Most Lloyd's steps per k.
    pub max_iter: usize,
    /// Convergence tolerance.
    pub tolerance: f64,
    /// Lloyd's steps the chosen k took.
    pub iterations: usize,
    /// Movies clustered.
    pub points: u64,
    /// Ballista jobs the training ran.
    pub jobs: usize,
    /// Features, in order, and their scaling.
    pub features: Vec<Scaling>,
    /// Chosen centroids (standardised units).
    pub centroids: Vec<Vec<f64>>,
    /// One mood per centroid.
    pub moods: Vec<Mood>,
    /// Every k tried.
    pub per_k: Vec<KSummary>,
    /// The plot projection.
    pub projection: Projection,
    /// Seconds since the epoch when training finished.
    pub trained_at: u64,
}

impl Model {
    /// The mood whose centroid is nearest to `x` (standardised features).
    pub fn nearest_mood(&self, x: &[f64]) -> Option<&Mood> {
        let i = (0..self.centroids.len()).min_by(|&a, &b| {
            let da = super::math::squared_distance(x, &self.centroids[a]);
            let db = super::math::squared_distance(x, &self.centroids[b]);
            da.total_cmp(&db)
        })?;
        self.moods.get(i)
    }
}

/// The tone of a sentiment, with the original system's thresholds.
pub fn tone(sentiment: f64) -> &'static str {
    if sentiment <= -0.35 {
        "Dark"
    } else if sentiment < 0.15 {
        "Neutral"
    } else if sentiment < 0.45 {
        "Positive"
    } else {
        "Inspirational"
    }
}

/// Labels every centroid: its tone, then its most characteristic genres
/// (highest share relative to the whole catalogue among genres that at
/// least a quarter of its movies have). Labels are made unique by adding
/// genres, then a number.
pub fn label_moods(centroids: &[Vec<f64>], sizes: &[u64], features: &[Scaling]) -> Vec<Mood> {
    let sentiment_at = features.iter().position(|f| f.name == "sentiment");
    let mut moods: Vec<Mood> = Vec::new();
    let mut ranked_genres: Vec<Vec<String>> = Vec::new();
    for (cluster, c) in centroids.iter().enumerate() {
        let sentiment = sentiment_at.map_or(0.0, |i| features[i].unscale(c[i]));
        let mut genres: Vec<(f64, f64, &str)> = features
            .iter()
            .enumerate()
            .filter_map(|(i, f)| {
                let name = genre_display(&f.name)?;
                let share = f.unscale(c[i]).clamp(0.0, 1.0);
                let lift = if f.mean > 0.0 { share / f.mean } else { 0.0 };
                Some((lift, share, name))
            })
            .collect();
        genres.sort_by(|a, b| {
            let a_ok = a.1 >= 0.25;
            let b_ok = b.1 >= 0.25;
            b_ok.cmp(&a_ok).then(b.0.total_cmp(&a.0)).then(b.1.total_cmp(&a.1))
        });
        let ranked: Vec<String> = genres.iter().map(|g| g.2.to_string()).collect();
        let tone = tone(sentiment);
        moods.push(Mood {
            cluster,
            label: String::new(),
            tone: tone.to_string(),
            sentiment,
            genres: ranked.iter().take(2).cloned().collect(),
            size: sizes.get(cluster).copied().unwrap_or(0),
        });
        ranked_genres.push(ranked);
    }
    let mut used = std::collections::HashSet::new();
    for (m, ranked) in moods.iter_mut().zip(&ranked_genres) {
        let mut take = 2.min(ranked.len());
        loop {
            let label = if take == 0 {
                m.tone.clone()
            } else {
                format!("{} {}", m.tone, ranked[..take].join(" & "))
            };
            if !used.contains(&label) || take >= ranked.len().min(4) {
                let mut unique = label.clone();
                let mut n = 2;
                while used.contains(&unique) {
                    unique = format!("{label} ({n})");
                    n += 1;
                }
                used.insert(unique.clone());
                m.genres = ranked[..take].to_vec();
                m.label = unique;
                break;
            }
            take += 1;
        }
    }
    moods
}

/// The first two principal components of `points`, by power iteration on
/// the covariance matrix (deterministic start, sign fixed so the largest
/// entry is positive).
pub fn principal_components(points: &[Vec<f64>]) -> Projection {
    let dim = points.first().map_or(0, Vec::len);
    let n = points.len().max(1) as f64;
    let mut mean = vec![0.0; dim];
    for p in points {
        for (m, v) in mean.iter_mut().zip(p) {
            *m += v / n;
        }
    }
    let mut cov = vec![vec![0.0; dim]; dim];
    for p in points {
        let centred: Vec<f64> = p.iter().zip(&mean).map(|(x, m)| x - m).collect();
        for (row, di) in cov.iter_mut().zip(&centred) {
            for (c, dj) in row.iter_mut().zip(&centred) {
                *c += di * dj / n;
            }
        }
    }
    let mut components = Vec::new();
    let mut variance = Vec::new();
    for _ in 0..2.min(dim) {
        let mut v: Vec<f64> = (0..dim).map(|i| 1.0 + i as f64 / dim as f64).collect();
        let mut lambda = 0.0;
        for _ in 0..500 {
            let w: Vec<f64> = (0..dim)
                .map(|i| cov[i].iter().zip(&v).map(|(a, b)| a * b).sum())
                .collect();
            let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm == 0.0 {
                break;
            }
            let next: Vec<f64> = w.iter().map(|x| x / norm).collect();
            let delta: f64 = next.iter().zip(&v).map(|(a, b)| (a - b).abs()).sum();
            v = next;
            lambda = norm;
            if delta < 1e-12 {
                break;
            }
        }
        let largest = v
            .iter()
            .copied()
            .fold(0.0, |a: f64, b| if b.abs() > a.abs() { b } else { a });
        if largest < 0.0 {
            v.iter_mut().for_each(|x| *x = -*x);
        }
        // Deflate so the next power iteration finds the next component.
        for (row, vi) in cov.iter_mut().zip(&v) {
            for (c, vj) in row.iter_mut().zip(&v) {
                *c -= lambda * vi * vj;
            }
        }
        components.push(v);
        variance.push(lambda);
    }
    Projection {
        mean,
        components,
        variance,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scaling(name: &str, mean: f64, std: f64) -> Scaling {
        Scaling {
            name: name.into(),
            mean,
            std,
        }
    }

    #[test]
    fn tones_follow_the_original_thresholds() {
        assert_eq!(tone(-0.35), "Dark");
        assert_eq!(tone(-0.34), "Neutral");
        assert_eq!(tone(0.15), "Positive");
        assert_eq!(tone(0.45), "Inspirational");
    }

    #[test]
    fn labels_are_unique_and_name_characteristic_genres() {
        let features = vec![
            scaling("sentiment", 0.0, 0.5),
            scaling("genre_horror", 0.1, 0.3),
            scaling("genre_thriller", 0.2, 0.4),
            scaling("genre_comedy", 0.4, 0.49),
        ];
        // Raw: sentiment -0.5, horror 0.7, thriller 0.6, comedy 0.1 (twice).
        let dark = vec![-1.0, 2.0, 1.0, -0.6122];
        let moods = label_moods(&[dark.clone(), dark, vec![1.0, -0.3, -0.5, 1.2]], &[5, 3, 9], &features);
        assert_eq!(moods[0].label, "Dark Horror & Thriller");
        assert_eq!(moods[0].genres, vec!["Horror", "Thriller"]);
        assert_eq!(moods[1].label, "Dark Horror & Thriller & Comedy");
        assert_eq!(moods[2].tone, "Inspirational");
        assert!(moods[2].label.starts_with("Inspirational Comedy"));
        assert_eq!(moods[2].size, 9);
    }

    #[test]
    fn principal_components_find_the_long_axis() {
        let points: Vec<Vec<f64>> = (0..100)
            .map(|i| {
                let t = i as f64 - 50.0;
                vec![t, 0.5 * t + if i % 2 == 0 { 1.0 } else { -1.0 }]
            })
            .collect();
        let p = principal_components(&points);
        let c = &p.components[0];
        assert!((c[0] - 2.0 / 5f64.sqrt()).abs() < 1e-3, "{c:?}");
        assert!(p.variance[0] > p.variance[1]);
        let dot: f64 = p.components[0].iter().zip(&p.components[1]).map(|(a, b)| a * b).sum();
        assert!(dot.abs() < 1e-6);
    }
}
