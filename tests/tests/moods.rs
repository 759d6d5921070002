//! The mood space, checked on data whose answer is known: a hand-made root
//! for the evidence weighting and the shrinkage, and the real
//! `ml-latest-small` (+ Netflix catalogue, + TMDB) for the quality bars,
//! against the labelled lists and an independent computation of the
//! between-cluster variance.

use std::collections::HashMap;
use std::path::Path;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::prelude::ParquetReadOptions;
use moodflow_engine::{local_context, session_config, StorageRoot};
use moodflow_pipeline::evaluate::{evaluate_moods, FILMS_CSV, FILMS_HOLDOUT_CSV, SENTENCES_CSV, SENTENCES_HOLDOUT_CSV};
use moodflow_pipeline::stages::{read_model, STAGES};
use moodflow_standalone::standalone;

async fn table(root: &Path, name: &str) -> Vec<RecordBatch> {
    let ctx = local_context(session_config(&[]).expect("config")).expect("ctx");
    let path = root.join("curated").join(name);
    ctx.read_parquet(path.to_string_lossy().as_ref(), ParquetReadOptions::default())
        .await
        .expect("read")
        .collect()
        .await
        .expect("collect")
}

/// `column` of `name` per movie id, as doubles (strings for `tone_source`).
async fn by_movie(root: &Path, name: &str, column: &str) -> HashMap<i64, String> {
    let mut out = HashMap::new();
    for b in table(root, name).await {
        let ids = cast(b.column_by_name("movieId").expect("id"), &DataType::Int64).expect("cast");
        let values = cast(b.column_by_name(column).expect(column), &DataType::Utf8).expect("cast");
        for i in 0..b.num_rows() {
            let v = values.as_string::<i32>();
            if !v.is_null(i) {
                out.insert(ids.as_primitive::<Int64Type>().value(i), v.value(i).to_string());
            }
        }
    }
    out
}

fn f(map: &HashMap<i64, String>, id: i64) -> f64 {
    map.get(&id)
        .unwrap_or_else(|| panic!("movie {id}"))
        .parse()
        .expect("number")
}

const NEG: &str = "A grieving mother is destroyed by the brutal murder of her son; despair, death and misery follow.";
const POS: &str = "A cheerful, wonderful summer of joy, love and laughter with delightful friends.";

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

