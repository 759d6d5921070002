//! Whole pipeline runs (stages 01-04, standalone Ballista) on generated
//! data, checked row by row against values computed here, independently,
//! from the raw files.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Float64Type, Int32Type, Int64Type};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use moodflow_engine::kmeans::math::Centroids;
use moodflow_engine::{local_context, session_config, StorageRoot};
use moodflow_ml::kmeans::driver::{sample, Params, Passes};
use moodflow_ml::kmeans::train::{compact_scan, load_features, write_compact_copy};
use moodflow_pipeline::generate::{generate, GenerateOptions};
use moodflow_pipeline::job::Job;
use moodflow_pipeline::stages::{read_model, run_job_atomically, STAGES};
use moodflow_standalone::standalone;
use moodflow_udfs::text::{normalize_text, split_title_year, title_key};
use moodflow_udfs::vader::analyzer;

async fn read(ctx: &SessionContext, root: &Path, table: &str) -> Vec<RecordBatch> {
    let path = root.join("curated").join(table);
    ctx.read_parquet(path.to_string_lossy().as_ref(), ParquetReadOptions::default())
        .await
        .expect("read table")
        .collect()
        .await
        .expect("collect")
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// Valid ratings per movie, parsed from the raw file by the documented rules.
fn expected_ratings(root: &Path, movie_ids: &BTreeSet<i64>) -> (HashMap<i64, Vec<f64>>, usize) {
    let text = std::fs::read_to_string(root.join("raw/movielens/ratings.csv")).expect("ratings");
    let mut by_movie: HashMap<i64, Vec<f64>> = HashMap::new();
    let mut rejected = 0;
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.trim_end_matches('\r').split(',').collect();
        let ok = (|| {
            let user: i64 = f.first()?.parse().ok()?;
            let movie: i64 = f.get(1)?.parse().ok()?;
            let rating: f64 = f.get(2)?.parse().ok()?;
            let ts: i64 = f.get(3)?.parse().ok()?;
            let valid = user > 0
                && movie_ids.contains(&movie)
                && (0.5..=5.0).contains(&rating)
                && (rating * 2.0).fract() == 0.0
                && (0..=4_102_444_800).contains(&ts);
            valid.then_some((movie, rating))
        })();
        match ok {
            Some((movie, rating)) => by_movie.entry(movie).or_default().push(rating),
            None => rejected += 1,
        }
    }
    (by_movie, rejected)
}

#[test]
fn generated_pipeline_matches_independent_computation() {
    moodflow_tests::block_on(generated_pipeline());
}

