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
//! way. The driver seeds (greedy k-means++ with several tries, judged on a
//! sample held by the client), iterates Lloyd's steps until no centroid moves
//! more than the tolerance, then runs one statistics pass and one silhouette
//! pass per k.

use std::sync::Arc;

use ballista_core::execution_plans::execute_physical_plan;
use ballista_core::extension::SessionConfigExt;
use datafusion::common::{DataFusionError, Result};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::protobuf::PhysicalPlanNode;

use super::exec::{batches_to_partials, merge_in_order, AssignMode, KMeansAssignExec, KMeansMergeExec, RanOn};
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

    /// The plan of one pass.
    pub fn plan(&self, centroids: &Centroids, mode: AssignMode) -> Arc<dyn ExecutionPlan> {
        let assign = Arc::new(KMeansAssignExec::new(
            Arc::clone(&self.scan),
            self.key_column.clone(),
            self.column.clone(),
            centroids.clone(),
            mode,
        ));
        let gather = Arc::new(CoalescePartitionsExec::new(assign));
        Arc::new(KMeansMergeExec::new(gather, centroids.k(), centroids.dim()))
    }

    /// Runs one pass as a Ballista job and returns the merged partials.
    pub async fn run(&self, centroids: &Centroids, mode: AssignMode) -> Result<Partials> {
        let plan = self.plan(centroids, mode);
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
        let (k, dim) = (centroids.k(), centroids.dim());
        let decoded = batches_to_partials(&batches, k, dim)?;
        if let Ok(mut ran_on) = self.ran_on.lock() {
            ran_on.extend(decoded.ran_on.iter().cloned());
        }
        Ok(merge_in_order(&decoded, k, dim))
    }

    /// Lloyd's steps from `start` until the tolerance or `max_iter`.
    pub async fn iterate(&self, start: Centroids, tolerance: f64, max_iter: usize) -> Result<Vec<Iteration>> {
        let mut history: Vec<Iteration> = Vec::new();
        let mut centroids = start;
        for _ in 0..max_iter {
            let partials = self.run(&centroids, AssignMode::Lloyd).await?;
            if partials.count() == 0 {
                return Err(DataFusionError::Execution(
                    "k-means: the features table has no rows".into(),
                ));
            }
            let (next, reseeded) = partials.update(&centroids);
            let shift = next.max_shift(&centroids);
            centroids = next.clone();
            history.push(Iteration {
                cost: partials.cost(),
                centroids: next,
                shift,
                reseeded,
            });
            if shift <= tolerance && reseeded == 0 {
                break;
            }
        }
        Ok(history)
    }

    /// Fits one k: seeding, iterations, statistics and silhouette passes.
    pub async fn fit(&self, sample: &[Vec<f64>], k: usize, params: &Params) -> Result<KFit> {
        let start = seed_centroids(sample, k, params)?;
        let history = self.iterate(start.clone(), params.tolerance, params.max_iter).await?;
        let centroids = history.last().map_or(start, |i| i.centroids.clone());
        let converged = history
            .last()
            .is_some_and(|i| i.shift <= params.tolerance && i.reseeded == 0);
        let stats = self.run(&centroids, AssignMode::Lloyd).await?;
        let silhouette_stats = SilhouetteStats::from_partials(&stats);
        let with_silhouette = self.run(&centroids, AssignMode::Silhouette(silhouette_stats)).await?;
        let n = with_silhouette.count().max(1) as f64;
        Ok(KFit {
            k,
            cost: stats.cost(),
            silhouette: with_silhouette.clusters.iter().map(|c| c.silhouette).sum::<f64>() / n,
            sizes: stats.clusters.iter().map(|c| c.count).collect(),
            iterations: history.len(),
            converged,
            centroids,
        })
    }

    /// Fits every k of the range; the best is the highest silhouette (the
    /// smaller k on a tie).
    pub async fn select(&self, sample: &[Vec<f64>], params: &Params) -> Result<(Vec<KFit>, usize)> {
        if params.k_min < 2 || params.k_min > params.k_max {
            return Err(DataFusionError::Plan(format!(
                "k range {}..{} is empty or below 2",
                params.k_min, params.k_max
            )));
        }
        let mut fits = Vec::new();
        for k in params.k_min..=params.k_max {
            fits.push(self.fit(sample, k, params).await?);
        }
        let best = fits.iter().enumerate().fold(
            0,
            |best, (i, f)| if f.silhouette > fits[best].silhouette { i } else { best },
        );
        Ok((fits, best))
    }
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
