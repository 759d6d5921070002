//! Stage 12 `train_recommender` and what reads its outputs: the ALS
//! training of [`moodflow_ml::recommender`] on the unified ratings (or the
//! MovieLens ratings alone when the Netflix stages did not run), committed
//! as `curated/user_factors`, `curated/item_factors` and
//! `models/recommender/model.json`; loading them back for `predict`,
//! `recommend` and the dashboard; and `evaluate-recommender`.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::common::{DataFusionError, Result};
use datafusion::prelude::{col, lit, ParquetReadOptions, SessionContext};
use moodflow_engine::{Cluster, StorageRoot};
use moodflow_ml::recommender::evaluate::{report, Rating, Report};
use moodflow_ml::recommender::model::{int_key, read_vectors, str_key, Factors, ModelInfo, DEFAULT_BLEND};
use moodflow_ml::recommender::train::{Params, Trainer};

use crate::commit;
use crate::stages::TrainError;

/// Where the model lives below the root.
pub const MODEL_DIR: &str = "models/recommender";
/// The tables stage 12 writes.
pub const TABLES: &[&str] = &["user_factors", "item_factors"];
/// The tables stage 12 may learn from (one of them: see [`source`]).
pub const INPUTS: &[&str] = &["unified_ratings", "movielens_ratings"];

/// The ratings the recommender learns from, as a query over a registered
/// table `als_source`, and that table's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// `unified_ratings` or `movielens_ratings`.
    pub table: String,
    /// `"userId"` (namespaced), `"movieId"` and `rating`.
    pub select: String,
}

/// The unified ratings when this root's run made them (it has Netflix
/// files and `curated/unified_ratings`), else the MovieLens ratings with
/// their users namespaced as stage 09 does (`ml:12`).
pub async fn source(ctx: &SessionContext, root: &StorageRoot) -> Result<Source> {
    let netflix = crate::stages::netflix_inputs(ctx, root).await?.is_some();
    let curated = root.list_dirs(&ctx.runtime_env(), "curated").await?;
    if netflix && curated.iter().any(|d| d == "unified_ratings") {
        return Ok(Source {
            table: "unified_ratings".into(),
            select: "SELECT \"userId\", CAST(\"movieId\" AS BIGINT) AS \"movieId\", CAST(rating AS DOUBLE) AS rating \
                     FROM als_source"
                .into(),
        });
    }
    Ok(Source {
        table: "movielens_ratings".into(),
        select: "SELECT concat('ml:', CAST(\"userId\" AS VARCHAR)) AS \"userId\", CAST(\"movieId\" AS BIGINT) AS \"movieId\", \
                 CAST(rating AS DOUBLE) AS rating FROM als_source"
            .into(),
    })
}

/// What stage 12 did.
#[derive(Debug, Clone)]
pub struct Trained {
    /// Rows per table written.
    pub written: BTreeMap<String, u64>,
    /// The model.
    pub model: ModelInfo,
}

/// Stage 12: trains, then commits both factor tables and the model
/// together; the staging folder (with every intermediate factor table) is
/// removed whatever happens.
pub async fn run_recommender(cluster: &Cluster, root: &StorageRoot, params: &Params) -> Result<Trained, TrainError> {
    let staging = commit::new_staging_dir();
    let result = train_into(cluster, root, params, &staging).await;
    commit::remove_staging(&cluster.ctx, root, &staging).await;
    result
}

