//! One pipeline run's outputs, read with DataFusion and held in memory: the
//! model, every clustered movie with its sentiment, features, tags,
//! description and rating statistics, and the status of every table.
//!
//! Only fixed SQL runs here; request parameters never reach a query (they
//! filter the in-memory rows in [`crate::views`]).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int64Type};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use moodflow_engine::{local_context, session_config, StorageRoot};
use moodflow_ml::kmeans::model::{Model, Mood};
use moodflow_ml::recommender::model::Factors;
use moodflow_udfs::text::normalize_text;

use crate::files::{has_parquet, list_files, FileInfo};

/// Where the model lives below the root.
pub const MODEL_FILE: &str = "models/kmeans_model/model.json";

/// Every table of the pipeline and the stage that writes it
/// (`01_etl_movielens`), from the pipeline's one catalogue.
pub fn tables() -> Vec<(String, String)> {
    moodflow_pipeline::catalog::tables()
        .into_iter()
        .map(|t| (t.name, t.stage))
        .collect()
}

/// Ratings of one movie from one source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceStats {
    /// `movielens` or `netflix`.
    pub source: String,
    /// Number of ratings.
    pub count: u64,
    /// Mean rating.
    pub mean: f64,
    /// Ratings per half star: index 0 is 0.5 stars, index 9 is 5 stars.
    pub stars: [u64; 10],
}

/// A film's place in the mood space, as stage 03 computed it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Position {
    /// -1 dark .. +1 light.
    pub valence: f64,
    /// -1 calm .. +1 intense.
    pub energy: f64,
    /// Share of the valence that comes from the film's own texts.
    pub confidence: f64,
    /// Share of the energy that comes from the film's own texts.
    pub energy_confidence: f64,
    /// The source that weighs most (`synopsis`, `tag`...) or `prior`.
    pub source: String,
}

/// One clustered movie.
#[derive(Debug, Clone)]
pub struct Movie {
    /// MovieLens id.
    pub id: i64,
    /// Title as MovieLens spells it, with its year.
    pub title: String,
    /// Title without the year.
    pub title_clean: String,
    /// `normalize_text` of the title, for search.
    pub search_key: String,
    /// Release year.
    pub year: Option<i32>,
    /// Genres (empty for "(no genres listed)").
    pub genres: Vec<String>,
    /// Mean VADER compound over the movie's text segments.
    pub compound: f64,
    /// Mean positive proportion.
    pub pos: f64,
    /// Mean neutral proportion.
    pub neu: f64,
    /// Mean negative proportion.
    pub neg: f64,
    /// VADER compound of the whole document at once.
    pub doc_compound: Option<f64>,
    /// Where the film sits in the mood space: valence, energy, their
    /// confidences and where the valence came from (stage 03).
    pub position: Position,
    /// Mean MovieLens rating.
    pub rating_mean: Option<f64>,
    /// MovieLens ratings.
    pub rating_count: u64,
    /// Damped mean rating, the playlists' ranking score.
    pub score: f64,
    /// Standardised feature vector.
    pub features: Vec<f64>,
    /// Cluster number.
    pub cluster: usize,
    /// Distance to the cluster's centroid.
    pub distance: f64,
    /// Plot coordinates.
    pub x: f64,
    /// Plot coordinates.
    pub y: f64,
    /// Distinct tags, most used first.
    pub tags: Vec<String>,
    /// Catalogue synopsis, when one matched.
    pub description: Option<String>,
    /// Rating statistics per source.
    pub sources: Vec<SourceStats>,
}

/// A mood and its movies.
#[derive(Debug, Clone)]
pub struct MoodEntry {
    /// The model's mood.
    pub mood: Mood,
    /// URL name: the label in lower case with `-` for anything else.
    pub slug: String,
    /// Indexes into [`Snapshot::movies`], best playlist score first (ties:
    /// more ratings, then lower id, as stage 06 ranks).
    pub ranked: Vec<usize>,
}

/// One table's state.
#[derive(Debug, Clone, PartialEq)]
pub struct TableStatus {
    /// Table name.
    pub name: String,
    /// The stage that writes it.
    pub stage: String,
    /// Rows, or `None` when the table is absent.
    pub rows: Option<u64>,
    /// Rows in `_rejects/<table>`, when that folder exists.
    pub rejects: Option<u64>,
    /// When its newest file was written (seconds since the epoch).
    pub written_at: Option<u64>,
}

