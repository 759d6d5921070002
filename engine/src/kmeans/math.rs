//! The arithmetic of k-means, free of any engine type: nearest centroid,
//! per-cluster partial sums and their merge, the Lloyd update, greedy
//! k-means++ seeding, the squared-Euclidean silhouette and a plain
//! single-node Lloyd's step that the tests hold the distributed plan to.

use crate::rng::Rng;

/// `k` centroids of dimension `dim`, stored row after row.
#[derive(Debug, Clone, PartialEq)]
pub struct Centroids {
    dim: usize,
    values: Vec<f64>,
}

/// Squared Euclidean distance (over the shorter of the two).
///
/// Summed in four lanes, added pairwise at the end: one running sum made
/// every addition wait for the one before (23 dependent additions per
/// distance for the mood features), and this is the inner loop of every
/// assignment pass and of the client's seeding (with them, about a
/// quarter of stage 05's CPU at 10M generated ratings). The order of the additions is fixed, so
/// the result is as deterministic as before; it differs from one running
/// sum in the last bits only.
pub fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut lanes = [0.0f64; 4];
    let (quads_a, quads_b) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = quads_a
        .remainder()
        .iter()
        .zip(quads_b.remainder())
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    for (x, y) in quads_a.zip(quads_b) {
        for lane in 0..4 {
            let d = x[lane] - y[lane];
            lanes[lane] += d * d;
        }
    }
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]) + tail
}

fn squared_norm(a: &[f64]) -> f64 {
    a.iter().map(|x| x * x).sum()
}

impl Centroids {
    /// Centroids from their rows; every row must have the same, non-zero length.
    pub fn from_rows(rows: &[Vec<f64>]) -> Result<Self, String> {
        let dim = rows.first().map_or(0, Vec::len);
        if dim == 0 {
            return Err("k-means needs at least one centroid of dimension > 0".into());
        }
        if let Some(bad) = rows.iter().position(|r| r.len() != dim) {
            return Err(format!("centroid {bad} has {} values, expected {dim}", rows[bad].len()));
        }
        Ok(Self {
            dim,
            values: rows.concat(),
        })
    }

    /// Number of centroids.
    pub fn k(&self) -> usize {
        self.values.len() / self.dim
    }

    /// Dimension of every centroid.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Centroid `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }

    /// Every centroid, in order.
    pub fn rows(&self) -> Vec<Vec<f64>> {
        self.values.chunks(self.dim).map(<[f64]>::to_vec).collect()
    }

    /// The flat row-major values (for serialisation).
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Rebuilds centroids from [`Centroids::values`].
    pub fn from_values(dim: usize, values: Vec<f64>) -> Result<Self, String> {
        if dim == 0 || values.is_empty() || !values.len().is_multiple_of(dim) {
            return Err(format!("{} centroid values do not make rows of {dim}", values.len()));
        }
        Ok(Self { dim, values })
    }

    /// The nearest centroid of `point` and its squared distance. Ties go to
    /// the lowest index, so every executor assigns a point the same way.
    pub fn nearest(&self, point: &[f64]) -> (usize, f64) {
        let mut best = (0, f64::INFINITY);
        for i in 0..self.k() {
            let d = squared_distance(point, self.row(i));
            if d < best.1 {
                best = (i, d);
            }
        }
        best
    }

    /// The largest distance any centroid moved from `other`'s.
    pub fn max_shift(&self, other: &Centroids) -> f64 {
        (0..self.k().min(other.k()))
            .map(|i| squared_distance(self.row(i), other.row(i)).sqrt())
            .fold(0.0, f64::max)
    }
}

/// What one partition (or, merged, the whole data) knows about one cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterPartial {
    /// Points assigned.
    pub count: u64,
    /// Sum of their vectors.
    pub sum: Vec<f64>,
    /// Sum of their squared norms (the silhouette needs it).
    pub sum_sq_norm: f64,
    /// Sum of their squared distances to the centroid.
    pub cost: f64,
    /// Sum of their silhouette values (silhouette passes only).
    pub silhouette: f64,
}

impl ClusterPartial {
    fn empty(dim: usize) -> Self {
        Self {
            count: 0,
            sum: vec![0.0; dim],
            sum_sq_norm: 0.0,
            cost: 0.0,
            silhouette: 0.0,
        }
    }