async fn train_into(
    cluster: &Cluster,
    root: &StorageRoot,
    params: &Params,
    staging: &str,
) -> Result<Trained, TrainError> {
    let started = Instant::now();
    let source = source(&cluster.ctx, root).await?;
    let trainer = Trainer::new(cluster, root.join(&format!("{staging}/_als")));
    trainer
        .register_location(
            "source",
            &format!("{}/", root.join(&format!("curated/{}", source.table))),
        )
        .await?;
    trainer
        .split(&source.select, params.validation, params.seed, false)
        .await?;
    let fit = trainer.fit(params).await?;
    let (validation_rmse, validation_pairs) = trainer.rmse("holdout", &fit).await?;
    let held = trainer.count("holdout").await?;
    let mut written = BTreeMap::new();
    for (table, dir, key) in [
        ("user_factors", &fit.users_dir, "userId"),
        ("item_factors", &fit.items_dir, "movieId"),
    ] {
        trainer.register(table, dir).await?;
        trainer
            .query(&format!(
                "COPY (SELECT \"{key}\", factors, bias, pref, ratings FROM als_{table}) TO '{}/' STORED AS PARQUET",
                root.join(&format!("{staging}/{table}"))
            ))
            .await?;
        written.insert(table.to_string(), trainer.count(dir).await?);
    }
    let model = ModelInfo {
        params: params.clone(),
        blend: DEFAULT_BLEND,
        global_mean: fit.global_mean,
        iterations: fit.history.clone(),
        validation_rmse: (validation_pairs > 0).then_some(validation_rmse),
        validation_pairs,
        validation_ratings: held,
        ratings: fit.counts.0,
        users: fit.counts.1,
        items: fit.counts.2,
        source: source.table,
        jobs: fit.jobs,
        seconds: started.elapsed().as_secs_f64(),
    };
    let json = serde_json::to_vec_pretty(&model).map_err(|e| TrainError::Model(e.to_string()))?;
    let runtime = cluster.ctx.runtime_env();
    root.write_file(&runtime, &format!("{staging}/recommender/model.json"), json)
        .await?;
    for table in TABLES {
        commit::commit_dir(
            &cluster.ctx,
            root,
            &format!("{staging}/{table}"),
            &format!("curated/{table}"),
        )
        .await?;
    }
    commit::commit_dir(&cluster.ctx, root, &format!("{staging}/recommender"), MODEL_DIR).await?;
    Ok(Trained { written, model })
}

/// Reads `models/recommender/model.json`; `None` before the first training.
pub async fn read_model(ctx: &SessionContext, root: &StorageRoot) -> Result<Option<ModelInfo>> {
    match root
        .read_file(&ctx.runtime_env(), &format!("{MODEL_DIR}/model.json"))
        .await?
    {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| DataFusionError::Execution(format!("{}/model.json: {e}", root.join(MODEL_DIR)))),
    }
}

async fn read_table(ctx: &SessionContext, root: &StorageRoot, table: &str) -> Result<datafusion::dataframe::DataFrame> {
    let location = format!("{}/", root.join(&format!("curated/{table}")));
    ctx.read_parquet(location.as_str(), ParquetReadOptions::default())
        .await
        .map_err(|e| DataFusionError::Execution(format!("cannot read {location}: {e}")))
}

/// Which users' factors to load.
#[derive(Debug, Clone, Copy)]
pub enum Users<'a> {
    /// Every user (the evaluation).
    All,
    /// These namespaced ids only.
    Some(&'a [String]),
}

/// The trained model with every film's factors and the chosen users';
/// `None` before stage 12 ran.
pub async fn load_factors(ctx: &SessionContext, root: &StorageRoot, users: Users<'_>) -> Result<Option<Factors>> {
    let Some(info) = read_model(ctx, root).await? else {
        return Ok(None);
    };
    let rank = info.params.rank;
    let items = read_table(ctx, root, "item_factors").await?.collect().await?;
    let items = read_vectors(&items, "movieId", rank, int_key)?;
    let users = load_users(ctx, root, rank, users).await?;
    Ok(Some(Factors::new(info, items, users)))
}

/// The factors of the chosen users (rank `rank`).
pub async fn load_users(
    ctx: &SessionContext,
    root: &StorageRoot,
    rank: usize,
    users: Users<'_>,
) -> Result<Vec<(String, moodflow_ml::recommender::model::Vectors)>> {
    let mut df = read_table(ctx, root, "user_factors").await?;
    if let Users::Some(ids) = users {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        df = df.filter(col("\"userId\"").in_list(ids.iter().map(|u| lit(u.as_str())).collect(), false))?;
    }
    read_vectors(&df.collect().await?, "userId", rank, str_key)
}

