//! Distributed k-means against a single-node reference, across cluster
//! shapes, and on the real `ml-latest-small` features.

use std::path::Path;

use moodflow_engine::kmeans::math::Centroids;
use moodflow_engine::rng::Rng;
use moodflow_engine::{local_context, remote, session_config, Cluster, StorageRoot};
use moodflow_ml::kmeans::driver::{Params, Passes};
use moodflow_ml::kmeans::train::{compact_scan, load_features, write_compact_copy, FeatureTable};
use moodflow_standalone::standalone;
use moodflow_tests::cluster::InProcessCluster;
use moodflow_tests::{block_on, shared_data};

/// `n` points around `centres`, with Gaussian noise of `spread`.
fn blobs(n: usize, centres: &[Vec<f64>], spread: f64, seed: u64) -> FeatureTable {
    let mut rng = Rng::new(seed);
    let mut table = FeatureTable::default();
    for i in 0..n {
        let c = &centres[i % centres.len()];
        table.ids.push(i as i64 + 1);
        table.titles.push(format!("movie {i}"));
        table.points.push(c.iter().map(|x| x + spread * rng.normal()).collect());
    }
    table
}

/// Squared Euclidean distance.
fn d2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// One Lloyd's step written here, independently of the engine's math, from
/// the documented rules: every point goes to its nearest centroid (the
/// lowest index on a tie); a centroid moves to the mean of its points; an
/// empty cluster takes the point farthest from its own centroid that no
/// earlier empty cluster took (ties by row). Returns the new centroids
/// and the cost of the assignment (before the move).
fn reference_step(points: &[Vec<f64>], centroids: &[Vec<f64>]) -> (Vec<Vec<f64>>, f64) {
    let (k, dim) = (centroids.len(), centroids[0].len());
    let mut sums = vec![vec![0.0; dim]; k];
    let mut counts = vec![0usize; k];
    let mut cost = 0.0;
    let mut far: Vec<(f64, usize)> = Vec::with_capacity(points.len());
    for (row, p) in points.iter().enumerate() {
        let (mut best, mut best_d) = (0, f64::INFINITY);
        for (c, centre) in centroids.iter().enumerate() {
            let d = d2(p, centre);
            if d < best_d {
                (best, best_d) = (c, d);
            }
        }
        counts[best] += 1;
        sums[best].iter_mut().zip(p).for_each(|(s, x)| *s += x);
        cost += best_d;
        far.push((best_d, row));
    }
    far.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut far = far.into_iter().map(|(_, row)| row);
    let next = (0..k)
        .map(|c| match counts[c] {
            0 => far
                .next()
                .map_or_else(|| centroids[c].clone(), |row| points[row].clone()),
            n => sums[c].iter().map(|s| s / n as f64).collect(),
        })
        .collect();
    (next, cost)
}

/// The cost of `centroids` on `points`.
fn reference_cost(points: &[Vec<f64>], centroids: &[Vec<f64>]) -> f64 {
    points
        .iter()
        .map(|p| centroids.iter().map(|c| d2(p, c)).fold(f64::INFINITY, f64::min))
        .sum()
}

/// Single-node Lloyd's from `k` distinct points drawn at random (Forgy),
/// written here: the best cost of `restarts` runs.
fn reference_best_cost(points: &[Vec<f64>], k: usize, restarts: u64) -> f64 {
    (0..restarts)
        .map(|restart| {
            let mut rng = Rng::new(1000 + restart);
            let mut rows: Vec<usize> = Vec::new();
            while rows.len() < k {
                let row = rng.below(points.len() as u64) as usize;
                if !rows.contains(&row) {
                    rows.push(row);
                }
            }
            let mut centroids: Vec<Vec<f64>> = rows.iter().map(|&r| points[r].clone()).collect();
            for _ in 0..300 {
                let (next, _) = reference_step(points, &centroids);
                let moved = next.iter().zip(&centroids).map(|(a, b)| d2(a, b)).fold(0.0, f64::max);
                centroids = next;
                if moved <= 1e-12 {
                    break;
                }
            }
            reference_cost(points, &centroids)
        })
        .fold(f64::INFINITY, f64::min)
}

