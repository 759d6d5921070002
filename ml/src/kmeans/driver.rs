//! The k-means driver: runs on the client, submits one Ballista job per
//! pass and decides what the next pass is.
//!
//! A pass is the physical plan
//!
//! ```text
//! KMeansMergeExec                      stage 2: one task, adds the partials
//!   CoalescePartitionsExec             <- Ballista cuts a stage here
//!     KMeansAssignExec(centroids)      stage 1: one task per partition
//!       DataSourceExec(parquet)          reads the compact features copy
//! ```
//!
//! submitted with ballista-core's `execute_physical_plan`, which takes the
//! plan through Ballista's static planner, so the stages always split this
//! way. The driver seeds every candidate k (greedy k-means++ with several
//! tries, judged on a sample held by the client), then advances all of them
//! in the same passes: one job per Lloyd's step carries the centroids of
//! every k not yet converged (each stops when none of its centroids moves
//! more than the tolerance), then one statistics pass and one silhouette
//! pass serve every k. For k = 3..8 that is the longest k's steps plus two
//! jobs, where one k at a time took the sum of every k's steps plus twelve.

use std::sync::Arc;

use ballista_core::execution_plans::execute_physical_plan;
use ballista_core::extension::SessionConfigExt;
use datafusion::common::{DataFusionError, Result};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::protobuf::PhysicalPlanNode;

use super::exec::{
    batches_to_partials, merge_in_order, AssignMode, AssignModel, KMeansAssignExec, KMeansMergeExec, RanOn,
};
use super::math::{kmeans_plus_plus, lloyd, Centroids, Partials, SilhouetteStats};
use moodflow_engine::rng::Rng;
use moodflow_engine::session::Cluster;

/// How to train.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Smallest k tried.
    pub k_min: usize,
    /// Largest k tried.
    pub k_max: usize,
    /// Seed of the seeding.
    pub seed: u64,
    /// Most Lloyd's steps per k.
    pub max_iter: usize,
    /// Converged when no centroid moves farther than this.
    pub tolerance: f64,
    /// k-means++ tries per k; the one with the lowest cost on the sample,
    /// after a short local refinement, starts the distributed iterations.
    pub n_init: usize,
    /// Most points the client seeds on.
    pub sample_size: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            k_min: 3,
            k_max: 8,
            seed: 42,
            max_iter: 40,
            tolerance: 1e-4,
            n_init: 5,
            sample_size: 20_000,
        }
    }
}

/// One Lloyd's step as the cluster ran it.
#[derive(Debug, Clone)]
pub struct Iteration {
    /// Cost of the assignment to the centroids the step started from.
    pub cost: f64,
    /// The centroids after the step.
    pub centroids: Centroids,
    /// Largest distance a centroid moved.
    pub shift: f64,
    /// Empty clusters re-seeded in this step.
    pub reseeded: usize,
}

/// The result for one k.
#[derive(Debug, Clone)]
pub struct KFit {
    /// Number of clusters.
    pub k: usize,
    /// Final centroids.
    pub centroids: Centroids,
    /// Sum of squared distances to the final centroids.
    pub cost: f64,
    /// Mean silhouette (squared Euclidean) of the final assignment.
    pub silhouette: f64,
    /// Points per cluster.
    pub sizes: Vec<u64>,
    /// Lloyd's steps run.
    pub iterations: usize,
    /// Whether the tolerance was reached within `max_iter`.
    pub converged: bool,
}

/// Runs passes over one input on one cluster.
pub struct Passes<'a> {
    cluster: &'a Cluster,
    scan: Arc<dyn ExecutionPlan>,
    key_column: String,
    column: String,
    jobs: std::sync::atomic::AtomicUsize,
    ran_on: std::sync::Mutex<Vec<RanOn>>,
}