/// The ratings of `users` in the table the model was trained on, by user.
pub async fn ratings_of(
    ctx: &SessionContext,
    root: &StorageRoot,
    info: &ModelInfo,
    users: &[String],
) -> Result<HashMap<String, Vec<(i64, f64)>>> {
    let (source_table, user_expr) = if info.source == "unified_ratings" {
        ("unified_ratings", "\"userId\"".to_string())
    } else {
        (
            "movielens_ratings",
            "concat('ml:', CAST(\"userId\" AS VARCHAR))".to_string(),
        )
    };
    let df = read_table(ctx, root, source_table).await?;
    ctx.register_table("rec_rated_source", df.into_view())?;
    let list: Vec<String> = users.iter().map(|u| format!("'{}'", u.replace('\'', "''"))).collect();
    let sql = format!(
        "SELECT {user_expr} AS u, CAST(\"movieId\" AS BIGINT) AS m, CAST(rating AS DOUBLE) AS r \
         FROM rec_rated_source WHERE {user_expr} IN ({})",
        if list.is_empty() {
            "NULL".to_string()
        } else {
            list.join(", ")
        }
    );
    let batches = async { ctx.sql(&sql).await?.collect().await }.await;
    ctx.deregister_table("rec_rated_source")?;
    let mut out: HashMap<String, Vec<(i64, f64)>> = HashMap::new();
    for b in batches? {
        let u = b.column(0);
        let m = b.column(1).as_primitive::<Int64Type>();
        let r = b.column(2).as_primitive::<Float64Type>();
        for row in 0..b.num_rows() {
            if let (Some(user), false, false) = (str_key(u.as_ref(), row), m.is_null(row), r.is_null(row)) {
                out.entry(user).or_default().push((m.value(row), r.value(row)));
            }
        }
    }
    Ok(out)
}

/// Title and mood of every clustered film.
pub async fn films(ctx: &SessionContext, root: &StorageRoot) -> Result<HashMap<i64, (String, String)>> {
    let batches = read_table(ctx, root, "clustered_movies")
        .await?
        .select(vec![col("\"movieId\""), col("title"), col("mood")])?
        .collect()
        .await?;
    let mut out = HashMap::new();
    for b in &batches {
        let ids = cast(b.column(0), &DataType::Int64)?;
        let ids = ids.as_primitive::<Int64Type>();
        let titles = cast(b.column(1), &DataType::Utf8)?;
        let moods = cast(b.column(2), &DataType::Utf8)?;
        let (titles, moods) = (titles.as_string::<i32>(), moods.as_string::<i32>());
        for r in 0..b.num_rows() {
            out.insert(ids.value(r), (titles.value(r).to_string(), moods.value(r).to_string()));
        }
    }
    Ok(out)
}

/// `evaluate-recommender`: a per-user seeded split of the ratings stage 12
/// would train on, training on the rest with `params`, and every metric
/// beside the baselines. Nothing below the root changes (the work folder
/// is a staging folder, removed at the end).
pub async fn evaluate_recommender(
    cluster: &Cluster,
    root: &StorageRoot,
    holdout: f64,
    params: &Params,
) -> Result<Report> {
    if !(holdout > 0.0 && holdout < 0.9) {
        return Err(DataFusionError::Plan(format!(
            "--holdout {holdout}: must be in (0, 0.9)"
        )));
    }
    let staging = commit::new_staging_dir();
    let result = evaluate_in(cluster, root, holdout, params, &staging).await;
    commit::remove_staging(&cluster.ctx, root, &staging).await;
    result
}

async fn evaluate_in(
    cluster: &Cluster,
    root: &StorageRoot,
    holdout: f64,
    params: &Params,
    staging: &str,
) -> Result<Report> {
    let source = source(&cluster.ctx, root).await?;
    let work = root.join(&format!("{staging}/_als"));
    let trainer = Trainer::new(cluster, work.clone());
    trainer
        .register_location(
            "source",
            &format!("{}/", root.join(&format!("curated/{}", source.table))),
        )
        .await?;
    trainer.split(&source.select, holdout, params.seed, true).await?;
    // Every rating trains: the split is the holdout.
    let params = Params {
        validation: 0.0,
        ..params.clone()
    };
    let fit = trainer.fit(&params).await?;
    let info = ModelInfo {
        params: params.clone(),
        blend: DEFAULT_BLEND,
        global_mean: fit.global_mean,
        iterations: fit.history.clone(),
        validation_rmse: None,
        validation_pairs: 0,
        validation_ratings: 0,
        ratings: fit.counts.0,
        users: fit.counts.1,
        items: fit.counts.2,
        source: source.table.clone(),
        jobs: fit.jobs,
        seconds: 0.0,
    };
    let (ctx, work) = (&cluster.ctx, &work);
    let read = |dir: String| async move {
        ctx.read_parquet(format!("{work}/{dir}/").as_str(), ParquetReadOptions::default())
            .await?
            .collect()
            .await
    };
    let items = read_vectors(&read(fit.items_dir.clone()).await?, "movieId", params.rank, int_key)?;
    let users = read_vectors(&read(fit.users_dir.clone()).await?, "userId", params.rank, str_key)?;
    let factors = Factors::new(info, items, users);
    let train = ratings(&read("train".into()).await?);
    let test = ratings(&read("holdout".into()).await?);
    Ok(report(&factors, &train, &test, holdout, params.seed))
}