async fn generated_pipeline() {
    let dir = tempfile::tempdir().expect("tmp");
    let root_path = dir.path();
    let summary = generate(
        root_path,
        GenerateOptions {
            ratings: 3_000,
            seed: 7,
        },
    )
    .expect("generate");
    let root = StorageRoot::parse(&root_path.to_string_lossy()).expect("root");
    let cluster = standalone(session_config(&[]).expect("config")).await.expect("cluster");
    let report = moodflow_tests::run_pipeline(&cluster, &root, STAGES)
        .await
        .expect("pipeline");
    let reader = local_context(session_config(&[]).expect("config")).expect("ctx");

    // Stage 01: every valid row kept, every corrupt one rejected.
    let movies = read(&reader, root_path, "movielens_movies").await;
    assert_eq!(rows(&movies) as u64, summary.movies);
    let s01 = &report.stages[0];
    assert_eq!(s01.written["movielens_ratings"], summary.ratings);
    assert_eq!(s01.written["movielens_tags"], summary.tags);
    assert_eq!(
        s01.rejected["movielens_movies"] + s01.rejected["movielens_ratings"] + s01.rejected["movielens_tags"],
        summary.corrupt_lines - 4 - 2,
        "the 4 corrupt Netflix lines, the TMDB and the genome one are not read by stage 01"
    );
    // Stage 02 reads the TMDB and genome files: their one corrupt row each
    // is a reject, every other row is written.
    let s02 = &report.stages[1];
    assert_eq!(s02.written["tmdb_movies"], summary.tmdb_rows);
    assert_eq!(s02.rejected["tmdb_movies"], 1);
    assert_eq!(s02.written["genome_scores"], summary.genome_scores);
    assert_eq!(s02.rejected["genome_scores"], 1);

    let ids: BTreeSet<i64> = movies
        .iter()
        .flat_map(|b| {
            b.column_by_name("movieId")
                .expect("id")
                .as_primitive::<Int64Type>()
                .values()
                .to_vec()
        })
        .collect();
    let (ratings, rejected) = expected_ratings(root_path, &ids);
    assert_eq!(rejected as u64, s01.rejected["movielens_ratings"]);

    // Stage 04: rating statistics of every movie equal the raw file's.
    let features = read(&reader, root_path, "nf_features").await;
    assert_eq!(rows(&features) as u64, summary.movies);
    let mut checked = 0;
    for b in &features {
        let id = b.column_by_name("movieId").expect("c").as_primitive::<Int64Type>();
        let mean = b
            .column_by_name("rating_mean")
            .expect("c")
            .as_primitive::<Float64Type>();
        let count = b.column_by_name("rating_count").expect("c").as_primitive::<Int64Type>();
        let feats = b.column_by_name("features").expect("c").as_list::<i32>();
        for i in 0..b.num_rows() {
            let r = ratings.get(&id.value(i)).cloned().unwrap_or_default();
            assert_eq!(count.value(i) as usize, r.len(), "movie {}", id.value(i));
            if r.is_empty() {
                assert!(mean.is_null(i));
            } else {
                let want = r.iter().sum::<f64>() / r.len() as f64;
                assert!(
                    (mean.value(i) - want).abs() < 1e-6,
                    "movie {}: {} vs {want}",
                    id.value(i),
                    mean.value(i)
                );
            }
            // Valence, energy and the 19 MovieLens genres.
            assert_eq!(feats.value(i).len(), 21);
            checked += 1;
        }
    }
    assert_eq!(checked as u64, summary.movies);

    // Stages 02-03: a movie's sentiment is the mean VADER compound of its
    // normalised title, distinct tags and matched synopsis.
    let mut tags: HashMap<i64, BTreeSet<String>> = HashMap::new();
    let mut rdr = csv::Reader::from_path(root_path.join("raw/movielens/tags.csv")).expect("tags");
    for rec in rdr.records() {
        let rec = rec.expect("rec");
        if let (Ok(m), Ok(_)) = (rec[1].parse::<i64>(), rec[3].parse::<i64>()) {
            let t = normalize_text(&rec[2]);
            if !t.is_empty() && ids.contains(&m) {
                tags.entry(m).or_default().insert(t);
            }
        }
    }
    let mut catalog: HashMap<(String, i32), Vec<String>> = HashMap::new();
    let mut rdr = csv::Reader::from_path(root_path.join("raw/catalog/netflix_titles.csv")).expect("catalog");
    for rec in rdr.records() {
        let rec = rec.expect("rec");
        if &rec[1] == "Movie" {
            if let Ok(y) = rec[7].parse::<i32>() {
                catalog
                    .entry((title_key(&rec[2]), y))
                    .or_default()
                    .push(rec[11].to_string());
            }
        }
    }
    let sentiment = read(&reader, root_path, "movielens_movies_with_sentiment").await;
    let mut compared = 0;
    for b in &sentiment {
        let id = b.column_by_name("movieId").expect("c").as_primitive::<Int64Type>();
        let title = b.column_by_name("title").expect("c").as_string::<i32>();
        let compound = b.column_by_name("compound").expect("c").as_primitive::<Float64Type>();
        for i in (0..b.num_rows()).step_by(7) {
            let (name, year) = split_title_year(title.value(i));
            let mut segments = vec![normalize_text(name)];
            segments.extend(tags.get(&id.value(i)).into_iter().flatten().cloned());
            if let Some(descs) = year.and_then(|y| catalog.get(&(title_key(title.value(i)), y))) {
                if descs.len() == 1 {
                    segments.push(normalize_text(&descs[0]));
                }
            }
            segments.retain(|s| !s.is_empty());
            let want = segments
                .iter()
                .map(|s| analyzer().polarity_scores(s).compound)
                .sum::<f64>()
                / segments.len() as f64;
            assert!(
                (compound.value(i) - want).abs() < 1e-6,
                "movie {} {:?}: {} vs {want}",
                id.value(i),
                segments,
                compound.value(i)
            );
            compared += 1;
        }
    }
    assert!(compared > 10);

    // Stage 05: every movie is in the cluster of its nearest centroid, with
    // that cluster's mood, its distance and its projection.
    let model = read_model(&reader, &root).await.expect("read").expect("model.json");
    assert!((3..=8).contains(&model.k));
    assert_eq!(model.per_k.len(), 6);
    let table = load_features(&reader, &root).await.expect("features");
    // Every k advanced in the same passes: each k's cost, sizes and steps
    // are what that k gets when fitted alone (the schedule before), and
    // the stage took the longest k's steps plus two jobs.
    let params = Params {
        k_min: model.k_range[0],
        k_max: model.k_range[1],
        seed: model.seed,
        max_iter: model.max_iter,
        tolerance: model.tolerance,
        ..Params::default()
    };
    let files = write_compact_copy(&reader, &root, "_alone_check", &table, 4)
        .await
        .expect("copy");
    let alone = Passes::new(
        &cluster,
        compact_scan(&files).await.expect("scan"),
        "movieId",
        "features",
    );
    let seeds = sample(&table.points, params.sample_size, params.seed);
    for summary in &model.per_k {
        let fit = alone.fit(&seeds, summary.k, &params).await.expect("fit alone");
        assert_eq!(fit.sizes, summary.sizes, "k = {}: sizes", summary.k);
        assert_eq!(fit.iterations, summary.iterations, "k = {}: steps", summary.k);
        assert!(
            (fit.cost - summary.cost).abs() <= 1e-9 * summary.cost.max(1.0),
            "k = {}",
            summary.k
        );
        assert!((fit.silhouette - summary.silhouette).abs() <= 1e-9, "k = {}", summary.k);
    }
    let longest = model.per_k.iter().map(|s| s.iterations).max().expect("ks");
    assert_eq!(
        model.jobs,
        longest + 2,
        "one job per step for every k together, then two"
    );
    let centroids = Centroids::from_rows(&model.centroids).expect("centroids");
    let by_id: HashMap<i64, &Vec<f64>> = table.ids.iter().copied().zip(&table.points).collect();
    let clustered = read(&reader, root_path, "clustered_movies").await;
    assert_eq!(rows(&clustered), table.ids.len());
    let mut cluster_of: HashMap<i64, i32> = HashMap::new();
    for b in &clustered {
        let id = b.column_by_name("movieId").expect("c").as_primitive::<Int64Type>();
        let cluster = b.column_by_name("cluster").expect("c").as_primitive::<Int32Type>();
        let mood = b.column_by_name("mood").expect("c").as_string::<i32>();
        let distance = b.column_by_name("distance").expect("c").as_primitive::<Float64Type>();
        let x = b.column_by_name("x").expect("c").as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            let point = by_id[&id.value(i)];
            let (want, d2) = centroids.nearest(point);
            assert_eq!(cluster.value(i) as usize, want, "movie {}", id.value(i));
            assert_eq!(mood.value(i), model.moods[want].label);
            assert!((distance.value(i) - d2.sqrt()).abs() < 1e-9);
            assert!((x.value(i) - model.projection.project(point)[0]).abs() < 1e-9);
            cluster_of.insert(id.value(i), cluster.value(i));
        }
    }

    // Stage 06: the playlists, recomputed from the raw ratings file with
    // the default size 20, minimum 10 ratings and damping 10.
    let (total, n): (f64, usize) = ratings
        .values()
        .fold((0.0, 0), |(t, n), r| (t + r.iter().sum::<f64>(), n + r.len()));
    let prior = total / n as f64;
    let mut expected: BTreeMap<i32, Vec<(f64, usize, i64)>> = BTreeMap::new();
    for (id, r) in &ratings {
        if r.len() >= 10 {
            let score = (10.0 * prior + r.iter().sum::<f64>()) / (10.0 + r.len() as f64);
            expected.entry(cluster_of[id]).or_default().push((score, r.len(), *id));
        }
    }
    let playlists = read(&reader, root_path, "mood_playlists").await;
    let mut got: BTreeMap<i32, Vec<(i32, i64, f64)>> = BTreeMap::new();
    for b in &playlists {
        let cluster = b.column_by_name("cluster").expect("c").as_primitive::<Int32Type>();
        let rank = b.column_by_name("rank").expect("c").as_primitive::<Int32Type>();
        let id = b.column_by_name("movieId").expect("c").as_primitive::<Int64Type>();
        let score = b.column_by_name("score").expect("c").as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            got.entry(cluster.value(i))
                .or_default()
                .push((rank.value(i), id.value(i), score.value(i)));
        }
    }
    assert_eq!(got.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
    for (cluster, mut want) in expected {
        want.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
        want.truncate(20);
        let mut list = got.remove(&cluster).expect("playlist");
        list.sort_by_key(|r| r.0);
        assert_eq!(
            list.iter().map(|r| r.0).collect::<Vec<_>>(),
            (1..=want.len() as i32).collect::<Vec<_>>()
        );
        for ((_, id, score), (want_score, _, want_id)) in list.iter().zip(&want) {
            assert_eq!(id, want_id, "cluster {cluster}");
            assert!((score - want_score).abs() < 1e-6);
        }
    }
}