impl<'a> Passes<'a> {
    /// Passes over `scan` (any plan whose `column` is `list<double>` and
    /// whose `key_column` is a unique `bigint`; moodflow gives it a Parquet
    /// scan of the compact features copy, keyed by movieId).
    pub fn new(
        cluster: &'a Cluster,
        scan: Arc<dyn ExecutionPlan>,
        key_column: impl Into<String>,
        column: impl Into<String>,
    ) -> Self {
        Self {
            cluster,
            scan,
            key_column: key_column.into(),
            column: column.into(),
            jobs: Default::default(),
            ran_on: Default::default(),
        }
    }

    /// Ballista jobs submitted so far.
    pub fn jobs(&self) -> usize {
        self.jobs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Where every assign task of every pass so far ran.
    pub fn ran_on(&self) -> Vec<RanOn> {
        self.ran_on.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// The plan of one pass over every model in `models`.
    pub fn plan(&self, models: &[AssignModel]) -> Arc<dyn ExecutionPlan> {
        let assign = Arc::new(KMeansAssignExec::new(
            Arc::clone(&self.scan),
            self.key_column.clone(),
            self.column.clone(),
            models.to_vec(),
        ));
        let gather = Arc::new(CoalescePartitionsExec::new(assign));
        let ks = models.iter().map(|m| m.centroids.k()).collect();
        let dim = models.first().map_or(0, |m| m.centroids.dim());
        Arc::new(KMeansMergeExec::new(gather, ks, dim))
    }

    /// Runs one pass over every model as one Ballista job and returns the
    /// merged partials of each, in order.
    pub async fn run_all(&self, models: &[AssignModel]) -> Result<Vec<Partials>> {
        let Some(dim) = models.first().map(|m| m.centroids.dim()) else {
            return Ok(Vec::new());
        };
        let plan = self.plan(models);
        let config = self.cluster.ctx.copied_config();
        let codec = config.ballista_physical_extension_codec();
        let stream = execute_physical_plan::<PhysicalPlanNode>(
            self.cluster.scheduler_url.clone(),
            &config.ballista_config(),
            plan,
            codec.as_ref(),
            self.cluster.ctx.session_id(),
            config,
        )
        .await?;
        self.jobs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let batches = datafusion::physical_plan::common::collect(stream).await?;
        let ks: Vec<usize> = models.iter().map(|m| m.centroids.k()).collect();
        let decoded = batches_to_partials(&batches, &ks, dim)?;
        if let Ok(mut ran_on) = self.ran_on.lock() {
            ran_on.extend(decoded.ran_on.iter().cloned());
        }
        Ok(merge_in_order(&decoded, &ks, dim))
    }

    /// Runs one pass over one model.
    pub async fn run(&self, centroids: &Centroids, mode: AssignMode) -> Result<Partials> {
        let models = [AssignModel {
            centroids: centroids.clone(),
            mode,
        }];
        self.run_all(&models)
            .await?
            .pop()
            .ok_or_else(|| DataFusionError::Internal("k-means: a pass returned no partials".into()))
    }

    /// Lloyd's steps from `start` until the tolerance or `max_iter`.
    pub async fn iterate(&self, start: Centroids, tolerance: f64, max_iter: usize) -> Result<Vec<Iteration>> {
        let mut runs = self.iterate_all(vec![start], tolerance, max_iter).await?;
        runs.pop()
            .ok_or_else(|| DataFusionError::Internal("k-means: no iterations for the start".into()))
    }

    /// Lloyd's steps from every start together: one job per step advances
    /// every start that has not yet converged, and each stops on its own
    /// (shift within `tolerance` and nothing re-seeded, or `max_iter`
    /// steps). A start's steps are exactly those it would take alone: its
    /// partials are computed and merged apart from the others'.
    pub async fn iterate_all(
        &self,
        starts: Vec<Centroids>,
        tolerance: f64,
        max_iter: usize,
    ) -> Result<Vec<Vec<Iteration>>> {
        let mut current = starts;
        let mut histories: Vec<Vec<Iteration>> = vec![Vec::new(); current.len()];
        let mut active: Vec<usize> = (0..current.len()).collect();
        for _ in 0..max_iter {
            if active.is_empty() {
                break;
            }
            let models: Vec<AssignModel> = active
                .iter()
                .map(|&i| AssignModel {
                    centroids: current[i].clone(),
                    mode: AssignMode::Lloyd,
                })
                .collect();
            let partials = self.run_all(&models).await?;
            let mut still = Vec::with_capacity(active.len());
            for (&i, partials) in active.iter().zip(&partials) {
                if partials.count() == 0 {
                    return Err(DataFusionError::Execution(
                        "k-means: the features table has no rows".into(),
                    ));
                }
                let (next, reseeded) = partials.update(&current[i]);
                let shift = next.max_shift(&current[i]);
                current[i] = next.clone();
                histories[i].push(Iteration {
                    cost: partials.cost(),
                    centroids: next,
                    shift,
                    reseeded,
                });
                if !(shift <= tolerance && reseeded == 0) {
                    still.push(i);
                }
            }
            active = still;
        }
        Ok(histories)
    }

    /// Fits one k: seeding, iterations, statistics and silhouette passes.
    pub async fn fit(&self, sample: &[Vec<f64>], k: usize, params: &Params) -> Result<KFit> {
        self.fit_all(sample, &[k], params)
            .await?
            .pop()
            .ok_or_else(|| DataFusionError::Internal("k-means: no fit".into()))
    }

    /// Fits every k of `ks` together: each is seeded on the client, all
    /// iterate in the same passes ([`Self::iterate_all`]), then one
    /// statistics pass and one silhouette pass serve them all. Jobs: the
    /// most steps any k takes, plus two (one k at a time it was the sum of
    /// every k's steps plus two per k).
    pub async fn fit_all(&self, sample: &[Vec<f64>], ks: &[usize], params: &Params) -> Result<Vec<KFit>> {
        let starts = seed_all(sample, ks, params)?;
        let histories = self
            .iterate_all(starts.clone(), params.tolerance, params.max_iter)
            .await?;
        let finals: Vec<Centroids> = histories
            .iter()
            .zip(starts)
            .map(|(h, start)| h.last().map_or(start, |i| i.centroids.clone()))
            .collect();
        let lloyd: Vec<AssignModel> = finals
            .iter()
            .map(|c| AssignModel {
                centroids: c.clone(),
                mode: AssignMode::Lloyd,
            })
            .collect();
        let stats = self.run_all(&lloyd).await?;
        let with_silhouette: Vec<AssignModel> = finals
            .iter()
            .zip(&stats)
            .map(|(c, s)| AssignModel {
                centroids: c.clone(),
                mode: AssignMode::Silhouette(SilhouetteStats::from_partials(s)),
            })
            .collect();
        let silhouettes = self.run_all(&with_silhouette).await?;
        Ok(ks
            .iter()
            .zip(finals)
            .zip(histories.iter().zip(stats.iter().zip(&silhouettes)))
            .map(|((&k, centroids), (history, (stats, with_silhouette)))| {
                let n = with_silhouette.count().max(1) as f64;
                KFit {
                    k,
                    cost: stats.cost(),
                    silhouette: with_silhouette.clusters.iter().map(|c| c.silhouette).sum::<f64>() / n,
                    sizes: stats.clusters.iter().map(|c| c.count).collect(),
                    iterations: history.len(),
                    converged: history
                        .last()
                        .is_some_and(|i| i.shift <= params.tolerance && i.reseeded == 0),
                    centroids,
                }
            })
            .collect())
    }

    /// Fits every k of the range in the same passes; the best is the
    /// highest silhouette (the smaller k on a tie).
    pub async fn select(&self, sample: &[Vec<f64>], params: &Params) -> Result<(Vec<KFit>, usize)> {
        if params.k_min < 2 || params.k_min > params.k_max {
            return Err(DataFusionError::Plan(format!(
                "k range {}..{} is empty or below 2",
                params.k_min, params.k_max
            )));
        }
        let ks: Vec<usize> = (params.k_min..=params.k_max).collect();
        let fits = self.fit_all(sample, &ks, params).await?;
        let best = fits.iter().enumerate().fold(
            0,
            |best, (i, f)| if f.silhouette > fits[best].silhouette { i } else { best },
        );
        Ok((fits, best))
    }
}

/// [`seed_centroids`] for every k of `ks`, each k on a thread of its own:
/// a k's seeding depends only on the sample, k and the seed, so the
/// centroids are those of one k after the other (a test compares them),
/// and the client's seeding (on 10M generated ratings, 3% of the whole
/// pipeline's CPU, on its critical path) takes the time of the largest k
/// on each core instead of the sum over the range.
pub fn seed_all(sample: &[Vec<f64>], ks: &[usize], params: &Params) -> Result<Vec<Centroids>> {
    std::thread::scope(|scope| {
        let seeding: Vec<_> = ks
            .iter()
            .map(|&k| (k, scope.spawn(move || seed_centroids(sample, k, params))))
            .collect();
        seeding
            .into_iter()
            .map(|(k, thread)| {
                thread
                    .join()
                    .unwrap_or_else(|_| Err(DataFusionError::Internal(format!("k-means: seeding k = {k} panicked"))))
            })
            .collect()
    })
}

/// The starting centroids for `k`: `n_init` greedy k-means++ seedings of the
/// sample; each is judged by its cost after ten local Lloyd's steps on the
/// sample, and the best seeding itself (not its refinement: the iterations
/// are the cluster's job) starts the distributed iterations. Depends only on
/// the sample, k and the seed.
pub fn seed_centroids(sample: &[Vec<f64>], k: usize, params: &Params) -> Result<Centroids> {
    let mut rng = Rng::new(params.seed ^ (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut best: Option<(f64, Centroids)> = None;
    for _ in 0..params.n_init.max(1) {
        let seeded = kmeans_plus_plus(sample, k, &mut rng).map_err(DataFusionError::Plan)?;
        let (_, cost) = lloyd(sample, seeded.clone(), params.tolerance, 10);
        if best.as_ref().is_none_or(|(c, _)| cost < *c) {
            best = Some((cost, seeded));
        }
    }
    best.map(|(_, c)| c)
        .ok_or_else(|| DataFusionError::Internal("k-means seeding produced nothing".into()))
}

/// A deterministic sample of at most `size` points (all of them when there
/// are fewer), in their original order.
pub fn sample(points: &[Vec<f64>], size: usize, seed: u64) -> Vec<Vec<f64>> {
    if points.len() <= size {
        return points.to_vec();
    }
    let mut rng = Rng::new(seed);
    let mut index: Vec<usize> = (0..points.len()).collect();
    for i in 0..size {
        let j = i + rng.below((points.len() - i) as u64) as usize;
        index.swap(i, j);
    }
    let mut chosen = index[..size].to_vec();
    chosen.sort_unstable();
    chosen.into_iter().map(|i| points[i].clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeding_every_k_side_by_side_gives_each_k_its_own_seeding() {
        // Three blobs in 4 dimensions plus noise: enough structure that
        // different tries pick different centres.
        let mut rng = Rng::new(7);
        let points: Vec<Vec<f64>> = (0..3000)
            .map(|i| (0..4).map(|d| ((i % 3) * 5 + d) as f64 + rng.next_f64()).collect())
            .collect();
        let params = Params::default();
        let ks: Vec<usize> = (2..=8).collect();
        let together = seed_all(&points, &ks, &params).expect("seed all");
        assert_eq!(together.len(), ks.len());
        for (&k, seeded) in ks.iter().zip(&together) {
            let alone = seed_centroids(&points, k, &params).expect("seed one");
            assert_eq!(seeded.k(), k);
            assert_eq!(seeded, &alone, "k = {k}");
        }
        // A k the sample cannot seed is an error, not a panic.
        assert!(seed_all(&points[..2], &[3], &params).is_err());
    }
}