fn ratings(batches: &[datafusion::arrow::record_batch::RecordBatch]) -> Vec<Rating> {
    let mut out = Vec::new();
    for b in batches {
        let (Some(u), Some(m), Some(r)) = (
            b.column_by_name("userId"),
            b.column_by_name("movieId")
                .and_then(|c| c.as_primitive_opt::<Int64Type>()),
            b.column_by_name("rating")
                .and_then(|c| c.as_primitive_opt::<Float64Type>()),
        ) else {
            continue;
        };
        for row in 0..b.num_rows() {
            if let Some(user) = str_key(u.as_ref(), row) {
                out.push(Rating {
                    user,
                    item: m.value(row),
                    rating: r.value(row),
                });
            }
        }
    }
    out
}

/// One recommended film.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Recommendation {
    /// 1-based position.
    pub rank: usize,
    /// MovieLens id.
    pub movie_id: i64,
    /// Title.
    pub title: String,
    /// Its mood (stage 05's label), empty when it has none.
    pub mood: String,
    /// The ranking score.
    pub score: f64,
    /// Predicted rating, 0.5..5.
    pub predicted: f64,
    /// Up to two films the user liked that are most like it.
    pub because: Vec<String>,
}

/// The one mood label that `name` names: equal ignoring case, else the
/// only label that contains it; an error listing the labels otherwise.
pub fn resolve_mood<'a>(name: &str, labels: impl IntoIterator<Item = &'a str>) -> Result<String, String> {
    let mut labels: Vec<&str> = labels.into_iter().collect();
    labels.sort_unstable();
    labels.dedup();
    let wanted = name.trim().to_lowercase();
    if let Some(l) = labels.iter().find(|l| l.to_lowercase() == wanted) {
        return Ok(l.to_string());
    }
    let matching: Vec<&&str> = labels.iter().filter(|l| l.to_lowercase().contains(&wanted)).collect();
    match matching.as_slice() {
        [one] => Ok(one.to_string()),
        [] => Err(format!("no mood called '{name}'; the moods are: {}", labels.join("; "))),
        many => Err(format!(
            "'{name}' names several moods: {}",
            many.iter().map(|l| l.to_string()).collect::<Vec<_>>().join("; ")
        )),
    }
}

/// The `n` best films for a user with vectors `user` who rated `rated`,
/// within `mood` when given; never a film they rated.
pub fn recommend_for(
    factors: &Factors,
    films: &HashMap<i64, (String, String)>,
    user: &moodflow_ml::recommender::model::Vectors,
    rated: &[(i64, f64)],
    mood: Option<&str>,
    n: usize,
) -> Vec<Recommendation> {
    let seen: std::collections::HashSet<i64> = rated.iter().map(|(m, _)| *m).collect();
    // "Liked" is rated 4 or more; someone who rated nothing that high is
    // explained by their best-rated films.
    let mut liked: Vec<i64> = rated.iter().filter(|(_, r)| *r >= 4.0).map(|(m, _)| *m).collect();
    if liked.is_empty() {
        let best = rated.iter().map(|(_, r)| *r).fold(f64::NEG_INFINITY, f64::max);
        liked = rated.iter().filter(|(_, r)| *r >= best).map(|(m, _)| *m).collect();
    }
    let allowed = |id: i64| match mood {
        Some(m) => films.get(&id).is_some_and(|(_, fm)| fm == m),
        None => films.contains_key(&id),
    };
    factors
        .recommend(user, &seen, allowed, n)
        .into_iter()
        .enumerate()
        .map(|(i, (id, score))| {
            let (title, mood) = films.get(&id).cloned().unwrap_or_default();
            Recommendation {
                rank: i + 1,
                movie_id: id,
                title,
                mood,
                score,
                predicted: factors.predict(Some(user), id).0,
                because: factors
                    .because(id, &liked, 2)
                    .into_iter()
                    .filter_map(|l| films.get(&l).map(|(t, _)| t.clone()))
                    .collect(),
            }
        })
        .collect()
}

/// "because you liked *A* and *B*", or an empty string.
pub fn reason(because: &[String]) -> String {
    match because {
        [] => String::new(),
        [a] => format!("because you liked {a}"),
        [a, rest @ ..] => format!("because you liked {a} and {}", rest.join(" and ")),
    }
}