#[test]
fn weighting_and_shrinkage_on_a_hand_made_root() {
    moodflow_tests::block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        let raw = dir.path().join("raw");
        // Films 1-2: dramas with the same dark synopsis; 2 also has three
        // tags that say nothing. 3-6: comedies with a light synopsis or
        // light tags. 7-8: more dramas with dark text. 9 (comedy) and 10
        // (drama): a title and genres, nothing else.
        write(
            &raw.join("movielens/movies.csv"),
            "movieId,title,genres\n\
             1,Harbor Lights (2001),Drama\n2,Harbor Nights (2002),Drama\n\
             3,Summer Fields (2003),Comedy\n4,Summer Roads (2004),Comedy\n\
             5,Summer Hills (2005),Comedy\n6,Summer Lanes (2006),Comedy\n\
             7,Stone Rooms (2007),Drama\n8,Stone Halls (2008),Drama\n\
             9,Gray Street (2009),Comedy\n10,Gray Road (2010),Drama\n",
        );
        let mut ratings = String::from("userId,movieId,rating,timestamp\n");
        for u in 1..=6 {
            for m in 1..=10 {
                ratings.push_str(&format!("{u},{m},{}.0,100000000\n", 1 + (u + m) % 5));
            }
        }
        write(&raw.join("movielens/ratings.csv"), &ratings);
        let mut tags = String::from("userId,movieId,tag,timestamp\n");
        for (m, t) in [(2, "nyc"), (2, "based on a book"), (2, "remake")] {
            tags.push_str(&format!("1,{m},{t},100000000\n"));
        }
        for u in 1..=10 {
            for (m, t) in [
                (4, "funny"),
                (4, "feel-good"),
                (6, "heartwarming"),
                (7, "bleak"),
                (8, "depressing"),
            ] {
                tags.push_str(&format!("{u},{m},{t},100000000\n"));
            }
        }
        write(&raw.join("movielens/tags.csv"), &tags);
        let mut catalog = String::from(
            "show_id,type,title,director,cast,country,date_added,release_year,rating,duration,listed_in,description\n",
        );
        for (i, (title, year, text)) in [
            ("Harbor Lights", 2001, NEG),
            ("Harbor Nights", 2002, NEG),
            ("Summer Fields", 2003, POS),
            ("Summer Hills", 2005, POS),
        ]
        .into_iter()
        .enumerate()
        {
            catalog.push_str(&format!("s{i},Movie,{title},,,,,{year},PG,90 min,Dramas,\"{text}\"\n"));
        }
        write(&raw.join("catalog/netflix_titles.csv"), &catalog);

        let root = StorageRoot::parse(&dir.path().to_string_lossy()).expect("root");
        let cluster = standalone(session_config(&[]).expect("config")).await.expect("cluster");
        moodflow_tests::run_pipeline(&cluster, &root, &STAGES[..3])
            .await
            .expect("stages 01-03");
        let p = dir.path();
        let v_text = by_movie(p, "movie_tone_evidence", "v_text").await;
        let valence = by_movie(p, "movielens_movies_with_sentiment", "valence").await;
        let confidence = by_movie(p, "movielens_movies_with_sentiment", "confidence").await;
        let prior = by_movie(p, "movielens_movies_with_sentiment", "prior_valence").await;
        let source = by_movie(p, "movielens_movies_with_sentiment", "tone_source").await;

        // Weighting: the title and the three empty tags carry no weight, so
        // they neither cancel nor dilute the synopsis.
        assert!(
            (f(&v_text, 1) - f(&v_text, 2)).abs() < 1e-9,
            "{} vs {}",
            f(&v_text, 1),
            f(&v_text, 2)
        );
        assert!(f(&v_text, 1) < -0.5, "the dark synopsis reads dark: {}", f(&v_text, 1));
        assert!(f(&valence, 1) < 0.0 && f(&valence, 1) < f(&prior, 1));
        assert!(f(&confidence, 1) > 0.3, "{}", f(&confidence, 1));
        // The largest single contributor names the tone's source: one
        // synopsis (weight 2 + 2 x 2 for its lexicon reading) weighs less
        // than the prior (10); ten people's light tags weigh more.
        assert_eq!(source[&1], "prior");
        assert_eq!(source[&4], "tag");
        assert!(f(&valence, 3) > 0.0 && f(&valence, 4) > 0.0);

        // Shrinkage: a film with a title alone is its prior, with no
        // confidence; the prior is learned from the genres' texts, so the
        // title-only comedy is lighter than the title-only drama.
        for id in [9, 10] {
            assert!((f(&valence, id) - f(&prior, id)).abs() < 1e-6, "movie {id}");
            assert!(f(&confidence, id) < 0.05, "movie {id}: {}", f(&confidence, id));
            assert_eq!(source[&id], "prior");
        }
        assert!(
            f(&prior, 9) > 0.0 && f(&prior, 10) < 0.0,
            "{} {}",
            f(&prior, 9),
            f(&prior, 10)
        );
    });
}

/// Between-cluster share of the variance on the first two features
/// (valence and energy), from `nf_features` and the model's clusters,
/// computed here from the definitions.
fn emotional_share(features: &[Vec<f64>], cluster: &[usize], k: usize, names: &[String]) -> f64 {
    let dim = features[0].len();
    let n = features.len() as f64;
    let mean: Vec<f64> = (0..dim)
        .map(|d| features.iter().map(|x| x[d]).sum::<f64>() / n)
        .collect();
    let mut sums = vec![vec![0.0; dim]; k];
    let mut sizes = vec![0.0; k];
    for (x, &c) in features.iter().zip(cluster) {
        sizes[c] += 1.0;
        for d in 0..dim {
            sums[c][d] += x[d];
        }
    }
    let between: Vec<f64> = (0..dim)
        .map(|d| {
            (0..k)
                .filter(|&c| sizes[c] > 0.0)
                .map(|c| sizes[c] * (sums[c][d] / sizes[c] - mean[d]).powi(2))
                .sum()
        })
        .collect();
    let emotional: f64 = names
        .iter()
        .zip(&between)
        .filter(|(n, _)| *n == "valence" || *n == "energy")
        .map(|(_, b)| b)
        .sum();
    emotional / between.iter().sum::<f64>()
}

async fn real_root(with_tmdb: bool) -> Option<tempfile::TempDir> {
    let data = moodflow_tests::shared_data()?;
    let dir = tempfile::tempdir().expect("tmp");
    let ml = dir.path().join("raw/movielens");
    let cat = dir.path().join("raw/catalog");
    std::fs::create_dir_all(&ml).expect("mkdir");
    std::fs::create_dir_all(&cat).expect("mkdir");
    for f in ["movies.csv", "ratings.csv", "tags.csv", "links.csv"] {
        std::fs::copy(data.join("ml-latest-small").join(f), ml.join(f)).expect("copy");
    }
    std::fs::copy(
        data.join("netflix-titles/netflix_titles.csv"),
        cat.join("netflix_titles.csv"),
    )
    .expect("copy");
    if with_tmdb {
        std::fs::copy(
            data.join("tmdb-5000-movies/tmdb_5000_movies.csv"),
            cat.join("tmdb_5000_movies.csv"),
        )
        .expect("copy");
    }
    Some(dir)
}

