//! The recommender, checked against what is known independently of its
//! code: each distributed half-step against a least-squares solve written
//! here (normal equations and Gaussian elimination), the same seed on
//! standalone and on a two-executor cluster, learning the latent tastes of
//! generated data (beating both baselines), the fold-in of a new horror
//! fan, and the quality bars on real `ml-latest-small`.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, AsArray, Float64Array, Float64Builder, Int64Array, ListBuilder, RecordBatch, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::prelude::ParquetReadOptions;
use moodflow_engine::{local_context, session_config, Cluster, StorageRoot};
use moodflow_ml::kmeans::train::parquet_bytes;
use moodflow_ml::recommender::model::{int_key, read_vectors, str_key, Vectors};
use moodflow_ml::recommender::train::{Params, Side, Trainer};
use moodflow_pipeline::generate::{generate, GenerateOptions};
use moodflow_pipeline::recommender::{evaluate_recommender, load_factors, run_recommender, Users};
use moodflow_pipeline::stages::STAGES;
use moodflow_standalone::standalone;
use moodflow_tests::cluster::InProcessCluster;

const RANK: usize = 3;

fn list(rows: &[Vec<f64>]) -> ArrayRef {
    let mut b = ListBuilder::new(Float64Builder::new());
    for r in rows {
        b.append_value(r.iter().map(|v| Some(*v)));
    }
    Arc::new(b.finish())
}

fn write_batch(dir: &Path, batch: &RecordBatch) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let bytes = parquet_bytes(batch.schema(), std::slice::from_ref(batch)).expect("parquet");
    std::fs::write(dir.join("part-0.parquet"), bytes).expect("write");
}

/// A small rating matrix from known tastes (5 users x 6 films, 80% filled).
fn ratings() -> Vec<(String, i64, f64)> {
    let mut out = Vec::new();
    for u in 0..5i64 {
        for m in 1..=6i64 {
            if (u * 7 + m * 3) % 5 == 0 {
                continue;
            }
            let r = 1.0 + ((u * m + u + 2 * m) % 9) as f64 / 2.0;
            out.push((format!("ml:{u}"), m, r));
        }
    }
    out
}

fn ratings_batch(rows: &[(String, i64, f64)]) -> RecordBatch {
    RecordBatch::try_from_iter(vec![
        (
            "userId",
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0.clone()))) as ArrayRef,
        ),
        (
            "movieId",
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
        ),
        (
            "rating",
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.2))),
        ),
    ])
    .expect("batch")
}

/// Fixed starting vectors of film `m`: (factors, bias, pref).
fn start(m: i64) -> (Vec<f64>, f64, Vec<f64>) {
    let v = |k: usize, s: f64| {
        (0..RANK)
            .map(|j| s * (((m as usize * 5 + j * 3 + k) % 7) as f64 - 3.0))
            .collect()
    };
    (v(0, 0.1), 0.05 * (m % 3) as f64 - 0.05, v(1, 0.02))
}