/// Netflix titles bridged to MovieLens ids.
#[derive(Debug, Clone, PartialEq)]
pub struct BridgeStatus {
    /// Rows of `title_bridge`.
    pub bridged: u64,
    /// Rows of `nf_movies_meta`.
    pub titles: u64,
}

/// Everything the dashboard shows, from one pipeline run.
#[derive(Debug)]
pub struct Snapshot {
    /// The storage root it was read from.
    pub root: StorageRoot,
    /// The trained model.
    pub model: Model,
    /// Every clustered movie, by id.
    pub movies: Vec<Movie>,
    index: HashMap<i64, usize>,
    /// One entry per mood, in cluster order.
    pub moods: Vec<MoodEntry>,
    /// Every genre of the catalogue, sorted.
    pub genres: Vec<String>,
    /// Every table's state.
    pub tables: Vec<TableStatus>,
    /// The title bridge, when stages 07-08 ran.
    pub bridge: Option<BridgeStatus>,
    /// Mean of all ratings (the damping prior).
    pub global_mean: f64,
    /// Imaginary ratings at the global mean added to each movie's.
    pub damping: f64,
    /// The files this snapshot was read from (see [`fingerprint`]).
    pub fingerprint: Vec<FileInfo>,
    /// The recommender's film factors (stage 12), when it has run; users
    /// are read per request ([`crate::foryou`]).
    pub recommender: Option<Arc<Factors>>,
}

/// What a load found.
#[derive(Debug)]
pub enum Loaded {
    /// The pipeline has not produced the outputs yet; says what is missing.
    Empty(String),
    /// A complete run.
    Ready(Arc<Snapshot>),
}

/// The files whose change means a new run: the model and the tables the
/// dashboard reads. Staging folders are not included, so a run in progress
/// is seen only when it commits.
pub async fn fingerprint(root: &StorageRoot, runtime: &RuntimeEnv) -> Result<Vec<FileInfo>> {
    let (model, tables) = listing(root, runtime).await?;
    Ok(flatten(model, &tables))
}

/// The model's files and each table's files, in [`tables`] order.
async fn listing(root: &StorageRoot, runtime: &RuntimeEnv) -> Result<(Vec<FileInfo>, Vec<Vec<FileInfo>>)> {
    let mut model = list_files(root, runtime, "models/kmeans_model").await?;
    model.extend(list_files(root, runtime, moodflow_pipeline::recommender::MODEL_DIR).await?);
    let mut tables = Vec::new();
    for (table, _) in self::tables() {
        tables.push(list_files(root, runtime, &format!("curated/{table}")).await?);
    }
    Ok((model, tables))
}

fn flatten(model: Vec<FileInfo>, tables: &[Vec<FileInfo>]) -> Vec<FileInfo> {
    let mut all = model;
    all.extend(tables.iter().flatten().cloned());
    all
}