    /// Adds another partial of the same cluster.
    pub fn merge(&mut self, other: &ClusterPartial) {
        self.count += other.count;
        for (a, b) in self.sum.iter_mut().zip(&other.sum) {
            *a += b;
        }
        self.sum_sq_norm += other.sum_sq_norm;
        self.cost += other.cost;
        self.silhouette += other.silhouette;
    }
}

/// A point far from its centroid, kept to re-seed empty clusters.
#[derive(Debug, Clone, PartialEq)]
pub struct FarPoint {
    /// Squared distance to its centroid.
    pub distance: f64,
    /// Its row key (the movie id): the tie-breaker, for determinism.
    pub key: i64,
    /// Its coordinates.
    pub point: Vec<f64>,
}

/// Per-cluster partials of one partition, or of all of them once merged.
#[derive(Debug, Clone, PartialEq)]
pub struct Partials {
    /// One entry per centroid.
    pub clusters: Vec<ClusterPartial>,
    /// The points farthest from their centroids, farthest first, at most `k`.
    pub far: Vec<FarPoint>,
}

impl Partials {
    /// Nothing seen yet.
    pub fn new(k: usize, dim: usize) -> Self {
        Self {
            clusters: vec![ClusterPartial::empty(dim); k],
            far: Vec::new(),
        }
    }

    /// Adds one point assigned to `cluster` at squared distance `d2`.
    pub fn add(&mut self, cluster: usize, point: &[f64], d2: f64, key: i64) {
        let c = &mut self.clusters[cluster];
        c.count += 1;
        for (a, x) in c.sum.iter_mut().zip(point) {
            *a += x;
        }
        c.sum_sq_norm += squared_norm(point);
        c.cost += d2;
        // The point is copied only when it is among the farthest so far
        // (with a copy per point and model, the allocator was about a
        // twentieth of stage 05's CPU).
        if self.takes_far(d2, key) {
            self.insert_far(FarPoint {
                distance: d2,
                key,
                point: point.to_vec(),
            });
        }
    }

    /// Whether a point at `distance` with `key` would be kept among the
    /// farthest (one per cluster).
    fn takes_far(&self, distance: f64, key: i64) -> bool {
        let probe = FarPoint {
            distance,
            key,
            point: Vec::new(),
        };
        self.far.len() < self.clusters.len() || self.far.last().is_some_and(|last| far_before(&probe, last))
    }

    fn offer_far(&mut self, candidate: FarPoint) {
        if self.takes_far(candidate.distance, candidate.key) {
            self.insert_far(candidate);
        }
    }

    fn insert_far(&mut self, candidate: FarPoint) {
        let at = self.far.partition_point(|f| far_before(f, &candidate));
        self.far.insert(at, candidate);
        self.far.truncate(self.clusters.len());
    }

    /// Adds another partition's partials (exact up to rounding; the driver
    /// merges partitions in the order of their first row key).
    pub fn merge(&mut self, other: &Partials) {
        for (a, b) in self.clusters.iter_mut().zip(&other.clusters) {
            a.merge(b);
        }
        for f in &other.far {
            self.offer_far(f.clone());
        }
    }

    /// Total squared distance of every point to its centroid.
    pub fn cost(&self) -> f64 {
        self.clusters.iter().map(|c| c.cost).sum()
    }

    /// Points seen.
    pub fn count(&self) -> u64 {
        self.clusters.iter().map(|c| c.count).sum()
    }

    /// The Lloyd update: each centroid moves to the mean of its points. An
    /// empty cluster is re-seeded with the farthest point not already used,
    /// which also lowers the cost the most; returns how many were re-seeded.
    pub fn update(&self, previous: &Centroids) -> (Centroids, usize) {
        let mut rows = previous.rows();
        let mut far = self.far.iter();
        let mut reseeded = 0;
        for (row, c) in rows.iter_mut().zip(&self.clusters) {
            if c.count > 0 {
                let n = c.count as f64;
                for (v, s) in row.iter_mut().zip(&c.sum) {
                    *v = s / n;
                }
            } else if let Some(f) = far.next() {
                row.clone_from(&f.point);
                reseeded += 1;
            }
        }
        let dim = previous.dim();
        (
            Centroids {
                dim,
                values: rows.concat(),
            },
            reseeded,
        )
    }
}