fn centres() -> Vec<Vec<f64>> {
    vec![
        vec![0.0, 0.0, 0.0, 1.0, 0.0],
        vec![4.0, 4.0, 0.0, 0.0, 1.0],
        vec![-3.0, 5.0, 2.0, 0.0, 0.0],
        vec![2.0, -4.0, -2.0, 1.0, 1.0],
    ]
}

async fn passes_over<'a>(cluster: &'a Cluster, dir: &Path, table: &FeatureTable, partitions: usize) -> Passes<'a> {
    let root = StorageRoot::parse(&dir.to_string_lossy()).expect("root");
    let ctx = local_context(session_config(&[]).expect("config")).expect("ctx");
    let files = write_compact_copy(&ctx, &root, "input", table, partitions)
        .await
        .expect("compact copy");
    Passes::new(
        cluster,
        compact_scan(&files).await.expect("scan"),
        "movieId",
        "features",
    )
}

#[test]
fn every_distributed_iteration_is_a_lloyd_step() {
    block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        let table = blobs(1_500, &centres(), 1.5, 11);
        let cluster = standalone(session_config(&[]).expect("config")).await.expect("cluster");
        let passes = passes_over(&cluster, dir.path(), &table, 3).await;
        // Deliberately poor fixed start: three centroids near one blob.
        let start = Centroids::from_rows(&[
            vec![0.0, 0.0, 0.0, 0.0, 0.0],
            vec![0.5, 0.0, 0.0, 0.0, 0.0],
            vec![0.0, 0.5, 0.0, 0.0, 0.0],
            vec![9.0, 9.0, 9.0, 9.0, 9.0],
        ])
        .expect("start");
        let history = passes.iterate(start.clone(), 0.0, 6).await.expect("iterate");
        assert_eq!(history.len(), 6);
        let mut reference = start.rows();
        for (i, step) in history.iter().enumerate() {
            let (next, cost) = reference_step(&table.points, &reference);
            assert!((step.cost - cost).abs() <= 1e-9 * cost.max(1.0), "iteration {i}: cost");
            for (a, b) in step.centroids.values().iter().zip(next.concat()) {
                assert!((a - b).abs() <= 1e-9, "iteration {i}: {a} vs {b}");
            }
            reference = next;
        }
        assert_eq!(passes.jobs(), 6, "one Ballista job per iteration");
    });
}

/// Every k advances in the same passes: each k's centroids, cost, sizes and
/// silhouette are what it gets alone (one k per pass, as before), and each
/// k's steps are the Lloyd's steps of the reference loop written here, run
/// from the same seeding until no centroid moves more than the tolerance.
/// Jobs: the longest k's steps plus two, against every k's steps plus two
/// per k.
#[test]
fn every_k_in_the_same_passes_matches_one_k_at_a_time() {
    block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        let table = blobs(1_500, &centres(), 1.2, 21);
        let params = Params {
            k_min: 2,
            k_max: 6,
            seed: 4,
            ..Params::default()
        };
        let cluster = standalone(session_config(&[]).expect("config")).await.expect("cluster");
        let together = passes_over(&cluster, &dir.path().join("all"), &table, 3).await;
        let (fits, _) = together.select(&table.points, &params).await.expect("select");
        let alone = passes_over(&cluster, &dir.path().join("one"), &table, 3).await;
        let mut steps = Vec::new();
        for fit in &fits {
            let single = alone.fit(&table.points, fit.k, &params).await.expect("fit");
            assert_eq!(single.iterations, fit.iterations, "k = {}: steps", fit.k);
            assert_eq!(single.sizes, fit.sizes, "k = {}: sizes", fit.k);
            assert_eq!(single.centroids.values(), fit.centroids.values(), "k = {}", fit.k);
            assert!((single.cost - fit.cost).abs() <= 1e-9 * fit.cost, "k = {}: cost", fit.k);
            assert!((single.silhouette - fit.silhouette).abs() <= 1e-9, "k = {}", fit.k);

            // The reference: Lloyd's steps written here from the same start.
            let start = moodflow_ml::kmeans::driver::seed_centroids(&table.points, fit.k, &params).expect("seed");
            let mut centroids = start.rows();
            let mut taken = 0;
            while taken < params.max_iter {
                let (next, _) = reference_step(&table.points, &centroids);
                let moved = next
                    .iter()
                    .zip(&centroids)
                    .map(|(a, b)| d2(a, b).sqrt())
                    .fold(0.0, f64::max);
                centroids = next;
                taken += 1;
                if moved <= params.tolerance {
                    break;
                }
            }
            assert_eq!(fit.iterations, taken, "k = {}: steps against the reference", fit.k);
            for (a, b) in fit.centroids.values().iter().zip(centroids.concat()) {
                assert!((a - b).abs() <= 1e-9, "k = {}: centroid {a} vs reference {b}", fit.k);
            }
            let cost = reference_cost(&table.points, &centroids);
            assert!((fit.cost - cost).abs() <= 1e-9 * cost, "k = {}: cost", fit.k);
            steps.push(fit.iterations);
        }
        let longest = steps.iter().copied().max().expect("ks");
        assert_eq!(together.jobs(), longest + 2, "steps per k: {steps:?}");
        assert_eq!(
            alone.jobs(),
            steps.iter().map(|s| s + 2).sum::<usize>(),
            "one k at a time: steps per k {steps:?}"
        );
        assert!(steps.iter().any(|&s| s != longest), "ks stop on their own: {steps:?}");
    });
}