#[test]
fn failed_stage_leaves_previous_tables_intact() {
    moodflow_tests::block_on(failed_stage());
}

async fn failed_stage() {
    let dir = tempfile::tempdir().expect("tmp");
    generate(dir.path(), GenerateOptions { ratings: 500, seed: 1 }).expect("generate");
    let root = StorageRoot::parse(&dir.path().to_string_lossy()).expect("root");
    let cluster = standalone(session_config(&[]).expect("config")).await.expect("cluster");
    let ctx = &cluster.ctx;
    moodflow_tests::run_pipeline(&cluster, &root, &STAGES[..1])
        .await
        .expect("stage 01");
    let table = dir.path().join("curated/movielens_movies");
    let listing = |p: &Path| -> BTreeSet<String> {
        // A folder that does not exist lists as empty.
        std::fs::read_dir(p)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect()
    };
    let before = listing(&table);
    assert!(!before.is_empty(), "stage 01 wrote no movielens_movies files");

    // The same job with a failing last statement: its first COPYs succeed
    // into staging, but nothing may be committed.
    let broken = Job::parse(
        "broken.sql",
        &format!("{};\nSELECT no_such_function(1)", STAGES[0].sql().expect("sql")),
    )
    .expect("job file");
    let err = run_job_atomically(ctx, &root, &broken, &BTreeMap::new(), &[])
        .await
        .expect_err("must fail");
    assert!(format!("{err}").contains("broken.sql"), "{err}");
    assert_eq!(listing(&table), before, "table changed by a failed job");
    assert!(
        listing(&dir.path().join("curated/_staging")).is_empty(),
        "staging left behind"
    );
}