async fn real_moods(with_tmdb: bool, bars: [f64; 4]) {
    let Some(dir) = real_root(with_tmdb).await else {
        eprintln!("skipped: ../shared/data is absent");
        return;
    };
    let root = StorageRoot::parse(&dir.path().to_string_lossy()).expect("root");
    let cluster = standalone(session_config(&[]).expect("config")).await.expect("cluster");
    moodflow_tests::run_pipeline(&cluster, &root, STAGES)
        .await
        .expect("pipeline");
    let e = evaluate_moods(&root, FILMS_CSV, SENTENCES_CSV).await.expect("evaluate");
    eprintln!("{}", e.render());
    let [film, drama, mood, sentences] = bars;
    assert_eq!(e.missing, 0, "every labelled film is in ml-latest-small");
    assert!(e.film_valence_ba >= film, "film valence: {}", e.film_valence_ba);
    assert!(e.drama_valence_ba >= drama, "dramas: {}", e.drama_valence_ba);
    assert!(e.mood_valence_ba >= mood, "mood valence: {}", e.mood_valence_ba);
    assert!(e.sentence_hit_rate >= sentences, "sentences: {}", e.sentence_hit_rate);

    // At least four moods with different feelings, and far apart in valence
    // or energy (a quarter of the films' spread on either axis).
    let reader = local_context(session_config(&[]).expect("config")).expect("ctx");
    let model = read_model(&reader, &root).await.expect("read").expect("model.json");
    let v_std = model
        .features
        .iter()
        .find(|f| f.name == "valence")
        .expect("valence")
        .std;
    let e_std = model.features.iter().find(|f| f.name == "energy").expect("energy").std;
    let mut distinct: Vec<&moodflow_ml::kmeans::model::Mood> = Vec::new();
    for m in &model.moods {
        let apart = distinct
            .iter()
            .all(|d| (d.valence - m.valence).abs() >= 0.25 * v_std || (d.energy - m.energy).abs() >= 0.25 * e_std);
        if apart && !distinct.iter().any(|d| d.tone == m.tone) {
            distinct.push(m);
        }
    }
    assert!(distinct.len() >= 4, "{:?}", model.moods);

    // Emotion dominates the clustering: from nf_features and the clusters.
    let mut points = HashMap::new();
    for b in table(dir.path(), "nf_features").await {
        let ids = cast(b.column_by_name("movieId").expect("id"), &DataType::Int64).expect("cast");
        let feats = b.column_by_name("features").expect("features").as_list::<i32>();
        for i in 0..b.num_rows() {
            let v = feats.value(i);
            points.insert(
                ids.as_primitive::<Int64Type>().value(i),
                v.as_primitive::<Float64Type>().values().to_vec(),
            );
        }
    }
    let assigned = by_movie(dir.path(), "clustered_movies", "cluster").await;
    let (mut xs, mut cs) = (Vec::new(), Vec::new());
    for (id, x) in &points {
        xs.push(x.clone());
        cs.push(assigned[id].parse::<usize>().expect("cluster"));
    }
    let names: Vec<String> = model.features.iter().map(|f| f.name.clone()).collect();
    let share = emotional_share(&xs, &cs, model.k, &names);
    assert!(share >= 0.5, "between-cluster variance on valence and energy: {share}");
    assert!(
        (share - e.emotional_share).abs() < 0.02,
        "{share} vs {}",
        e.emotional_share
    );

    // The held-out lists (written after the defaults were fixed).
    if with_tmdb {
        let h = evaluate_moods(&root, FILMS_HOLDOUT_CSV, SENTENCES_HOLDOUT_CSV)
            .await
            .expect("evaluate holdout");
        eprintln!("held out:\n{}", h.render());
        assert_eq!(h.missing, 0);
        assert!(h.film_valence_ba >= 0.85, "held-out films: {}", h.film_valence_ba);
        assert!(h.mood_valence_ba >= 0.80, "held-out moods: {}", h.mood_valence_ba);
        assert!(
            h.sentence_hit_rate >= 0.8,
            "held-out sentences: {}",
            h.sentence_hit_rate
        );
    }
}

#[test]
fn real_moods_with_tmdb_meet_the_bars() {
    moodflow_tests::block_on(real_moods(true, [0.90, 0.70, 0.85, 0.8]));
}

#[test]
fn real_moods_without_tmdb() {
    // Measured 0.895, 0.839, 0.832, 0.97: TMDB's overviews and keywords
    // are what lift the film and mood figures over 0.9 and 0.85.
    moodflow_tests::block_on(real_moods(false, [0.85, 0.75, 0.80, 0.8]));
}