#[test]
fn same_seed_same_model_standalone_and_on_1_2_4_executors() {
    block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        let table = blobs(1_200, &centres(), 0.6, 5);
        let params = Params {
            k_min: 2,
            k_max: 5,
            seed: 9,
            ..Params::default()
        };
        let fit = |cluster: Cluster, sub: &'static str| {
            let table = table.clone();
            let params = params.clone();
            let dir = dir.path().join(sub);
            async move {
                let passes = passes_over(&cluster, &dir, &table, 4).await;
                let (fits, best) = passes.select(&table.points, &params).await.expect("select");
                let summary: Vec<_> = fits
                    .iter()
                    .map(|f| {
                        (
                            f.k,
                            f.centroids.values().to_vec(),
                            f.cost,
                            f.silhouette,
                            f.sizes.clone(),
                        )
                    })
                    .collect();
                (summary, best)
            }
        };
        // Ballista may hand one task several files of the scan, so sums are
        // reassociated: equal up to rounding, with identical assignments.
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * a.abs().max(1.0);
        let reference = fit(
            standalone(session_config(&[]).expect("config")).await.expect("cluster"),
            "s",
        )
        .await;
        assert_eq!(reference.0[reference.1].0, 4, "four blobs make k = 4");
        for (executors, sub) in [(1, "c1"), (2, "c2"), (4, "c4")] {
            let running = InProcessCluster::start(executors, 1).await;
            let cluster = remote(&running.url, session_config(&[]).expect("config"))
                .await
                .expect("remote");
            let got = fit(cluster, sub).await;
            for (g, r) in got.0.iter().zip(&reference.0) {
                assert_eq!(g.0, r.0);
                assert_eq!(g.4, r.4, "k = {}: cluster sizes on {executors} executors", g.0);
                assert!(
                    g.1.iter().zip(&r.1).all(|(a, b)| close(*a, *b)),
                    "k = {}: centroids on {executors} executors",
                    g.0
                );
                assert!(
                    close(g.2, r.2) && close(g.3, r.3),
                    "k = {}: cost, silhouette on {executors} executors",
                    g.0
                );
            }
            assert_eq!(got.1, reference.1);
        }
    });
}

#[test]
fn assign_tasks_run_on_both_executors() {
    block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        let table = blobs(4_000, &centres(), 1.0, 3);
        let running = InProcessCluster::start(2, 1).await;
        let cluster = remote(&running.url, session_config(&[]).expect("config"))
            .await
            .expect("remote");
        let passes = passes_over(&cluster, dir.path(), &table, 8).await;
        let start = Centroids::from_rows(&centres()).expect("start");
        passes.iterate(start, 0.0, 3).await.expect("iterate");
        // Every assign task reports the executor it ran on.
        let ran_on = passes.ran_on();
        assert_eq!(ran_on.len(), 3 * 8, "one report per partition per pass: {ran_on:?}");
        assert!(ran_on.iter().all(|r| r.rows == 500), "{ran_on:?}");
        let firsts: std::collections::BTreeSet<i64> = ran_on.iter().map(|r| r.first_key).collect();
        assert_eq!(
            firsts,
            (0..8).map(|p| p * 500 + 1).collect(),
            "each partition reported once per pass"
        );
        let executors: std::collections::BTreeSet<&str> = ran_on.iter().map(|r| r.executor.as_str()).collect();
        assert_eq!(executors.len(), 2, "assign tasks ran on {executors:?}");
        assert!(!executors.contains("standalone"));
    });
}