/// The catalogue is optional: without `raw/catalog/` stage 02 reads it as
/// no rows (an empty join side, which hung Ballista 55's adaptive planner
/// until moodflow turned it off) and no movie gets a description.
#[test]
fn stage_02_runs_without_the_catalogue() {
    moodflow_tests::block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        generate(dir.path(), GenerateOptions { ratings: 500, seed: 3 }).expect("generate");
        std::fs::remove_dir_all(dir.path().join("raw/catalog")).expect("remove the catalogue");
        let root = StorageRoot::parse(&dir.path().to_string_lossy()).expect("root");
        let cluster = standalone(session_config(&[]).expect("config")).await.expect("cluster");
        let run = moodflow_tests::run_pipeline(&cluster, &root, &STAGES[..2]);
        let report = tokio::time::timeout(std::time::Duration::from_secs(120), run)
            .await
            .expect("stages 01-02 finish")
            .expect("stages 01-02");
        let movies = report.stages[0].written["movielens_movies"];
        assert_eq!(report.stages[1].written["movie_text"], movies);
        let ctx = local_context(session_config(&[]).expect("config")).expect("ctx");
        let text = read(&ctx, dir.path(), "movie_text").await;
        let described: usize = text
            .iter()
            .map(|b| {
                let c = b.column(b.schema().index_of("has_description").expect("column"));
                c.as_boolean().true_count()
            })
            .sum();
        assert_eq!((rows(&text), described), (movies as usize, 0));
    });
}