/// Farther first; equal distances by key, so the order is total.
fn far_before(a: &FarPoint, b: &FarPoint) -> bool {
    a.distance > b.distance || (a.distance == b.distance && a.key < b.key)
}

/// Cluster statistics a silhouette pass carries in its plan: per cluster the
/// count, vector sum and sum of squared norms from the final assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct SilhouetteStats {
    /// Points per cluster.
    pub counts: Vec<u64>,
    /// Vector sum per cluster.
    pub sums: Vec<Vec<f64>>,
    /// Sum of squared norms per cluster.
    pub sum_sq_norms: Vec<f64>,
}

impl SilhouetteStats {
    /// The statistics of a finished assignment.
    pub fn from_partials(p: &Partials) -> Self {
        Self {
            counts: p.clusters.iter().map(|c| c.count).collect(),
            sums: p.clusters.iter().map(|c| c.sum.clone()).collect(),
            sum_sq_norms: p.clusters.iter().map(|c| c.sum_sq_norm).collect(),
        }
    }

    /// The silhouette of `point` in `cluster`, in the squared-Euclidean form
    /// of Spark's `ClusteringEvaluator`: the mean squared distance from a
    /// point to the points of cluster j is `|x|² - 2·x·Yj/Nj + Ψj/Nj`, so a
    /// pass costs O(n·k) instead of O(n²). A point alone in its cluster
    /// scores 0.
    pub fn silhouette(&self, point: &[f64], cluster: usize) -> f64 {
        let own = self.counts[cluster];
        if own <= 1 {
            return 0.0;
        }
        let norm = squared_norm(point);
        let total = |j: usize| {
            let dot: f64 = point.iter().zip(&self.sums[j]).map(|(x, y)| x * y).sum();
            self.counts[j] as f64 * norm - 2.0 * dot + self.sum_sq_norms[j]
        };
        // The point's own zero distance is in the sum, hence N - 1.
        let a = total(cluster) / (own - 1) as f64;
        let b = (0..self.counts.len())
            .filter(|&j| j != cluster && self.counts[j] > 0)
            .map(|j| total(j) / self.counts[j] as f64)
            .fold(f64::INFINITY, f64::min);
        if !b.is_finite() {
            0.0
        } else if a < b {
            1.0 - a / b
        } else if a > b {
            b / a - 1.0
        } else {
            0.0
        }
    }
}

/// One single-node Lloyd's step over `points`: the reference that the
/// distributed assign and merge are tested against.
pub fn lloyd_step(points: &[Vec<f64>], centroids: &Centroids) -> (Centroids, f64) {
    let partials = assign_all(points, centroids);
    (partials.update(centroids).0, partials.cost())
}

/// Assigns every point of `points` (one partition) to its nearest centroid.
pub fn assign_all(points: &[Vec<f64>], centroids: &Centroids) -> Partials {
    let mut p = Partials::new(centroids.k(), centroids.dim());
    for (row, point) in points.iter().enumerate() {
        let (c, d2) = centroids.nearest(point);
        p.add(c, point, d2, row as i64);
    }
    p
}

/// Runs single-node Lloyd from `start` until no centroid moves more than
/// `tolerance` or `max_iter` steps; returns the centroids and their cost.
pub fn lloyd(points: &[Vec<f64>], start: Centroids, tolerance: f64, max_iter: usize) -> (Centroids, f64) {
    let mut centroids = start;
    for _ in 0..max_iter {
        let (next, _) = lloyd_step(points, &centroids);
        let shift = next.max_shift(&centroids);
        centroids = next;
        if shift <= tolerance {
            break;
        }
    }
    let cost = assign_all(points, &centroids).cost();
    (centroids, cost)
}