/// `--task-distribution` defaults to round-robin: a job of two tasks on a
/// cluster of two executors with four free slots each runs on both.
/// Ballista's own default (bias) fills the first executor's slots and so
/// runs it on one: shown too, as the reason for the default.
#[test]
fn a_small_job_runs_on_both_executors_by_default() {
    use moodflow_scheduler::TaskDistribution;
    block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        let table = blobs(1_000, &centres(), 1.0, 5);
        for (distribution, executors_used) in [(TaskDistribution::default(), 2), (TaskDistribution::Bias, 1)] {
            let running = InProcessCluster::start_with(2, 4, distribution).await;
            let cluster = remote(&running.url, session_config(&[]).expect("config"))
                .await
                .expect("remote");
            let passes = passes_over(&cluster, dir.path(), &table, 2).await;
            let start = Centroids::from_rows(&centres()).expect("start");
            passes.iterate(start, 0.0, 1).await.expect("iterate");
            let ran_on = passes.ran_on();
            assert_eq!(
                ran_on.len(),
                2,
                "{distribution:?}: one report per partition: {ran_on:?}"
            );
            let executors: std::collections::BTreeSet<String> = ran_on.iter().map(|r| r.executor.clone()).collect();
            assert_eq!(
                executors.len(),
                executors_used,
                "{distribution:?}: the two assign tasks ran on {executors:?}"
            );
        }
    });
}

#[test]
fn chosen_k_cost_is_near_the_best_of_ten_single_node_restarts_on_real_movielens() {
    let Some(data) = shared_data() else {
        eprintln!("skipped: ../shared/data is absent");
        return;
    };
    block_on(async move {
        use moodflow_pipeline::stages::STAGES;
        let dir = tempfile::tempdir().expect("tmp");
        let raw = dir.path().join("raw/movielens");
        std::fs::create_dir_all(&raw).expect("raw dir");
        for f in ["movies.csv", "ratings.csv", "tags.csv", "links.csv"] {
            std::fs::copy(data.join("ml-latest-small").join(f), raw.join(f)).expect("copy");
        }
        let catalog = data.join("netflix-titles/netflix_titles.csv");
        if catalog.exists() {
            std::fs::create_dir_all(dir.path().join("raw/catalog")).expect("catalog dir");
            std::fs::copy(&catalog, dir.path().join("raw/catalog/netflix_titles.csv")).expect("copy");
        }
        let root = StorageRoot::parse(&dir.path().to_string_lossy()).expect("root");
        let cluster = standalone(session_config(&[]).expect("config")).await.expect("cluster");
        moodflow_tests::run_pipeline(&cluster, &root, &STAGES[..5])
            .await
            .expect("stages 01-05");
        let model = moodflow_pipeline::stages::read_model(&cluster.ctx, &root)
            .await
            .expect("read")
            .expect("model");
        let reader = local_context(session_config(&[]).expect("config")).expect("ctx");
        let table = load_features(&reader, &root).await.expect("features");
        let chosen = model.per_k.iter().find(|p| p.k == model.k).expect("chosen k");
        let best_reference = reference_best_cost(&table.points, model.k, 10);
        eprintln!(
            "k = {}: cost {:.1}, best of 10 single-node restarts {:.1}",
            model.k, chosen.cost, best_reference
        );
        assert!(
            chosen.cost <= best_reference * 1.02,
            "cost {} is more than 2% above {}",
            chosen.cost,
            best_reference
        );
        // The model's cost is the cost of its own centroids on the data.
        let own = reference_cost(&table.points, &model.centroids);
        assert!((own - chosen.cost).abs() <= 1e-6 * own);
        assert_eq!(model.points, 9_742);
    });
}