/// Solves `m w = b` by Gaussian elimination with partial pivoting.
fn gauss(mut m: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for c in 0..n {
        let p = (c..n)
            .max_by(|i, j| m[*i][c].abs().total_cmp(&m[*j][c].abs()))
            .expect("pivot");
        m.swap(c, p);
        b.swap(c, p);
        let pivot = m[c].clone();
        for r in c + 1..n {
            let f = m[r][c] / pivot[c];
            for (x, p) in m[r][c..].iter_mut().zip(&pivot[c..]) {
                *x -= f * p;
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|k| m[r][k] * x[k]).sum();
        x[r] = (b[r] - s) / m[r][r];
    }
    x
}

/// The regularised least-squares solution written out: rows `(x, a, t)`,
/// `(Σ a x xᵀ + reg I + G) w = Σ t x`.
fn least_squares(rows: &[(Vec<f64>, f64, f64)], reg: f64, gram: Option<&Vec<Vec<f64>>>) -> Vec<f64> {
    let d = rows[0].0.len();
    let mut m = vec![vec![0.0; d]; d];
    let mut b = vec![0.0; d];
    for (x, a, t) in rows {
        for i in 0..d {
            for j in 0..d {
                m[i][j] += a * x[i] * x[j];
            }
            b[i] += t * x[i];
        }
    }
    for i in 0..d {
        m[i][i] += reg;
        if let Some(g) = gram {
            for j in 0..d {
                m[i][j] += g[i][j];
            }
        }
    }
    gauss(m, b)
}

fn gram_of(vectors: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let d = vectors[0].len();
    let mut g = vec![vec![0.0; d]; d];
    for v in vectors {
        for i in 0..d {
            for j in 0..d {
                g[i][j] += v[i] * v[j];
            }
        }
    }
    g
}

async fn read_dir(dir: &Path) -> Vec<RecordBatch> {
    let ctx = local_context(session_config(&[]).expect("config")).expect("ctx");
    ctx.read_parquet(dir.to_string_lossy().as_ref(), ParquetReadOptions::default())
        .await
        .expect("read")
        .collect()
        .await
        .expect("collect")
}

fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol * x.abs().max(1.0))
}

#[test]
fn each_half_step_is_the_least_squares_solve() {
    moodflow_tests::block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        let work = dir.path().join("work");
        let rows = ratings();
        write_batch(&work.join("train"), &ratings_batch(&rows));
        let films: Vec<i64> = (1..=6).collect();
        let starts: HashMap<i64, (Vec<f64>, f64, Vec<f64>)> = films.iter().map(|m| (*m, start(*m))).collect();
        let items0 = RecordBatch::try_from_iter(vec![
            ("movieId", Arc::new(Int64Array::from(films.clone())) as ArrayRef),
            (
                "factors",
                list(&films.iter().map(|m| starts[m].0.clone()).collect::<Vec<_>>()),
            ),
            (
                "bias",
                Arc::new(Float64Array::from_iter_values(films.iter().map(|m| starts[m].1))),
            ),
            (
                "pref",
                list(&films.iter().map(|m| starts[m].2.clone()).collect::<Vec<_>>()),
            ),
        ])
        .expect("items");
        write_batch(&work.join("items_0"), &items0);
        let cluster = standalone(session_config(&[]).expect("config")).await.expect("cluster");
        let trainer = Trainer::new(&cluster, work.to_string_lossy().to_string());
        let p = Params {
            rank: RANK,
            reg: 0.1,
            implicit_reg: 2.0,
            alpha: 5.0,
            ..Params::default()
        };
        trainer.register("train", "train").await.expect("train");
        trainer.register("items_0", "items_0").await.expect("items_0");
        let mu = 3.0;
        trainer
            .half_step(Side::Users, "items_0", "users_1", mu, &p)
            .await
            .expect("user half-step");
        let users = read_vectors(&read_dir(&work.join("users_1")).await, "userId", RANK, str_key).expect("users");
        let item_prefs: Vec<Vec<f64>> = films.iter().map(|m| starts[m].2.clone()).collect();
        let item_gram = gram_of(&item_prefs);
        assert_eq!(users.len(), 5);
        for (u, v) in &users {
            let theirs: Vec<&(String, i64, f64)> = rows.iter().filter(|r| &r.0 == u).collect();
            let explicit: Vec<(Vec<f64>, f64, f64)> = theirs
                .iter()
                .map(|r| {
                    let (q, b, _) = &starts[&r.1];
                    let mut x = q.clone();
                    x.push(1.0);
                    (x, 1.0, r.2 - mu - b)
                })
                .collect();
            let w = least_squares(&explicit, 0.1 * theirs.len() as f64, None);
            assert!(close(&v.factors, &w[..RANK], 1e-9), "{u}: {:?} vs {w:?}", v.factors);
            assert!((v.bias - w[RANK]).abs() < 1e-9, "{u} bias");
            let implicit: Vec<(Vec<f64>, f64, f64)> =
                theirs.iter().map(|r| (starts[&r.1].2.clone(), 5.0, 6.0)).collect();
            let w = least_squares(&implicit, 2.0, Some(&item_gram));
            assert!(close(&v.pref, &w, 1e-9), "{u} implicit: {:?} vs {w:?}", v.pref);
            assert_eq!(v.ratings, theirs.len() as u64);
        }
        // The item half-step takes the user factors through the join.
        trainer
            .half_step(Side::Items, "users_1", "items_1", mu, &p)
            .await
            .expect("item half-step");
        let items = read_vectors(&read_dir(&work.join("items_1")).await, "movieId", RANK, int_key).expect("items");
        let by_user: HashMap<&String, &Vectors> = users.iter().map(|(u, v)| (u, v)).collect();
        let user_gram = gram_of(&users.iter().map(|(_, v)| v.pref.clone()).collect::<Vec<_>>());
        for (m, v) in &items {
            let theirs: Vec<&(String, i64, f64)> = rows.iter().filter(|r| r.1 == *m).collect();
            let explicit: Vec<(Vec<f64>, f64, f64)> = theirs
                .iter()
                .map(|r| {
                    let u = by_user[&r.0];
                    let mut x = u.factors.clone();
                    x.push(1.0);
                    (x, 1.0, r.2 - mu - u.bias)
                })
                .collect();
            let w = least_squares(&explicit, 0.1 * theirs.len() as f64, None);
            assert!(close(&v.factors, &w[..RANK], 1e-9), "film {m}");
            assert!((v.bias - w[RANK]).abs() < 1e-9, "film {m} bias");
            let implicit: Vec<(Vec<f64>, f64, f64)> =
                theirs.iter().map(|r| (by_user[&r.0].pref.clone(), 5.0, 6.0)).collect();
            assert!(
                close(&v.pref, &least_squares(&implicit, 2.0, Some(&user_gram)), 1e-9),
                "film {m} implicit"
            );
        }
    });
}

