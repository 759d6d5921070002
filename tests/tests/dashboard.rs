//! The Mood Explorer over a whole generated pipeline run: every view and
//! API through `tower::ServiceExt::oneshot`, checked against the curated
//! tables read independently (stage 06's playlists, the features, the tags
//! and ratings), plus the 404/400/413 answers, the empty state and the
//! pick-up of a newer run.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use http_body_util::BodyExt;
use moodflow_dashboard::state::refresh_until_loaded;
use moodflow_dashboard::{router, AppState, Settings};
use moodflow_engine::{local_context, session_config, StorageRoot};
use moodflow_ml::kmeans::driver::Params;
use moodflow_pipeline::generate::{generate, GenerateOptions};
use moodflow_pipeline::progress::Progress;
use moodflow_pipeline::stages::{run_stages, PipelineOptions, RECOMMENDER_STAGES, STAGES};
use moodflow_standalone::standalone;
use moodflow_udfs::vader::analyzer;
use serde_json::Value;
use tower::ServiceExt;

/// One generated pipeline run shared by the dashboard tests (and the
/// browser test): generating and running it takes most of a minute.
pub fn pipeline_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("moodflow-dashboard-")
            .tempdir()
            .expect("tmp")
            .keep();
        let path = dir.clone();
        std::thread::spawn(move || {
            moodflow_tests::block_on(async move {
                generate(
                    &path,
                    GenerateOptions {
                        ratings: 20_000,
                        seed: 11,
                    },
                )
                .expect("generate");
                let root = StorageRoot::parse(&path.to_string_lossy()).expect("root");
                let cluster = standalone(session_config(&[]).expect("config")).await.expect("cluster");
                let stages: Vec<_> = STAGES.iter().chain(RECOMMENDER_STAGES).cloned().collect();
                moodflow_tests::run_pipeline(&cluster, &root, &stages)
                    .await
                    .expect("pipeline");
            })
        })
        .join()
        .expect("pipeline thread");
        dir
    })
}

fn settings(root: &Path) -> Settings {
    Settings {
        root: StorageRoot::parse(&root.to_string_lossy()).expect("root"),
        damping: 10.0,
        refresh: Duration::from_millis(50),
    }
}

pub async fn app(root: &Path) -> (AppState, Router) {
    let state = AppState::load(settings(root)).await.expect("load");
    (state.clone(), router(state))
}

pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