/// The label as a URL segment: "Dark Horror & Thriller" -> "dark-horror-thriller".
pub fn slug(label: &str) -> String {
    let mut out = String::new();
    for c in label.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

impl Snapshot {
    /// Reads a root's outputs. A root without a model or without the
    /// clustered movies is [`Loaded::Empty`]; outputs that contradict each
    /// other (a model and tables of different runs) are an error.
    pub async fn load(root: &StorageRoot, damping: f64) -> Result<Loaded> {
        let ctx = local_context(session_config(&[])?)?;
        // One listing serves the fingerprint, which tables exist and when
        // each was written.
        let (model_files, table_files) = listing(root, &ctx.runtime_env()).await?;
        let fingerprint = flatten(model_files, &table_files);
        let runtime = ctx.runtime_env();
        let Some(model_bytes) = root.read_file(&runtime, MODEL_FILE).await? else {
            return Ok(Loaded::Empty(format!(
                "no model at {}: the pipeline has not run on this root yet",
                root.join(MODEL_FILE)
            )));
        };
        let model: Model = serde_json::from_slice(&model_bytes)
            .map_err(|e| DataFusionError::Execution(format!("{}: {e}", root.join(MODEL_FILE))))?;
        let mut present = Vec::new();
        let all = tables();
        for ((table, _), files) in all.iter().zip(&table_files) {
            if has_parquet(files) {
                register(&ctx, root, table, &format!("curated/{table}")).await?;
                present.push(table.as_str());
            }
        }
        for needed in ["clustered_movies", "movielens_movies_with_sentiment", "nf_features"] {
            if !present.contains(&needed) {
                return Ok(Loaded::Empty(format!(
                    "no table at {}: the pipeline has not finished on this root",
                    root.join(&format!("curated/{needed}"))
                )));
            }
        }
        let mut movies = read_movies(&ctx, present.contains(&"movie_text")).await?;
        check_consistent(&movies, &model)?;
        let index: HashMap<i64, usize> = movies.iter().enumerate().map(|(i, m)| (m.id, i)).collect();
        if present.contains(&"movielens_tags") {
            read_tags(&ctx, &index, &mut movies).await?;
        }
        read_sources(&ctx, &present, &index, &mut movies).await?;
        let global_mean = global_mean(&ctx).await?;
        for m in &mut movies {
            m.score = damped(m.rating_mean, m.rating_count, global_mean, damping);
        }
        let moods = rank_moods(&model, &movies);
        let mut genres: Vec<String> = movies.iter().flat_map(|m| m.genres.iter().cloned()).collect();
        genres.sort();
        genres.dedup();
        let tables = table_status(&ctx, root, &present, &table_files).await?;
        let bridge = if present.contains(&"title_bridge") && present.contains(&"nf_movies_meta") {
            Some(BridgeStatus {
                bridged: count(&ctx, "title_bridge").await?,
                titles: count(&ctx, "nf_movies_meta").await?,
            })
        } else {
            None
        };
        // Factors of another run than the model's would be a film list of
        // another catalogue: both are committed by `moodflow run`, and a
        // film without factors simply has no personal score.
        let recommender = if present.contains(&"item_factors") {
            moodflow_pipeline::recommender::load_factors(&ctx, root, moodflow_pipeline::recommender::Users::Some(&[]))
                .await?
                .map(Arc::new)
        } else {
            None
        };
        Ok(Loaded::Ready(Arc::new(Snapshot {
            root: root.clone(),
            model,
            movies,
            index,
            moods,
            genres,
            tables,
            bridge,
            global_mean,
            damping,
            fingerprint,
            recommender,
        })))
    }

    /// A movie by id.
    pub fn movie(&self, id: i64) -> Option<&Movie> {
        self.index.get(&id).map(|&i| &self.movies[i])
    }

    /// A mood by slug, exact label or cluster number.
    pub fn mood(&self, name: &str) -> Option<&MoodEntry> {
        let by_number = name.parse::<usize>().ok();
        self.moods
            .iter()
            .find(|m| m.slug == name || m.mood.label == name || Some(m.mood.cluster) == by_number)
    }

    /// The mood of a cluster.
    pub fn mood_of(&self, cluster: usize) -> &MoodEntry {
        &self.moods[cluster]
    }
}

/// The damped (Bayesian) mean of stage 06: the movie's ratings plus
/// `damping` imaginary ratings at the global mean, rounded to 6 decimals as
/// stage 06 writes and ranks it. The global mean is a float sum whose last
/// bits depend on partitioning; ranking the rounded score keeps that noise
/// from ordering two films whose shown scores are equal. (`round(x, 6)` in
/// DataFusion is `(x * 1e6).round() / 1e6`, the same bits as here.)
pub fn damped(mean: Option<f64>, count: u64, global_mean: f64, damping: f64) -> f64 {
    let n = count as f64;
    let score = (damping * global_mean + mean.unwrap_or(0.0) * n) / (damping + n);
    (score * 1e6).round() / 1e6
}

async fn register(ctx: &SessionContext, root: &StorageRoot, table: &str, rel: &str) -> Result<()> {
    let location = format!("{}/", root.join(rel));
    ctx.register_parquet(table, location.as_str(), ParquetReadOptions::default())
        .await
}

async fn collect(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    ctx.sql(sql).await?.collect().await
}

async fn count(ctx: &SessionContext, table: &str) -> Result<u64> {
    let batches = collect(ctx, &format!("SELECT count(*) AS n FROM {table}")).await?;
    let mut n = 0;
    for b in &batches {
        if let Some(Some(v)) = column_i64(b, "n")?.first() {
            n = u64::try_from(*v).unwrap_or(0);
        }
    }
    Ok(n)
}

fn column(batch: &RecordBatch, name: &str, to: &DataType) -> Result<ArrayRef> {
    let col = batch
        .column_by_name(name)
        .ok_or_else(|| DataFusionError::Internal(format!("query result has no column {name}")))?;
    // A cast to the column's own type is free; Parquet may hand back
    // Utf8View or Int32 where the code wants Utf8 or Int64.
    cast(col, to).map_err(|e| DataFusionError::Execution(format!("column {name} is not {to}: {e}")))
}

fn column_i64(batch: &RecordBatch, name: &str) -> Result<Vec<Option<i64>>> {
    let a = column(batch, name, &DataType::Int64)?;
    Ok(a.as_primitive::<Int64Type>().iter().collect())
}

fn column_f64(batch: &RecordBatch, name: &str) -> Result<Vec<Option<f64>>> {
    let a = column(batch, name, &DataType::Float64)?;
    Ok(a.as_primitive::<Float64Type>().iter().collect())
}

fn column_str(batch: &RecordBatch, name: &str) -> Result<Vec<Option<String>>> {
    let a = column(batch, name, &DataType::Utf8)?;
    Ok(a.as_string::<i32>().iter().map(|s| s.map(str::to_string)).collect())
}

fn column_list<T>(
    batch: &RecordBatch,
    name: &str,
    item: DataType,
    f: impl Fn(&ArrayRef) -> Vec<T>,
) -> Result<Vec<Vec<T>>> {
    let a = column(
        batch,
        name,
        &DataType::List(Arc::new(Field::new_list_field(item, true))),
    )?;
    let list = a.as_list::<i32>();
    Ok((0..list.len())
        .map(|i| if list.is_null(i) { Vec::new() } else { f(&list.value(i)) })
        .collect())
}

/// The fixed query that joins a movie's cluster, sentiment and features.
const MOVIES_SQL: &str = r#"
SELECT c."movieId" AS id, s.title, s.title_clean, CAST(s.year AS BIGINT) AS year, s.genres,
       s.compound, s.pos, s.neu, s.neg, s.doc_compound,
       s.valence, s.energy, s.confidence, s.energy_confidence, s.tone_source,
       f.rating_mean, f.rating_count, f.features,
       c."cluster" AS cluster, c.mood, c.distance, c.x, c.y, DESCRIPTION
FROM clustered_movies c
JOIN movielens_movies_with_sentiment s ON s."movieId" = c."movieId"
JOIN nf_features f ON f."movieId" = c."movieId"
JOINS
ORDER BY c."movieId"
"#;

async fn read_movies(ctx: &SessionContext, with_text: bool) -> Result<Vec<Movie>> {
    let sql = if with_text {
        MOVIES_SQL
            .replace("DESCRIPTION", "t.description")
            .replace("JOINS", "LEFT JOIN movie_text t ON t.\"movieId\" = c.\"movieId\"")
    } else {
        MOVIES_SQL
            .replace("DESCRIPTION", "CAST(NULL AS VARCHAR) AS description")
            .replace("JOINS", "")
    };
    let mut movies = Vec::new();
    for b in collect(ctx, &sql).await? {
        let ids = column_i64(&b, "id")?;
        let titles = column_str(&b, "title")?;
        let clean = column_str(&b, "title_clean")?;
        let years = column_i64(&b, "year")?;
        let genres = column_list(&b, "genres", DataType::Utf8, |a| {
            a.as_string::<i32>().iter().flatten().map(str::to_string).collect()
        })?;
        let compound = column_f64(&b, "compound")?;
        let pos = column_f64(&b, "pos")?;
        let neu = column_f64(&b, "neu")?;
        let neg = column_f64(&b, "neg")?;
        let doc = column_f64(&b, "doc_compound")?;
        let valence = column_f64(&b, "valence")?;
        let energy = column_f64(&b, "energy")?;
        let confidence = column_f64(&b, "confidence")?;
        let energy_confidence = column_f64(&b, "energy_confidence")?;
        let tone_source = column_str(&b, "tone_source")?;
        let rmean = column_f64(&b, "rating_mean")?;
        let rcount = column_i64(&b, "rating_count")?;
        let features = column_list(&b, "features", DataType::Float64, |a| {
            a.as_primitive::<Float64Type>()
                .iter()
                .map(|v| v.unwrap_or(0.0))
                .collect()
        })?;
        let clusters = column_i64(&b, "cluster")?;
        let distance = column_f64(&b, "distance")?;
        let xs = column_f64(&b, "x")?;
        let ys = column_f64(&b, "y")?;
        let descriptions = column_str(&b, "description")?;
        for i in 0..b.num_rows() {
            let (Some(id), Some(cluster)) = (ids[i], clusters[i]) else {
                return Err(DataFusionError::Execution(format!(
                    "clustered_movies row {i}: null movieId or cluster"
                )));
            };
            let title = titles[i].clone().unwrap_or_default();
            let title_clean = clean[i].clone().unwrap_or_else(|| title.clone());
            movies.push(Movie {
                id,
                search_key: normalize_text(&title_clean),
                title,
                title_clean,
                year: years[i].and_then(|y| i32::try_from(y).ok()),
                genres: genres[i].clone(),
                compound: compound[i].unwrap_or(0.0),
                pos: pos[i].unwrap_or(0.0),
                neu: neu[i].unwrap_or(0.0),
                neg: neg[i].unwrap_or(0.0),
                doc_compound: doc[i],
                position: Position {
                    valence: valence[i].unwrap_or(0.0),
                    energy: energy[i].unwrap_or(0.0),
                    confidence: confidence[i].unwrap_or(0.0),
                    energy_confidence: energy_confidence[i].unwrap_or(0.0),
                    source: tone_source[i].clone().unwrap_or_else(|| "prior".into()),
                },
                rating_mean: rmean[i],
                rating_count: rcount[i].map_or(0, |n| u64::try_from(n).unwrap_or(0)),
                score: 0.0,
                features: features[i].clone(),
                cluster: usize::try_from(cluster).unwrap_or(usize::MAX),
                distance: distance[i].unwrap_or(0.0),
                x: xs[i].unwrap_or(0.0),
                y: ys[i].unwrap_or(0.0),
                tags: Vec::new(),
                description: descriptions[i].clone().filter(|d| !d.is_empty()),
                sources: Vec::new(),
            });
        }
    }
    Ok(movies)
}

fn check_consistent(movies: &[Movie], model: &Model) -> Result<()> {
    let dim = model.features.len();
    // The views index moods and centroid coordinates by cluster and feature.
    let well_formed = model.moods.len() == model.centroids.len()
        && model.moods.iter().enumerate().all(|(i, m)| m.cluster == i)
        && model.centroids.iter().all(|c| c.len() == dim);
    if !well_formed {
        return Err(DataFusionError::Execution(format!(
            "model.json is inconsistent: {} centroids, {} moods, {dim} features",
            model.centroids.len(),
            model.moods.len()
        )));
    }
    for m in movies {
        let mood = model.moods.get(m.cluster);
        if mood.is_none_or(|mood| mood.cluster != m.cluster) || m.features.len() != dim {
            return Err(DataFusionError::Execution(format!(
                "clustered_movies (movie {}, cluster {}) and model.json (k = {}, {} features) are from different runs",
                m.id, m.cluster, model.k, dim
            )));
        }
    }
    Ok(())
}

async fn read_tags(ctx: &SessionContext, index: &HashMap<i64, usize>, movies: &mut [Movie]) -> Result<()> {
    let sql = r#"SELECT "movieId" AS id, tag, count(*) AS n FROM movielens_tags
                 GROUP BY "movieId", tag ORDER BY "movieId", n DESC, tag"#;
    for b in collect(ctx, sql).await? {
        let ids = column_i64(&b, "id")?;
        let tags = column_str(&b, "tag")?;
        for (id, tag) in ids.into_iter().zip(tags) {
            if let (Some(&i), Some(tag)) = (id.and_then(|id| index.get(&id)), tag) {
                movies[i].tags.push(tag);
            }
        }
    }
    Ok(())
}

/// Star histograms per movie and source: `unified_ratings` (stage 09) when
/// it exists, MovieLens ratings otherwise.
async fn read_sources(
    ctx: &SessionContext,
    present: &[&str],
    index: &HashMap<i64, usize>,
    movies: &mut [Movie],
) -> Result<()> {
    let sql = if present.contains(&"unified_ratings") {
        r#"SELECT "movieId" AS id, source, rating, count(*) AS n FROM unified_ratings
           GROUP BY "movieId", source, rating ORDER BY source"#
    } else if present.contains(&"movielens_ratings") {
        r#"SELECT "movieId" AS id, 'movielens' AS source, rating, count(*) AS n FROM movielens_ratings
           GROUP BY "movieId", rating"#
    } else {
        return Ok(());
    };
    for b in collect(ctx, sql).await? {
        let ids = column_i64(&b, "id")?;
        let sources = column_str(&b, "source")?;
        let ratings = column_f64(&b, "rating")?;
        let ns = column_i64(&b, "n")?;
        for i in 0..b.num_rows() {
            let (Some(id), Some(source), Some(rating), Some(n)) = (ids[i], &sources[i], ratings[i], ns[i]) else {
                continue;
            };
            let Some(&m) = index.get(&id) else { continue };
            let sources = &mut movies[m].sources;
            let at = match sources.iter().position(|s| &s.source == source) {
                Some(at) => at,
                None => {
                    sources.push(SourceStats {
                        source: source.clone(),
                        count: 0,
                        mean: 0.0,
                        stars: [0; 10],
                    });
                    sources.len() - 1
                }
            };
            let s = &mut sources[at];
            let n = u64::try_from(n).unwrap_or(0);
            // Stage 01 admits only multiples of 0.5 in 0.5..=5.
            let bin = ((rating * 2.0).round() as usize).clamp(1, 10) - 1;
            s.stars[bin] += n;
            s.mean = (s.mean * s.count as f64 + rating * n as f64) / (s.count + n) as f64;
            s.count += n;
        }
    }
    Ok(())
}

async fn global_mean(ctx: &SessionContext) -> Result<f64> {
    // The same prior as stage 06, computed the same way.
    let sql = "SELECT sum(rating_mean * rating_count) / sum(rating_count) AS g FROM nf_features WHERE rating_count > 0";
    let batches = collect(ctx, sql).await?;
    let mut g = 0.0;
    for b in &batches {
        if let Some(Some(v)) = column_f64(b, "g")?.first() {
            g = *v;
        }
    }
    Ok(g)
}

fn rank_moods(model: &Model, movies: &[Movie]) -> Vec<MoodEntry> {
    let mut moods: Vec<MoodEntry> = model
        .moods
        .iter()
        .map(|mood| MoodEntry {
            mood: mood.clone(),
            slug: slug(&mood.label),
            ranked: Vec::new(),
        })
        .collect();
    for (i, m) in movies.iter().enumerate() {
        moods[m.cluster].ranked.push(i);
    }
    for entry in &mut moods {
        entry.ranked.sort_by(|&a, &b| {
            let (a, b) = (&movies[a], &movies[b]);
            b.score
                .total_cmp(&a.score)
                .then(b.rating_count.cmp(&a.rating_count))
                .then(a.id.cmp(&b.id))
        });
    }
    moods
}

async fn table_status(
    ctx: &SessionContext,
    root: &StorageRoot,
    present: &[&str],
    table_files: &[Vec<FileInfo>],
) -> Result<Vec<TableStatus>> {
    let runtime = ctx.runtime_env();
    let mut out = Vec::new();
    for ((table, stage), files) in tables().iter().zip(table_files) {
        let rows = if present.contains(&table.as_str()) {
            Some(count(ctx, table).await?)
        } else {
            None
        };
        let reject_rel = format!("curated/_rejects/{table}");
        let reject_files = list_files(root, &runtime, &reject_rel).await?;
        let rejects = if has_parquet(&reject_files) {
            let name = format!("rejects_{table}");
            register(ctx, root, &name, &reject_rel).await?;
            Some(count(ctx, &name).await?)
        } else if reject_files.is_empty() {
            None
        } else {
            Some(0)
        };
        out.push(TableStatus {
            name: table.clone(),
            stage: stage.clone(),
            rows,
            rejects,
            written_at: files.iter().map(|f| f.modified).max(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("Dark Horror & Thriller"), "dark-horror-thriller");
        assert_eq!(slug("Positive Sci-Fi (2)"), "positive-sci-fi-2");
        assert_eq!(slug("Neutral"), "neutral");
    }

    #[test]
    fn damped_mean_pulls_towards_the_prior() {
        assert_eq!(damped(Some(5.0), 0, 3.5, 10.0), 3.5);
        assert!((damped(Some(5.0), 10, 3.5, 10.0) - 4.25).abs() < 1e-12);
        assert!(damped(Some(5.0), 3, 3.5, 10.0) < damped(Some(4.5), 300, 3.5, 10.0));
    }
}