async fn fit_factors(cluster: Cluster, work: &Path) -> (Vec<(String, Vectors)>, Vec<(i64, Vectors)>, Vec<f64>) {
    let trainer = Trainer::new(&cluster, work.to_string_lossy().to_string());
    trainer
        .register_location("source", &format!("{}/", work.join("src").display()))
        .await
        .expect("source");
    trainer
        .split("SELECT \"userId\", \"movieId\", rating FROM als_source", 0.1, 7, false)
        .await
        .expect("split");
    let p = Params {
        rank: RANK,
        iters: 3,
        seed: 7,
        ..Params::default()
    };
    let fit = trainer.fit(&p).await.expect("fit");
    let users = read_vectors(&read_dir(&work.join(&fit.users_dir)).await, "userId", RANK, str_key).expect("users");
    let items = read_vectors(&read_dir(&work.join(&fit.items_dir)).await, "movieId", RANK, int_key).expect("items");
    (users, items, fit.history.iter().map(|h| h.train_rmse).collect())
}

#[test]
fn same_seed_same_factors_standalone_and_on_two_executors() {
    moodflow_tests::block_on(async {
        // 40 users x 30 films with a rank-2 structure plus a deterministic wobble.
        let mut rows = Vec::new();
        for u in 0..40i64 {
            for m in 1..=30i64 {
                if (u + m) % 3 == 0 {
                    continue;
                }
                let taste = ((u % 4) as f64 - 1.5) * ((m % 5) as f64 - 2.0) / 3.0;
                let r = (3.2 + taste + ((u * 31 + m * 17) % 7) as f64 / 14.0 - 0.2).clamp(0.5, 5.0);
                rows.push((format!("ml:{u}"), m, (r * 2.0).round() / 2.0));
            }
        }
        let sorted = |v: Vec<(String, Vectors)>| {
            let mut v = v;
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        let a = tempfile::tempdir().expect("tmp");
        write_batch(&a.path().join("src"), &ratings_batch(&rows));
        let reference = fit_factors(
            standalone(session_config(&[]).expect("config"))
                .await
                .expect("standalone"),
            a.path(),
        )
        .await;
        let running = InProcessCluster::start(2, 1).await;
        let b = tempfile::tempdir().expect("tmp");
        write_batch(&b.path().join("src"), &ratings_batch(&rows));
        let cluster = moodflow_engine::session::remote(&running.url, session_config(&[]).expect("config"))
            .await
            .expect("remote");
        let got = fit_factors(cluster, b.path()).await;
        let (ru, gu) = (sorted(reference.0), sorted(got.0));
        assert_eq!(ru.len(), gu.len());
        for ((ka, va), (kb, vb)) in ru.iter().zip(&gu) {
            assert_eq!(ka, kb);
            assert!(
                close(&va.factors, &vb.factors, 1e-9) && close(&va.pref, &vb.pref, 1e-9),
                "{ka}"
            );
            assert!((va.bias - vb.bias).abs() < 1e-9);
        }
        let by_id = |v: &Vec<(i64, Vectors)>| v.iter().map(|(k, v)| (*k, v.clone())).collect::<HashMap<_, _>>();
        let (ri, gi) = (by_id(&reference.1), by_id(&got.1));
        assert_eq!(ri.len(), 30);
        for (k, v) in &ri {
            assert!(
                close(&v.factors, &gi[k].factors, 1e-9) && close(&v.pref, &gi[k].pref, 1e-9),
                "film {k}"
            );
        }
        assert!(close(&reference.2, &got.2, 1e-9), "{:?} vs {:?}", reference.2, got.2);
        // Training error falls.
        assert!(reference.2[2] < reference.2[0], "{:?}", reference.2);
    });
}

/// Genres of every film of a root, from stage 01's table.
async fn genres(root: &Path) -> HashMap<i64, String> {
    let mut out = HashMap::new();
    for b in read_dir(&root.join("curated/movielens_movies")).await {
        let ids = cast(b.column_by_name("movieId").expect("id"), &DataType::Int64).expect("cast");
        let g = cast(b.column_by_name("genres").expect("genres"), &DataType::Utf8).expect("cast");
        for r in 0..b.num_rows() {
            out.insert(
                ids.as_primitive::<Int64Type>().value(r),
                g.as_string::<i32>().value(r).to_string(),
            );
        }
    }
    out
}

#[test]
fn learns_generated_tastes_and_folds_in_a_horror_fan() {
    moodflow_tests::block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        // The default sample, as a newcomer's first run makes it.
        generate(dir.path(), GenerateOptions::default()).expect("generate");
        let root = StorageRoot::parse(&dir.path().to_string_lossy()).expect("root");
        let cluster = standalone(session_config(&[]).expect("config")).await.expect("cluster");
        moodflow_tests::run_pipeline(&cluster, &root, &STAGES[..1])
            .await
            .expect("stage 01");
        // Learning: the held-out ratings of a per-user split are predicted
        // better than by the biases alone, and ranked better than by
        // popularity.
        let report = evaluate_recommender(&cluster, &root, 0.2, &Params::default())
            .await
            .expect("evaluate");
        let (model, bias, popular) = (&report.methods[0], &report.methods[1], &report.methods[2]);
        eprintln!("generated 100k: {report:?}");
        assert!(
            model.rmse.expect("rmse") < bias.rmse.expect("rmse") - 0.05,
            "{model:?} vs {bias:?}"
        );
        assert!(model.precision > popular.precision, "{model:?} vs {popular:?}");
        // Stage 12 proper, then a new user who loves ten horror films.
        let trained = run_recommender(&cluster, &root, &Params::default())
            .await
            .expect("stage 12");
        assert_eq!(trained.model.source, "movielens_ratings");
        assert!(trained.model.validation_rmse.is_some_and(|v| v < 1.0));
        let ctx = local_context(session_config(&[]).expect("config")).expect("ctx");
        let factors = load_factors(&ctx, &root, Users::Some(&[]))
            .await
            .expect("load")
            .expect("trained");
        let genres = genres(dir.path()).await;
        let horror = |id: &i64| genres.get(id).is_some_and(|g| g.contains("Horror"));
        let adjacent = |id: &i64| {
            genres
                .get(id)
                .is_some_and(|g| ["Horror", "Thriller", "Mystery", "Crime"].iter().any(|h| g.contains(h)))
        };
        let mut fans: Vec<(i64, u64)> = factors
            .item_ids
            .iter()
            .zip(&factors.items)
            .filter(|(id, _)| horror(id))
            .map(|(id, v)| (*id, v.ratings))
            .collect();
        fans.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let rated: Vec<(i64, f64)> = fans.iter().take(10).map(|(id, _)| (*id, 5.0)).collect();
        assert_eq!(rated.len(), 10);
        let user = factors.fold_in(&rated).expect("fold-in");
        let seen: HashSet<i64> = rated.iter().map(|(m, _)| *m).collect();
        let list = factors.recommend(&user, &seen, |_| true, 10);
        let share = list.iter().filter(|(id, _)| adjacent(id)).count();
        let base = factors.item_ids.iter().filter(|id| adjacent(id)).count() as f64 / factors.item_ids.len() as f64;
        eprintln!("horror fan: {share}/10 horror-adjacent (catalogue share {base:.2})");
        assert!(share >= 7, "{share} of 10 horror-adjacent: {list:?}");
        assert!(list.iter().all(|(id, _)| !seen.contains(id)));
    });
}