pub async fn send(app: &Router, req: Request<Body>) -> Answer {
    let res = app.clone().oneshot(req).await.expect("infallible");
    let status = res.status();
    let content_type = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    Answer {
        status,
        content_type,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub async fn get(app: &Router, uri: &str) -> Answer {
    send(app, Request::get(uri).body(Body::empty()).expect("request")).await
}

async fn post_json(app: &Router, uri: &str, body: &str) -> Answer {
    let req = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    send(app, req).await
}

async fn table(root: &Path, name: &str) -> Vec<RecordBatch> {
    let ctx = local_context(session_config(&[]).expect("config")).expect("ctx");
    let path = format!("{}/curated/{name}/", root.display());
    ctx.read_parquet(path.as_str(), Default::default())
        .await
        .expect("read")
        .collect()
        .await
        .expect("collect")
}

fn i64s(b: &RecordBatch, name: &str) -> Vec<i64> {
    let a = cast(b.column_by_name(name).expect(name), &DataType::Int64).expect("cast");
    a.as_primitive::<Int64Type>()
        .iter()
        .map(|v| v.expect("not null"))
        .collect()
}

fn f64s(b: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let a = cast(b.column_by_name(name).expect(name), &DataType::Float64).expect("cast");
    a.as_primitive::<Float64Type>().iter().collect()
}

fn strs(b: &RecordBatch, name: &str) -> Vec<String> {
    let a = cast(b.column_by_name(name).expect(name), &DataType::Utf8).expect("cast");
    a.as_string::<i32>()
        .iter()
        .map(|v| v.unwrap_or("").to_string())
        .collect()
}

fn ids(items: &Value) -> Vec<i64> {
    items
        .as_array()
        .expect("array")
        .iter()
        .map(|i| i["movieId"].as_i64().expect("id"))
        .collect()
}

#[test]
fn every_view_renders_from_a_generated_run() {
    moodflow_tests::block_on(async {
        let (_, app) = app(pipeline_root()).await;
        let moods = get(&app, "/api/moods").await.json();
        let slug = moods[0]["slug"].as_str().expect("slug").to_string();
        let label = moods[0]["label"].as_str().expect("label").to_string();
        let first_movie = moods[0]["examples"][0]["movieId"].as_i64().expect("example");
        let pages = [
            ("/".to_string(), label.clone()),
            (format!("/moods/{slug}"), "Download CSV".to_string()),
            (
                format!("/moods/{slug}?genre=&year_min=&limit=5"),
                "Top 5 of".to_string(),
            ),
            (format!("/movies/{first_movie}"), "Nearest movies".to_string()),
            (format!("/movies/{first_movie}"), "Tone from".to_string()),
            ("/charts".to_string(), "principal component 1".to_string()),
            ("/feel".to_string(), "How do you feel?".to_string()),
            (
                "/feel?text=something+scary+please".to_string(),
                "Every mood, nearest first".to_string(),
            ),
            (
                "/feel?text=something+scary+please".to_string(),
                "Dark and tense, like your request.".to_string(),
            ),
            ("/search?q=the".to_string(), "movies match".to_string()),
            ("/status".to_string(), "k-means: every k tried".to_string()),
        ];
        for (uri, expect) in pages {
            let a = get(&app, &uri).await;
            assert_eq!(a.status, StatusCode::OK, "{uri}: {}", a.body);
            assert!(a.content_type.starts_with("text/html"), "{uri}: {}", a.content_type);
            assert!(
                a.body.contains(&moodflow_dashboard::html::esc(&expect)),
                "{uri} lacks '{expect}'"
            );
            // Accessibility basics: a language, a skip link, a labelled
            // control for every input, nothing fetched from elsewhere.
            assert!(
                a.body.contains("<html lang=\"en\">") && a.body.contains("href=\"#main\""),
                "{uri}"
            );
            for id in a
                .body
                .split("<input id=\"")
                .skip(1)
                .chain(a.body.split("<select id=\"").skip(1))
            {
                let id = id.split('"').next().expect("id");
                assert!(
                    a.body.contains(&format!("<label for=\"{id}\"")),
                    "{uri}: input {id} has no label"
                );
            }
            for external in ["src=\"http", "href=\"http", "<script"] {
                assert!(!a.body.contains(external), "{uri} contains {external}");
            }
        }
        let csv = get(&app, &format!("/moods/{slug}/playlist.csv?limit=3")).await;
        assert_eq!(csv.status, StatusCode::OK);
        assert!(csv.content_type.starts_with("text/csv"));
        let lines: Vec<&str> = csv.body.lines().collect();
        assert_eq!(
            lines[0],
            "rank,movieId,title,year,genres,rating_mean,rating_count,score,compound,mood"
        );
        assert!(lines.len() <= 4 && lines.len() >= 2, "{}", csv.body);
        assert!(lines[1].starts_with("1,"));
        assert_eq!(get(&app, "/health").await.status, StatusCode::OK);
    });
}

#[test]
fn default_playlists_equal_stage_06() {
    moodflow_tests::block_on(async {
        let root = pipeline_root();
        let (_, app) = app(root).await;
        let mut expected: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
        for b in table(root, "mood_playlists").await {
            let (moods, ids, scores) = (strs(&b, "mood"), i64s(&b, "movieId"), f64s(&b, "score"));
            let ranks = i64s(&b, "rank");
            let mut rows: Vec<(i64, String, i64, f64)> = (0..b.num_rows())
                .map(|i| (ranks[i], moods[i].clone(), ids[i], scores[i].expect("score")))
                .collect();
            rows.sort_by_key(|r| r.0);
            for (_, mood, id, score) in rows {
                expected.entry(mood).or_default().push((id, score));
            }
        }
        let moods = get(&app, "/api/moods").await.json();
        let mut seen = 0;
        for m in moods.as_array().expect("moods") {
            let label = m["label"].as_str().expect("label");
            let slug = m["slug"].as_str().expect("slug");
            let p = get(&app, &format!("/api/moods/{slug}/playlist")).await.json();
            let got: Vec<(i64, f64)> = p["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|i| (i["movieId"].as_i64().expect("id"), i["score"].as_f64().expect("score")))
                .collect();
            let want = expected.get(label).cloned().unwrap_or_default();
            assert_eq!(
                got.iter().map(|g| g.0).collect::<Vec<_>>(),
                want.iter().map(|w| w.0).collect::<Vec<_>>(),
                "mood {label}"
            );
            for (g, w) in got.iter().zip(&want) {
                assert!((g.1 - w.1).abs() < 1e-6, "mood {label}: score {} vs {}", g.1, w.1);
            }
            seen += got.len();
        }
        assert!(seen > 0, "the generated run has playlists");
    });
}

#[test]
fn playlist_filters_hold_on_every_row() {
    moodflow_tests::block_on(async {
        let (state, app) = app(pipeline_root()).await;
        let s = state.snapshot().expect("snapshot");
        let by_id: HashMap<i64, &moodflow_dashboard::snapshot::Movie> = s.movies.iter().map(|m| (m.id, m)).collect();
        for entry in &s.moods {
            let all = get(
                &app,
                &format!("/api/moods/{}/playlist?min_ratings=0&limit=1000", entry.slug),
            )
            .await
            .json();
            assert_eq!(
                all["matching"].as_u64(),
                Some(entry.mood.size),
                "every movie of the mood"
            );
            let genres: Vec<(String, u64)> = all["genre_counts"]
                .as_array()
                .expect("counts")
                .iter()
                .map(|g| {
                    (
                        g["genre"].as_str().expect("g").to_string(),
                        g["count"].as_u64().expect("n"),
                    )
                })
                .collect();
            for (genre, count) in genres.iter().take(3) {
                for q in [
                    format!("genre={genre}&min_ratings=0&limit=1000"),
                    format!("genre={genre}&year_min=1990&year_max=2005&min_ratings=2&limit=7"),
                ] {
                    let p = get(&app, &format!("/api/moods/{}/playlist?{q}", entry.slug)).await;
                    assert_eq!(p.status, StatusCode::OK, "{q}: {}", p.body);
                    let p = p.json();
                    let items = ids(&p["items"]);
                    let strict = q.contains("year_min");
                    let brute = entry
                        .ranked
                        .iter()
                        .map(|&i| &s.movies[i])
                        .filter(|m| m.genres.contains(genre))
                        .filter(|m| {
                            !strict || (m.year.is_some_and(|y| (1990..=2005).contains(&y)) && m.rating_count >= 2)
                        })
                        .count();
                    assert_eq!(p["matching"].as_u64(), Some(brute as u64), "{q}");
                    if !strict {
                        assert_eq!(brute as u64, *count, "genre count of {genre}");
                    }
                    let mut last = f64::INFINITY;
                    for id in items {
                        let m = by_id[&id];
                        assert_eq!(m.cluster, entry.mood.cluster);
                        assert!(m.genres.contains(genre));
                        if strict {
                            assert!(m.year.is_some_and(|y| (1990..=2005).contains(&y)) && m.rating_count >= 2);
                        }
                        assert!(m.score <= last + 1e-12, "ranked by score");
                        last = m.score;
                    }
                }
            }
        }
        // Title search: every word, any case or accent.
        let m = &s.movies[0];
        let word = m
            .search_key
            .split(' ')
            .max_by_key(|w| w.len())
            .expect("a word")
            .to_uppercase();
        let found = get(&app, &format!("/api/movies?q={word}&limit=1000")).await.json();
        assert!(ids(&found["hits"]).contains(&m.id), "search '{word}' finds {}", m.title);
        for hit in found["hits"].as_array().expect("hits") {
            let key = moodflow_udfs::text::normalize_text(hit["title"].as_str().expect("title"));
            assert!(key.contains(&word.to_lowercase()), "{key}");
        }
    });
}

#[test]
fn movie_api_agrees_with_the_tables() {
    moodflow_tests::block_on(async {
        let root = pipeline_root();
        let (_, app) = app(root).await;
        let mut features: Vec<(i64, Vec<f64>)> = Vec::new();
        for b in table(root, "nf_features").await {
            let ids = i64s(&b, "movieId");
            let list = b.column_by_name("features").expect("features").as_list::<i32>().clone();
            for (i, id) in ids.into_iter().enumerate() {
                let v = list.value(i);
                features.push((id, v.as_primitive::<Float64Type>().values().to_vec()));
            }
        }
        let mut sentiment: HashMap<i64, (f64, String)> = HashMap::new();
        for b in table(root, "movielens_movies_with_sentiment").await {
            let (ids, c, t) = (i64s(&b, "movieId"), f64s(&b, "compound"), strs(&b, "title"));
            for i in 0..b.num_rows() {
                sentiment.insert(ids[i], (c[i].expect("compound"), t[i].clone()));
            }
        }
        let mut mood_of: HashMap<i64, String> = HashMap::new();
        for b in table(root, "clustered_movies").await {
            for (id, mood) in i64s(&b, "movieId").into_iter().zip(strs(&b, "mood")) {
                mood_of.insert(id, mood);
            }
        }
        let mut tags: HashMap<i64, Vec<String>> = HashMap::new();
        for b in table(root, "movielens_tags").await {
            for (id, tag) in i64s(&b, "movieId").into_iter().zip(strs(&b, "tag")) {
                let t = tags.entry(id).or_default();
                if !t.contains(&tag) {
                    t.push(tag);
                }
            }
        }
        let mut ratings: HashMap<i64, u64> = HashMap::new();
        for b in table(root, "movielens_ratings").await {
            for id in i64s(&b, "movieId") {
                *ratings.entry(id).or_default() += 1;
            }
        }
        let tagged = features
            .iter()
            .find(|(id, _)| tags.contains_key(id))
            .expect("a tagged movie")
            .0;
        for &(id, ref x) in features
            .iter()
            .step_by(features.len() / 7)
            .chain(features.iter().filter(|f| f.0 == tagged))
        {
            let m = get(&app, &format!("/api/movies/{id}")).await;
            assert_eq!(m.status, StatusCode::OK, "{}", m.body);
            let m = m.json();
            assert_eq!(m["title"].as_str(), Some(sentiment[&id].1.as_str()));
            assert_eq!(m["mood"]["label"].as_str(), Some(mood_of[&id].as_str()));
            assert!((m["sentiment"]["compound"].as_f64().expect("c") - sentiment[&id].0).abs() < 1e-12);
            let mut got: Vec<String> = m["tags"]
                .as_array()
                .expect("tags")
                .iter()
                .map(|t| t.as_str().expect("tag").to_string())
                .collect();
            let mut want = tags.get(&id).cloned().unwrap_or_default();
            got.sort();
            want.sort();
            assert_eq!(got, want, "tags of {id}");
            let counted: u64 = m["ratings"]
                .as_array()
                .expect("ratings")
                .iter()
                .map(|r| r["count"].as_u64().expect("count"))
                .sum();
            assert_eq!(counted, ratings.get(&id).copied().unwrap_or(0), "ratings of {id}");

            // Nearest neighbours by brute force over the features table.
            let mut all: Vec<(f64, i64)> = features
                .iter()
                .filter(|(o, _)| *o != id)
                .map(|(o, y)| (x.iter().zip(y).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt(), *o))
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let near = get(&app, &format!("/api/movies/{id}/similar?limit=5")).await.json();
            let got = ids(&near);
            assert_eq!(
                got,
                all.iter().take(5).map(|a| a.1).collect::<Vec<_>>(),
                "neighbours of {id}"
            );
        }
    });
}

#[test]
fn bad_requests_get_clear_answers() {
    moodflow_tests::block_on(async {
        let (_, app) = app(pipeline_root()).await;
        let moods = get(&app, "/api/moods").await.json();
        let slug = moods[0]["slug"].as_str().expect("slug").to_string();
        let cases: Vec<(String, StatusCode, Option<&str>)> = vec![
            ("/api/moods/no-such-mood".into(), StatusCode::NOT_FOUND, None),
            ("/api/moods/no-such-mood/playlist".into(), StatusCode::NOT_FOUND, None),
            ("/api/movies/999999999".into(), StatusCode::NOT_FOUND, None),
            ("/api/movies/999999999/similar".into(), StatusCode::NOT_FOUND, None),
            ("/api/nothing-here".into(), StatusCode::NOT_FOUND, None),
            ("/api/movies/abc".into(), StatusCode::BAD_REQUEST, Some("movieId")),
            // A search that normalises to nothing would match every movie.
            ("/api/movies?q=!!!".into(), StatusCode::BAD_REQUEST, Some("q")),
            ("/api/movies?q=%ff%fe".into(), StatusCode::BAD_REQUEST, Some("q")),
            (
                format!("/api/moods/{slug}/playlist?q=%21%21%21"),
                StatusCode::BAD_REQUEST,
                Some("q"),
            ),
            (
                format!("/api/moods/{slug}/playlist?year_min=abc"),
                StatusCode::BAD_REQUEST,
                Some("year_min"),
            ),
            (
                format!("/api/moods/{slug}/playlist?limit=0"),
                StatusCode::BAD_REQUEST,
                Some("limit"),
            ),
            (
                format!("/api/moods/{slug}/playlist?genre=Polka"),
                StatusCode::BAD_REQUEST,
                Some("genre"),
            ),
            (
                format!("/api/moods/{slug}/playlist?sort=asc"),
                StatusCode::BAD_REQUEST,
                Some("sort"),
            ),
            (
                format!("/api/moods/{slug}/playlist?year_min=2000&year_max=1990"),
                StatusCode::BAD_REQUEST,
                Some("year_min"),
            ),
            (
                format!("/api/moods/{slug}/playlist?q=%27%3B%20DROP%20TABLE%20x%3B--"),
                StatusCode::OK,
                None,
            ),
            ("/api/movies".into(), StatusCode::BAD_REQUEST, Some("q")),
            (
                "/api/movies/1/similar?limit=1000".into(),
                StatusCode::BAD_REQUEST,
                Some("limit"),
            ),
        ];
        for (uri, status, param) in cases {
            let a = get(&app, &uri).await;
            assert_eq!(a.status, status, "{uri}: {}", a.body);
            assert!(a.content_type.starts_with("application/json"), "{uri}");
            if status != StatusCode::OK {
                let j = a.json();
                assert_eq!(j["status"].as_u64(), Some(u64::from(status.as_u16())));
                assert_eq!(j["param"].as_str(), param, "{uri}: {}", a.body);
                assert!(!j["error"].as_str().expect("message").is_empty());
            }
        }
        // Pages answer the same problems as pages.
        for (uri, status) in [
            ("/moods/no-such-mood", StatusCode::NOT_FOUND),
            ("/movies/999999999", StatusCode::NOT_FOUND),
            ("/no/such/page", StatusCode::NOT_FOUND),
            ("/movies/abc", StatusCode::BAD_REQUEST),
            ("/feel?text=", StatusCode::OK),
        ] {
            let a = get(&app, uri).await;
            assert_eq!(a.status, status, "{uri}");
            assert!(a.content_type.starts_with("text/html"), "{uri}");
        }
        let a = get(&app, &format!("/moods/{slug}?limit=abc")).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        // The page names the parameter (maud escapes `&<>"`; a quote in
        // text content needs no escape).
        assert!(
            a.body.contains("parameter 'limit': 'abc' is not an integer"),
            "{}",
            a.body
        );

        // Bodies: not JSON, wrong shape, empty text, too long, too large.
        for (body, status, param) in [
            ("not json", StatusCode::BAD_REQUEST, None),
            ("{\"txt\": \"hi\"}", StatusCode::BAD_REQUEST, None),
            ("{\"text\": \"  \"}", StatusCode::BAD_REQUEST, Some("text")),
        ] {
            let a = post_json(&app, "/api/mood-from-text", body).await;
            assert_eq!(a.status, status, "{body}: {}", a.body);
            assert_eq!(a.json()["param"].as_str(), param);
        }
        let long = format!("{{\"text\": \"{}\"}}", "sad ".repeat(600));
        let a = post_json(&app, "/api/mood-from-text", &long).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert_eq!(a.json()["param"].as_str(), Some("text"));
        let huge = format!("{{\"text\": \"{}\"}}", "x".repeat(100_000));
        let a = post_json(&app, "/api/mood-from-text", &huge).await;
        assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", a.body);
        assert!(a.content_type.starts_with("application/json"));
    });
}

#[test]
fn mood_from_text_places_the_sentence_and_suggests_the_nearest_films() {
    moodflow_tests::block_on(async {
        let (state, app) = app(pipeline_root()).await;
        let s = state.snapshot().expect("snapshot");
        let scale = |name: &str| s.model.features.iter().find(|f| f.name == name).expect("axis").clone();
        let (vs, es) = (scale("valence"), scale("energy"));
        let mut lists = Vec::new();
        for (text, dark, intense) in [
            (
                "I feel wonderful, cheer me up with something joyful and funny!",
                Some(false),
                None,
            ),
            ("Grim, dark and scary: I want to be terrified", Some(true), Some(true)),
            ("a cozy, gentle evening to relax", Some(false), Some(false)),
            ("meh", None, None),
        ] {
            let body = serde_json::json!({ "text": text }).to_string();
            let a = post_json(&app, "/api/mood-from-text", &body).await;
            assert_eq!(a.status, StatusCode::OK, "{}", a.body);
            let f = a.json();
            let expected = analyzer().polarity_scores(text);
            assert_eq!(f["compound"].as_f64(), Some(expected.compound), "{text}");
            let ranking = f["ranking"].as_array().expect("ranking");
            assert_eq!(ranking.len(), s.moods.len());
            assert_eq!(f["mood"]["slug"], ranking[0]["slug"]);
            let d: Vec<f64> = ranking.iter().map(|r| r["distance"].as_f64().expect("d")).collect();
            assert!(d.windows(2).all(|w| w[0] <= w[1]), "{d:?}");
            assert!(f["why"].as_str().expect("why").len() > 10);
            // The films: eligible (10+ ratings), and none left out is nearer
            // to the target by more than the documented 0.1 tie band.
            let target = |v: Option<f64>, scale: &moodflow_ml::kmeans::model::Scaling| {
                v.map(|v| scale.scale(v).clamp(-2.0 * scale.weight, 2.0 * scale.weight))
            };
            let (tv, te) = (target(f["valence"].as_f64(), &vs), target(f["energy"].as_f64(), &es));
            let dist = |m: &moodflow_dashboard::snapshot::Movie| {
                let dv = tv.map_or(0.0, |t| (vs.scale(m.position.valence) - t).powi(2));
                let de = te.map_or(0.0, |t| (es.scale(m.position.energy) - t).powi(2));
                (dv + de).sqrt()
            };
            let films: Vec<i64> = f["films"]
                .as_array()
                .expect("films")
                .iter()
                .map(|x| x["movieId"].as_i64().expect("id"))
                .collect();
            assert_eq!(films.len(), 10, "{text}");
            let chosen: Vec<&moodflow_dashboard::snapshot::Movie> =
                films.iter().map(|id| s.movie(*id).expect("movie")).collect();
            assert!(chosen.iter().all(|m| m.rating_count >= 10));
            let worst = chosen.iter().map(|m| dist(m)).fold(0.0, f64::max);
            let nearer_left_out = s
                .movies
                .iter()
                .filter(|m| m.rating_count >= 10 && !films.contains(&m.id) && dist(m) < worst - 0.1)
                .count();
            assert_eq!(nearer_left_out, 0, "{text}");
            // And they feel as asked: the median film is on the asked side.
            let median = |mut v: Vec<f64>| {
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            let v = median(chosen.iter().map(|m| m.position.valence).collect());
            let e = median(chosen.iter().map(|m| m.position.energy).collect());
            if let Some(dark) = dark {
                assert_eq!(v < 0.0, dark, "{text}: median valence {v}");
            }
            if let Some(intense) = intense {
                assert_eq!(e > es.mean, intense, "{text}: median energy {e} vs {}", es.mean);
            }
            lists.push(films);
        }
        // Different feelings, different films (not the same three for all).
        assert_ne!(lists[0], lists[1]);
        assert_ne!(lists[1], lists[2]);
        let scary = post_json(&app, "/api/mood-from-text", "{\"text\": \"something scary\"}")
            .await
            .json();
        assert_eq!(scary["intents"], serde_json::json!(["something scary"]));
        assert!(
            scary["why"].as_str().expect("why").starts_with("Dark and tense"),
            "{}",
            scary["why"]
        );
    });
}

#[test]
fn an_empty_root_says_how_to_run_the_pipeline() {
    moodflow_tests::block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        let (_, app) = app(dir.path()).await;
        let home = get(&app, "/").await;
        assert_eq!(home.status, StatusCode::OK);
        assert!(home.body.contains("moodflow run --root"), "{}", home.body);
        for uri in ["/api/moods", "/api/status", "/api/movies/1"] {
            let a = get(&app, uri).await;
            assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{uri}");
            assert!(a.json()["error"]
                .as_str()
                .expect("error")
                .contains("moodflow run --root"));
        }
        let status = get(&app, "/status").await;
        assert_eq!(status.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(status.body.contains("moodflow run --root"));
    });
}

/// Idle connections and slow headers are closed, and the open connections
/// are capped: a client that opens connections and sends nothing cannot
/// hold the server (they once stayed open forever).
#[test]
fn idle_connections_are_closed_and_capped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    moodflow_tests::block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        let state = AppState::load(settings(dir.path())).await.expect("load");
        let (listener, addr) = moodflow_dashboard::bind("127.0.0.1:0").await.expect("bind");
        let limits = moodflow_dashboard::ConnectionLimits {
            max_connections: 3,
            header_timeout: Duration::from_millis(500),
        };
        let server = tokio::spawn(moodflow_dashboard::serve_with(state, listener, limits));
        let mut idle = Vec::new();
        for _ in 0..2 {
            idle.push(TcpStream::connect(addr).await.expect("connect"));
        }
        // A slow client: half a header, then nothing.
        let mut slow = TcpStream::connect(addr).await.expect("connect");
        slow.write_all(b"GET /health HTTP/1.1\r\nHo").await.expect("write");
        idle.push(slow);
        // The cap is full: a fourth client is served only once the server
        // has dropped one of the others.
        let started = std::time::Instant::now();
        let mut client = TcpStream::connect(addr).await.expect("connect");
        client
            .write_all(b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut answer))
            .await
            .expect("served within 10 s")
            .expect("read");
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok\n"),
            "{answer}"
        );
        assert!(
            started.elapsed() >= Duration::from_millis(400),
            "the fourth connection waited for a slot ({:?})",
            started.elapsed()
        );
        for (i, mut s) in idle.into_iter().enumerate() {
            let mut rest = Vec::new();
            let closed = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
            assert!(matches!(closed, Ok(Ok(_))), "connection {i} was closed by the server");
        }
        server.abort();
    });
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn a_newer_run_is_picked_up_without_a_restart() {
    moodflow_tests::block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        copy_dir(pipeline_root(), dir.path());
        let (state, app) = app(dir.path()).await;
        let before = get(&app, "/api/status").await.json();
        let k_before = before["k"].as_u64().expect("k");
        let k_after = if k_before == 3 { 4 } else { 3 };
        // Stage 10 retrains with one k and rebuilds the playlists.
        let root = StorageRoot::parse(&dir.path().to_string_lossy()).expect("root");
        let cluster = standalone(session_config(&[]).expect("config")).await.expect("cluster");
        let stages: Vec<_> = STAGES
            .iter()
            .filter(|s| s.number == "05" || s.number == "06")
            .cloned()
            .collect();
        let options = PipelineOptions {
            kmeans: Params {
                k_min: k_after as usize,
                k_max: k_after as usize,
                ..Params::default()
            },
            ..PipelineOptions::default()
        };
        run_stages(
            &cluster,
            &root,
            &stages,
            &BTreeMap::new(),
            &options,
            &Progress::new(true),
        )
        .await
        .expect("retrain");
        assert!(
            refresh_until_loaded(&state, 100, Duration::from_millis(50)).await,
            "the new run is loaded"
        );
        let after = get(&app, "/api/status").await.json();
        assert_eq!(after["k"].as_u64(), Some(k_after));
        assert_eq!(
            get(&app, "/api/moods").await.json().as_array().map(Vec::len),
            Some(k_after as usize)
        );
        // Nothing changed since: no further reload.
        let mut previous = None;
        assert!(!state.refresh(&mut previous).await);
        assert!(!state.refresh(&mut previous).await);
    });
}

