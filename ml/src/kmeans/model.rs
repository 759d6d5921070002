//! `models/kmeans_model/model.json`: what training found, readable back by
//! the dashboard and `train-kmeans`; the mood labels; the 2-D projection.

use serde::{Deserialize, Serialize};

/// The features of `nf_features.features`, in order (stage 04 writes them
/// so): the two emotional axes first, then the genres.
pub const FEATURE_NAMES: &[&str] = &[
    "valence",
    "energy",
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

/// How a feature was standardised and weighted: `weight * (raw - mean) / std`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaling {
    /// Feature name.
    pub name: String,
    /// Mean of the raw column.
    pub mean: f64,
    /// Population standard deviation of the raw column (0: constant).
    pub std: f64,
    /// Stage 04's weight of the feature (`mood_weight_*`), measured as the
    /// standard deviation of its standardised column.
    #[serde(default = "one")]
    pub weight: f64,
}

fn one() -> f64 {
    1.0
}

impl Scaling {
    /// A feature-space value back in raw units.
    pub fn unscale(&self, z: f64) -> f64 {
        if self.weight > 0.0 {
            z / self.weight * self.std + self.mean
        } else {
            self.mean
        }
    }

    /// A raw value in feature-space units.
    pub fn scale(&self, raw: f64) -> f64 {
        if self.std > 0.0 {
            self.weight * (raw - self.mean) / self.std
        } else {
            0.0
        }
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
    /// Human-readable, unique label ("Dark & Tense: Horror & Thriller").
    pub label: String,
    /// The feeling of the centroid's position ("Dark & Tense"); see
    /// [`crate::moods::tone`].
    pub tone: String,
    /// The centroid's valence (-1 dark .. +1 light).
    pub valence: f64,
    /// The centroid's energy (-1 calm .. +1 intense).
    pub energy: f64,
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
    /// How k was chosen (see [`crate::moods::choose_k`]).
    #[serde(default)]
    pub selection: String,
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
    /// The index and scaling of a named feature (`valence`, `energy`), or
    /// no index and a constant-0 scaling when the model lacks it (a model
    /// trained before the axis existed).
    pub fn axis(&self, name: &str) -> (Option<usize>, Scaling) {
        self.features
            .iter()
            .enumerate()
            .find(|(_, f)| f.name == name)
            .map_or_else(|| (None, Scaling::flat(name)), |(i, f)| (Some(i), f.clone()))
    }

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

/// Labels every centroid: the feeling of its valence and energy (see
/// [`crate::moods::tone`]), then its most characteristic genres (highest
/// share relative to the whole catalogue among genres that at least a
/// quarter of its movies have): "Dark & Tense: Horror & Thriller". Labels
/// are made unique by adding genres, then a number.
pub fn label_moods(centroids: &[Vec<f64>], sizes: &[u64], features: &[Scaling]) -> Vec<Mood> {
    let at = |name: &str| features.iter().position(|f| f.name == name);
    let axis = |c: &[f64], name: &str| at(name).map(|i| (features[i].unscale(c[i]), features[i].clone()));
    let mut moods: Vec<Mood> = Vec::new();
    let mut ranked_genres: Vec<Vec<String>> = Vec::new();
    for (cluster, c) in centroids.iter().enumerate() {
        let (valence, v_scale) = axis(c, "valence").unwrap_or((0.0, Scaling::flat("valence")));
        let (energy, e_scale) = axis(c, "energy").unwrap_or((0.0, Scaling::flat("energy")));
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
        // Compared at 1e-6: centroids summed in another order (another
        // cluster layout) differ in the last bits, and two genres whose
        // films coincide must not swap places between runs; then by name.
        let round = |x: f64| (x * 1e6).round();
        genres.sort_by(|a, b| {
            let a_ok = a.1 >= 0.25;
            let b_ok = b.1 >= 0.25;
            b_ok.cmp(&a_ok)
                .then(round(b.0).total_cmp(&round(a.0)))
                .then(round(b.1).total_cmp(&round(a.1)))
                .then(a.2.cmp(b.2))
        });
        let ranked: Vec<String> = genres.iter().map(|g| g.2.to_string()).collect();
        let tone = crate::moods::tone(valence, &v_scale, energy, &e_scale);
        moods.push(Mood {
            cluster,
            label: String::new(),
            tone: tone.to_string(),
            valence,
            energy,
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
                format!("{}: {}", m.tone, ranked[..take].join(" & "))
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

impl Scaling {
    /// A feature that is constant 0 (a model without that axis).
    pub fn flat(name: &str) -> Self {
        Self {
            name: name.to_string(),
            mean: 0.0,
            std: 0.0,
            weight: 1.0,
        }
    }
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
            weight: 1.0,
        }
    }

    #[test]
    fn weighted_scaling_round_trips() {
        let s = Scaling {
            name: "valence".into(),
            mean: 0.1,
            std: 0.2,
            weight: 2.0,
        };
        assert!((s.scale(0.3) - 2.0).abs() < 1e-12);
        assert!((s.unscale(s.scale(-0.45)) + 0.45).abs() < 1e-12);
    }

    #[test]
    fn labels_are_unique_and_name_feeling_then_genres() {
        let features = vec![
            scaling("valence", 0.0, 0.5),
            scaling("energy", 0.0, 0.5),
            scaling("genre_horror", 0.1, 0.3),
            scaling("genre_thriller", 0.2, 0.4),
            scaling("genre_comedy", 0.4, 0.49),
        ];
        // Raw: valence -0.5, energy +0.5, horror 0.7, thriller 0.6, comedy 0.1 (twice).
        let dark = vec![-1.0, 1.0, 2.0, 1.0, -0.6122];
        let light = vec![1.0, -1.0, -0.3, -0.5, 1.2];
        let moods = label_moods(&[dark.clone(), dark, light], &[5, 3, 9], &features);
        assert_eq!(moods[0].label, "Dark & Tense: Horror & Thriller");
        assert_eq!(moods[0].genres, vec!["Horror", "Thriller"]);
        assert!((moods[0].valence + 0.5).abs() < 1e-12 && (moods[0].energy - 0.5).abs() < 1e-12);
        assert_eq!(moods[1].label, "Dark & Tense: Horror & Thriller & Comedy");
        assert_eq!(moods[2].tone, "Warm & Gentle");
        assert!(
            moods[2].label.starts_with("Warm & Gentle: Comedy"),
            "{}",
            moods[2].label
        );
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