/// Greedy k-means++ (as scikit-learn seeds): the first centre uniformly,
/// then for each next centre `2 + ln k` candidates drawn with probability
/// proportional to the squared distance to the nearest centre so far, keeping
/// the candidate that lowers the total most. Deterministic for `rng`.
pub fn kmeans_plus_plus(points: &[Vec<f64>], k: usize, rng: &mut Rng) -> Result<Centroids, String> {
    if points.len() < k {
        return Err(format!("cannot choose {k} centroids from {} points", points.len()));
    }
    let trials = 2 + (k as f64).ln().floor() as usize;
    let mut centres = vec![points[rng.below(points.len() as u64) as usize].clone()];
    let mut closest: Vec<f64> = points.iter().map(|p| squared_distance(p, &centres[0])).collect();
    while centres.len() < k {
        let total: f64 = closest.iter().sum();
        let mut best: Option<(f64, usize, Vec<f64>)> = None;
        for _ in 0..trials {
            let pick = if total > 0.0 {
                let target = rng.next_f64() * total;
                let mut acc = 0.0;
                closest
                    .iter()
                    .position(|d| {
                        acc += d;
                        acc > target
                    })
                    .unwrap_or(points.len() - 1)
            } else {
                rng.below(points.len() as u64) as usize
            };
            let updated: Vec<f64> = points
                .iter()
                .zip(&closest)
                .map(|(p, d)| d.min(squared_distance(p, &points[pick])))
                .collect();
            let potential: f64 = updated.iter().sum();
            if best.as_ref().is_none_or(|b| potential < b.0) {
                best = Some((potential, pick, updated));
            }
        }
        let Some((_, pick, updated)) = best else { break };
        centres.push(points[pick].clone());
        closest = updated;
    }
    Centroids::from_rows(&centres)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[[f64; 2]]) -> Vec<Vec<f64>> {
        v.iter().map(|p| p.to_vec()).collect()
    }

    #[test]
    fn nearest_breaks_ties_by_lowest_index() {
        let c = Centroids::from_rows(&pts(&[[1.0, 0.0], [-1.0, 0.0]])).expect("centroids");
        assert_eq!(c.nearest(&[0.0, 5.0]).0, 0);
        assert_eq!(c.nearest(&[-0.5, 0.0]), (1, 0.25));
    }

    #[test]
    fn lloyd_step_moves_to_means_and_reseeds_empty_clusters() {
        let points = pts(&[[0.0, 0.0], [0.0, 2.0], [10.0, 0.0], [12.0, 0.0]]);
        // The third centroid is nearest to nothing.
        let start = Centroids::from_rows(&pts(&[[0.0, 1.0], [11.0, 0.0], [100.0, 100.0]])).expect("c");
        let partials = assign_all(&points, &start);
        assert_eq!(partials.cost(), 1.0 + 1.0 + 1.0 + 1.0);
        let (next, reseeded) = partials.update(&start);
        assert_eq!(reseeded, 1);
        assert_eq!(next.row(0), &[0.0, 1.0]);
        assert_eq!(next.row(1), &[11.0, 0.0]);
        // Every point is at distance 1; the tie goes to the first row seen.
        assert_eq!(next.row(2), &[0.0, 0.0]);
    }

    #[test]
    fn silhouette_matches_the_pairwise_definition() {
        let points = pts(&[[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [5.0, 5.0], [6.0, 5.0], [9.0, 9.0]]);
        let c = Centroids::from_rows(&pts(&[[0.3, 0.3], [5.5, 5.0], [9.0, 9.0]])).expect("c");
        let partials = assign_all(&points, &c);
        let stats = SilhouetteStats::from_partials(&partials);
        let labels: Vec<usize> = points.iter().map(|p| c.nearest(p).0).collect();
        for (i, p) in points.iter().enumerate() {
            // O(n²) reference with squared distances.
            let mean_to = |j: usize, skip_self: bool| {
                let (sum, n) = points
                    .iter()
                    .enumerate()
                    .filter(|(o, _)| labels[*o] == j && !(skip_self && *o == i))
                    .fold((0.0, 0), |(s, n), (_, q)| (s + squared_distance(p, q), n + 1));
                sum / n as f64
            };
            let own = labels[i];
            let expected = if labels.iter().filter(|&&l| l == own).count() == 1 {
                0.0
            } else {
                let a = mean_to(own, true);
                let b = (0..3)
                    .filter(|&j| j != own)
                    .map(|j| mean_to(j, false))
                    .fold(f64::INFINITY, f64::min);
                (b - a) / a.max(b)
            };
            assert!((stats.silhouette(p, own) - expected).abs() < 1e-12, "point {i}");
        }
    }

    #[test]
    fn kmeans_plus_plus_is_deterministic_and_distinct() {
        let points: Vec<Vec<f64>> = (0..200).map(|i| vec![(i % 10) as f64, (i / 10) as f64]).collect();
        let a = kmeans_plus_plus(&points, 5, &mut Rng::new(3)).expect("seed");
        let b = kmeans_plus_plus(&points, 5, &mut Rng::new(3)).expect("seed");
        assert_eq!(a, b);
        let rows = a.rows();
        for i in 0..rows.len() {
            for j in 0..i {
                assert_ne!(rows[i], rows[j]);
            }
        }
        assert!(kmeans_plus_plus(&points[..3], 5, &mut Rng::new(3)).is_err());
    }
}