/// Reads a `userId,movieId` CSV (header required); an error names the
/// file and line of the first bad row.
pub fn read_pairs(text: &str, file: &str) -> Result<Vec<(String, i64)>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| format!("{file}: {e}"))?.clone();
    let find = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(u), Some(m)) = (find("userId"), find("movieId")) else {
        return Err(format!(
            "{file}:1: the header must name userId and movieId, got '{}'",
            headers.iter().collect::<Vec<_>>().join(",")
        ));
    };
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| format!("{file}: {e}"))?;
        let line = record.position().map_or(0, |p| p.line());
        let user = record.get(u).unwrap_or("");
        let movie = record.get(m).unwrap_or("");
        if user.is_empty() {
            return Err(format!("{file}:{line}: empty userId"));
        }
        let movie: i64 = movie
            .parse()
            .map_err(|_| format!("{file}:{line}: movieId '{movie}' is not a whole number"))?;
        out.push((moodflow_ml::recommender::model::user_id(user), movie));
    }
    Ok(out)
}

/// The namespaced user ids of a CSV's `userId` column.
pub fn read_user_ids(text: &str, file: &str) -> Result<Vec<String>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let column = reader
        .headers()
        .map_err(|e| format!("{file}: {e}"))?
        .iter()
        .position(|h| h.eq_ignore_ascii_case("userId"))
        .ok_or_else(|| format!("{file}:1: no userId column"))?;
    let mut ids = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| format!("{file}: {e}"))?;
        match record.get(column) {
            Some(u) if !u.is_empty() => ids.push(moodflow_ml::recommender::model::user_id(u)),
            _ => {
                let line = record.position().map_or(0, |p| p.line());
                return Err(format!("{file}:{line}: empty userId"));
            }
        }
    }
    Ok(ids)
}

/// `predict`: `userId,movieId,prediction,basis` for every pair, in input
/// order; `basis` says which fallback an unknown user or film got.
pub fn predict_csv(factors: &Factors, pairs: &[(String, i64)]) -> Result<String, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| e.to_string();
    w.write_record(["userId", "movieId", "prediction", "basis"])
        .map_err(io)?;
    for (user, movie) in pairs {
        let (p, basis) = factors.predict(factors.users.get(user), *movie);
        w.write_record([user.as_str(), &movie.to_string(), &format!("{p:.4}"), basis.as_str()])
            .map_err(io)?;
    }
    String::from_utf8(w.into_inner().map_err(|e| e.to_string())?).map_err(|e| e.to_string())
}

/// Recommendations of several users as one batch: `userId, rank, movieId,
/// title, mood, score`, and `because` unless `csv_columns` (the CSV format
/// keeps to the documented six columns).
pub fn recommendations_batch(
    lists: &[(String, Vec<Recommendation>)],
    csv_columns: bool,
) -> Result<datafusion::arrow::record_batch::RecordBatch> {
    use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
    use std::sync::Arc;
    let rows = lists.iter().flat_map(|(u, l)| l.iter().map(move |r| (u, r)));
    let users: StringArray = rows.clone().map(|(u, _)| Some(u.as_str())).collect();
    let ranks: Int64Array = rows.clone().map(|(_, r)| Some(r.rank as i64)).collect();
    let movies: Int64Array = rows.clone().map(|(_, r)| Some(r.movie_id)).collect();
    let titles: StringArray = rows.clone().map(|(_, r)| Some(r.title.as_str())).collect();
    let moods: StringArray = rows.clone().map(|(_, r)| Some(r.mood.as_str())).collect();
    let scores: Float64Array = rows.clone().map(|(_, r)| Some((r.score * 1e4).round() / 1e4)).collect();
    let mut columns: Vec<(&str, ArrayRef)> = vec![
        ("userId", Arc::new(users)),
        ("rank", Arc::new(ranks)),
        ("movieId", Arc::new(movies)),
        ("title", Arc::new(titles)),
        ("mood", Arc::new(moods)),
        ("score", Arc::new(scores)),
    ];
    if !csv_columns {
        let because: StringArray = rows.map(|(_, r)| Some(reason(&r.because))).collect();
        columns.push(("because", Arc::new(because)));
    }
    Ok(datafusion::arrow::record_batch::RecordBatch::try_from_iter(columns)?)
}