#[test]
fn real_movielens_beats_spark_and_both_baselines() {
    let Some(data) = moodflow_tests::shared_data() else {
        eprintln!("skipped: no shared data folder");
        return;
    };
    moodflow_tests::block_on(async move {
        let dir = tempfile::tempdir().expect("tmp");
        let raw = dir.path().join("raw/movielens");
        std::fs::create_dir_all(&raw).expect("mkdir");
        for f in ["movies.csv", "ratings.csv", "tags.csv", "links.csv"] {
            std::fs::copy(data.join("ml-latest-small").join(f), raw.join(f)).expect("copy");
        }
        let root = StorageRoot::parse(&dir.path().to_string_lossy()).expect("root");
        let cluster = standalone(session_config(&[]).expect("config")).await.expect("cluster");
        moodflow_tests::run_pipeline(&cluster, &root, &STAGES[..1])
            .await
            .expect("stage 01");
        let report = evaluate_recommender(&cluster, &root, 0.2, &Params::default())
            .await
            .expect("evaluate");
        for m in &report.methods {
            eprintln!(
                "ml-latest-small 80/20 seed 42: {:<14} RMSE {:?} (all pairs {:?}) P@10 {:.4} R@10 {:.4} nDCG@10 {:.4}",
                m.method, m.rmse, m.rmse_all, m.precision, m.recall, m.ndcg
            );
        }
        let (model, bias, popular) = (&report.methods[0], &report.methods[1], &report.methods[2]);
        let rmse = model.rmse.expect("rmse");
        // Spark MLlib's best ALS on such a split: RMSE 0.867 (cold-start
        // pairs dropped, as `rmse` here), P@10 0.004.
        assert!(rmse <= 0.855, "RMSE {rmse}");
        assert!(model.rmse_all.expect("all") < bias.rmse_all.expect("all"));
        assert!(model.precision >= 0.13, "precision@10 {}", model.precision);
        assert!(rmse < bias.rmse.expect("rmse"));
        assert!(model.precision > popular.precision && model.ndcg > popular.ndcg);
    });
}