#[cfg(test)]
mod properties {
    use super::{assign_all, squared_distance, Centroids, Partials};
    use proptest::prelude::*;

    fn points(dim: usize) -> impl Strategy<Value = Vec<Vec<f64>>> {
        prop::collection::vec(prop::collection::vec(-50.0..50.0f64, dim), 1..60)
    }

    proptest! {
        #[test]
        fn squared_distance_is_the_sum_of_squared_differences(
            pairs in prop::collection::vec((-50.0..50.0f64, -50.0..50.0f64), 0..40),
        ) {
            let (a, b): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
            let expected: f64 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
            let d = squared_distance(&a, &b);
            prop_assert!((d - expected).abs() <= 1e-12 * expected.max(1.0), "{} vs {}", d, expected);
            // Over the shorter of the two, as the running sum was.
            prop_assert_eq!(squared_distance(&a, &b[..b.len() / 2]), squared_distance(&a[..a.len() / 2], &b[..b.len() / 2]));
        }

        #[test]
        fn each_point_goes_to_its_nearest_centroid(
            pts in points(3),
            cents in prop::collection::vec(prop::collection::vec(-50.0..50.0f64, 3), 1..6),
        ) {
            let c = Centroids::from_rows(&cents).expect("centroids");
            for p in &pts {
                let (i, d) = c.nearest(p);
                for j in 0..c.k() {
                    prop_assert!(d <= squared_distance(p, c.row(j)));
                }
                prop_assert_eq!(d, squared_distance(p, c.row(i)));
            }
            let partials = assign_all(&pts, &c);
            prop_assert_eq!(partials.count(), pts.len() as u64);
        }

        #[test]
        fn merging_partials_in_any_order_gives_the_same_centroids(
            pts in points(2),
            cents in prop::collection::vec(prop::collection::vec(-50.0..50.0f64, 2), 1..5),
            cuts in prop::collection::vec(0usize..60, 0..5),
            seed in any::<u64>(),
        ) {
            let c = Centroids::from_rows(&cents).expect("centroids");
            let whole = assign_all(&pts, &c);
            // Split into chunks at the cut points, then merge them shuffled.
            let mut bounds: Vec<usize> = cuts.into_iter().map(|x| x % (pts.len() + 1)).collect();
            bounds.extend([0, pts.len()]);
            bounds.sort_unstable();
            let mut chunks: Vec<Partials> = bounds
                .windows(2)
                .map(|w| {
                    let mut p = Partials::new(c.k(), c.dim());
                    for (i, pt) in pts[w[0]..w[1]].iter().enumerate() {
                        let (cl, d2) = c.nearest(pt);
                        p.add(cl, pt, d2, (w[0] + i) as i64);
                    }
                    p
                })
                .collect();
            let mut rng = crate::rng::Rng::new(seed);
            for i in (1..chunks.len()).rev() {
                chunks.swap(i, rng.below(i as u64 + 1) as usize);
            }
            let mut merged = Partials::new(c.k(), c.dim());
            for ch in &chunks {
                merged.merge(ch);
            }
            prop_assert_eq!(&merged.far, &whole.far);
            let (a, _) = merged.update(&c);
            let (b, _) = whole.update(&c);
            for (x, y) in a.values().iter().zip(b.values()) {
                prop_assert!((x - y).abs() <= 1e-9, "{} vs {}", x, y);
            }
            prop_assert!((merged.cost() - whole.cost()).abs() <= 1e-9 * whole.cost().max(1.0));
        }
    }
}