/// Every (user, film) pair of the generated raw ratings: the independent
/// record of what each user rated.
fn raw_rated(root: &Path) -> std::collections::HashSet<(String, i64)> {
    let text = std::fs::read_to_string(root.join("raw/movielens/ratings.csv")).expect("ratings.csv");
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.trim_end_matches('\r').split(',');
            let (u, m) = (f.next()?.parse::<i64>().ok()?, f.next()?.parse::<i64>().ok()?);
            Some((format!("ml:{u}"), m))
        })
        .collect()
}

#[test]
fn personal_recommendations_never_repeat_a_rated_film() {
    let root = pipeline_root();
    moodflow_tests::block_on(async move {
        let (_, app) = app(root).await;
        let rated = raw_rated(root);
        let mut checked = 0;
        for user in ["1", "ml:2", "7"] {
            let a = get(&app, &format!("/api/users/{user}/recommendations?limit=20")).await;
            assert_eq!(a.status, StatusCode::OK, "{}", a.body);
            let v = a.json();
            let id = v["user"].as_str().expect("user").to_string();
            assert!(id.starts_with("ml:"));
            let items = v["items"].as_array().expect("items");
            assert_eq!(items.len(), 20);
            for it in items {
                let movie = it["movieId"].as_i64().expect("id");
                assert!(!rated.contains(&(id.clone(), movie)), "{id} rated {movie} already");
                checked += 1;
            }
            let scores: Vec<f64> = items.iter().map(|i| i["score"].as_f64().expect("score")).collect();
            assert!(scores.windows(2).all(|w| w[0] >= w[1]), "best first: {scores:?}");
        }
        assert_eq!(checked, 60);
        // Within a mood, every film is of that mood.
        let moods = get(&app, "/api/moods").await.json();
        let slug = moods[0]["slug"].as_str().expect("slug").to_string();
        let label = moods[0]["label"].as_str().expect("label").to_string();
        let v = get(&app, &format!("/api/users/1/recommendations?mood={slug}&limit=5"))
            .await
            .json();
        assert!(v["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["mood"] == label.as_str()));
        // Unknown user, bad limit, unknown mood.
        assert_eq!(
            get(&app, "/api/users/987654321/recommendations").await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            get(&app, "/api/users/1/recommendations?limit=0").await.status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            get(&app, "/api/users/1/recommendations?mood=nope").await.status,
            StatusCode::NOT_FOUND
        );
        // A newcomer: the films offered span the moods; their ratings fold in.
        let offered = get(&app, "/api/onboarding").await.json();
        let offered = offered.as_array().expect("films");
        assert_eq!(offered.len(), 12);
        let moods_offered: std::collections::HashSet<&str> =
            offered.iter().map(|f| f["mood"].as_str().expect("mood")).collect();
        assert_eq!(moods_offered.len(), moods.as_array().expect("moods").len().min(12));
        let ratings: Vec<String> = offered
            .iter()
            .enumerate()
            .map(|(i, f)| {
                format!(
                    "{{\"movieId\": {}, \"rating\": {}}}",
                    f["movieId"],
                    if i % 2 == 0 { 5 } else { 1 }
                )
            })
            .collect();
        let body = format!("{{\"ratings\": [{}], \"limit\": 10}}", ratings.join(","));
        let a = post_json(&app, "/api/recommendations", &body).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let v = a.json();
        assert_eq!(v["rated"], 12);
        let offered_ids: Vec<i64> = offered.iter().map(|f| f["movieId"].as_i64().expect("id")).collect();
        let got = ids(&v["items"]);
        assert_eq!(got.len(), 10);
        assert!(got.iter().all(|g| !offered_ids.contains(g)), "never a film they rated");
        for (body, param) in [
            ("{\"ratings\": []}", "ratings"),
            ("{\"ratings\": [{\"movieId\": 987654321, \"rating\": 4}]}", "ratings"),
            ("{\"ratings\": [{\"movieId\": 1, \"rating\": 7}]}", "ratings"),
            (
                "{\"ratings\": [{\"movieId\": 1, \"rating\": 4}], \"limit\": 0}",
                "limit",
            ),
        ] {
            let a = post_json(&app, "/api/recommendations", body).await;
            assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}: {}", a.body);
            assert_eq!(a.json()["param"], param, "{body}");
        }
        let a = post_json(&app, "/api/recommendations", "{\"ratings\": 3}").await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
    });
}
