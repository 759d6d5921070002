//! Stage 05's work: read `nf_features`, write the compact copy the passes
//! iterate over, choose k, label the moods and project the movies.
//!
//! The client reads the features once (one row of 23 doubles per movie: a
//! few MB even for the largest MovieLens release) because it seeds on a
//! sample of them and computes the plot projection; every pass over the data
//! runs on the executors.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Float64Builder, Int32Array, Int64Array, ListBuilder, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result};
use datafusion::functions_aggregate::expr_fn::{avg, stddev_pop};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{col, ParquetReadOptions, SessionContext};

use super::driver::{sample, Params, Passes};
use super::model::{label_moods, principal_components, KSummary, Model, Scaling, FEATURE_NAMES};
use moodflow_engine::session::{local_context, session_config, Cluster};
use moodflow_engine::storage::StorageRoot;

/// The features of every movie, ordered by `movieId`.
#[derive(Debug, Clone, Default)]
pub struct FeatureTable {
    /// Movie ids, ascending.
    pub ids: Vec<i64>,
    /// Titles.
    pub titles: Vec<String>,
    /// Standardised feature vectors.
    pub points: Vec<Vec<f64>>,
    /// How each feature was standardised.
    pub scaling: Vec<Scaling>,
    /// Each movie's position in the mood space and its confidence:
    /// (valence, energy, confidence), raw units.
    pub positions: Vec<(f64, f64, f64)>,
}

fn exec_err(msg: String) -> DataFusionError {
    DataFusionError::Execution(format!("stage 05 train_kmeans: {msg}"))
}

/// Reads `curated/nf_features` below `root`.
pub async fn load_features(ctx: &SessionContext, root: &StorageRoot) -> Result<FeatureTable> {
    let location = format!("{}/", root.join("curated/nf_features"));
    let df = ctx
        .read_parquet(location.as_str(), ParquetReadOptions::default())
        .await
        .map_err(|e| exec_err(format!("cannot read {location}: {e}")))?;
    let stats: Vec<_> = FEATURE_NAMES
        .iter()
        .flat_map(|n| {
            [
                avg(col(*n)).alias(format!("mean_{n}")),
                stddev_pop(col(*n)).alias(format!("std_{n}")),
            ]
        })
        .collect();
    let stat_batches = df.clone().aggregate(vec![], stats)?.collect().await?;
    let rows = df
        .select(vec![
            col("\"movieId\""),
            col("title"),
            col("features"),
            col("valence"),
            col("energy"),
            col("confidence"),
        ])?
        .sort(vec![col("\"movieId\"").sort(true, false)])?
        .collect()
        .await?;
    let mut table = FeatureTable::default();
    if let Some(b) = stat_batches.first() {
        for (i, name) in FEATURE_NAMES.iter().enumerate() {
            let value = |c: usize| {
                let a = cast(b.column(c), &DataType::Float64).ok()?;
                let a = a.as_primitive::<Float64Type>();
                (!a.is_null(0)).then(|| a.value(0))
            };
            table.scaling.push(Scaling {
                name: (*name).to_string(),
                mean: value(2 * i).unwrap_or(0.0),
                std: value(2 * i + 1).unwrap_or(0.0),
                weight: 1.0,
            });
        }
    }
    for batch in &rows {
        let ids = cast(batch.column(0), &DataType::Int64)?;
        let ids = ids.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        let titles = cast(batch.column(1), &DataType::Utf8)?;
        let titles = titles.as_string::<i32>();
        let position: Vec<Float64Array> = (3..6)
            .map(|c| {
                let a = cast(batch.column(c), &DataType::Float64)?;
                Ok(a.as_primitive::<Float64Type>().clone())
            })
            .collect::<Result<_>>()?;
        let features = batch
            .column(2)
            .as_list_opt::<i32>()
            .ok_or_else(|| exec_err("features is not a list".into()))?;
        for r in 0..batch.num_rows() {
            if features.is_null(r) {
                return Err(exec_err(format!("movie {} has null features", ids.value(r))));
            }
            let v = features.value(r);
            let v = v
                .as_primitive_opt::<Float64Type>()
                .ok_or_else(|| exec_err("features are not doubles".into()))?;
            if v.len() != FEATURE_NAMES.len() || v.null_count() > 0 {
                return Err(exec_err(format!(
                    "movie {} has {} features, expected {} without nulls",
                    ids.value(r),
                    v.len(),
                    FEATURE_NAMES.len()
                )));
            }
            table.ids.push(ids.value(r));
            table.titles.push(titles.value(r).to_string());
            table.points.push(v.values().to_vec());
            let at = |c: usize| (!position[c].is_null(r)).then(|| position[c].value(r));
            table
                .positions
                .push((at(0).unwrap_or(0.0), at(1).unwrap_or(0.0), at(2).unwrap_or(0.0)));
        }
    }
    // Stage 04 weighs each standardised feature (`mood_weight_*`); the
    // weight is the spread of its column in feature space.
    let n = table.points.len().max(1) as f64;
    for (i, scaling) in table.scaling.iter_mut().enumerate() {
        let mean = table.points.iter().map(|p| p[i]).sum::<f64>() / n;
        let var = table.points.iter().map(|p| (p[i] - mean).powi(2)).sum::<f64>() / n;
        if scaling.std > 0.0 {
            scaling.weight = (var.sqrt() * 1e9).round() / 1e9;
        }
    }
    Ok(table)
}

fn compact_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("movieId", DataType::Int64, false),
        Field::new(
            "features",
            DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true))),
            false,
        ),
    ]))
}

/// Encodes batches as one Parquet file.
pub fn parquet_bytes(schema: SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut buf, schema, None)?;
    for b in batches {
        writer.write(b)?;
    }
    writer.close()?;
    Ok(buf)
}

/// Writes the compact copy as `partitions` files of consecutive movies
/// below `rel` and returns their locations, in order.
pub async fn write_compact_copy(
    ctx: &SessionContext,
    root: &StorageRoot,
    rel: &str,
    table: &FeatureTable,
    partitions: usize,
) -> Result<Vec<String>> {
    let n = table.ids.len();
    let mut files = Vec::new();
    for p in 0..partitions.max(1) {
        let (lo, hi) = (p * n / partitions.max(1), (p + 1) * n / partitions.max(1));
        let mut features = ListBuilder::new(Float64Builder::new());
        for point in &table.points[lo..hi] {
            features.append_value(point.iter().map(|v| Some(*v)));
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(table.ids[lo..hi].to_vec())),
            Arc::new(features.finish()),
        ];
        let batch = RecordBatch::try_new(compact_schema(), columns)?;
        let name = format!("{rel}/part-{p:03}.parquet");
        root.write_file(&ctx.runtime_env(), &name, parquet_bytes(compact_schema(), &[batch])?)
            .await?;
        files.push(root.join(&name));
    }
    Ok(files)
}

/// The Parquet scan of the compact copy: one partition per file, in order,
/// so a pass sums its partials the same way on any cluster.
pub async fn compact_scan(files: &[String]) -> Result<Arc<dyn ExecutionPlan>> {
    let mut config = session_config(&[])?.with_target_partitions(files.len().max(1));
    config.options_mut().optimizer.repartition_file_scans = false;
    let ctx = local_context(config)?;
    ctx.read_parquet(files.to_vec(), ParquetReadOptions::default())
        .await?
        .select_columns(&["movieId", "features"])?
        .create_physical_plan()
        .await
}

/// What training produced.
#[derive(Debug, Clone)]
pub struct Trained {
    /// The model for `model.json`.
    pub model: Model,
    /// `clustered_movies`: movieId, title, cluster, mood, valence, energy,
    /// confidence, distance, x, y.
    pub clustered: RecordBatch,
}

/// The schema of `clustered_movies`.
pub fn clustered_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("movieId", DataType::Int64, false),
        Field::new("title", DataType::Utf8, false),
        Field::new("cluster", DataType::Int32, false),
        Field::new("mood", DataType::Utf8, false),
        Field::new("valence", DataType::Float64, false),
        Field::new("energy", DataType::Float64, false),
        Field::new("confidence", DataType::Float64, false),
        Field::new("distance", DataType::Float64, false),
        Field::new("x", DataType::Float64, false),
        Field::new("y", DataType::Float64, false),
    ]))
}

/// Trains on `root`'s `nf_features`: writes the compact copy below
/// `work_rel` (the caller removes it), fits every k of the range on
/// `cluster` and returns the model and the clustered movies.
pub async fn train(
    cluster: &Cluster,
    root: &StorageRoot,
    work_rel: &str,
    params: &Params,
    partitions: usize,
) -> Result<Trained> {
    let reader = local_context(session_config(&[])?)?;
    let table = load_features(&reader, root).await?;
    if table.points.len() < params.k_max {
        return Err(exec_err(format!(
            "{} featured movies cannot make {} clusters",
            table.points.len(),
            params.k_max
        )));
    }
    let files = write_compact_copy(&reader, root, work_rel, &table, partitions).await?;
    let passes = Passes::new(cluster, compact_scan(&files).await?, "movieId", "features");
    let seed_sample = sample(&table.points, params.sample_size, params.seed);
    let (fits, _) = passes.select(&seed_sample, params).await?;
    let labelled: Vec<crate::moods::LabelledFit> = fits
        .iter()
        .map(|f| {
            (
                f.k,
                f.silhouette,
                label_moods(&f.centroids.rows(), &f.sizes, &table.scaling),
            )
        })
        .collect();
    let (best, selection) = crate::moods::choose_k(&labelled);
    let chosen = &fits[best];
    let centroids = chosen.centroids.rows();
    let moods = labelled[best].2.clone();
    let projection = principal_components(&table.points);

    let mut cluster_col = Vec::with_capacity(table.ids.len());
    let mut mood_col = Vec::with_capacity(table.ids.len());
    let mut distance = Vec::with_capacity(table.ids.len());
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for p in &table.points {
        let (c, d2) = chosen.centroids.nearest(p);
        cluster_col.push(c as i32);
        mood_col.push(moods[c].label.clone());
        distance.push(d2.sqrt());
        let xy = projection.project(p);
        xs.push(xy.first().copied().unwrap_or(0.0));
        ys.push(xy.get(1).copied().unwrap_or(0.0));
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(table.ids.clone())),
        Arc::new(StringArray::from(table.titles.clone())),
        Arc::new(Int32Array::from(cluster_col)),
        Arc::new(StringArray::from(mood_col)),
        Arc::new(Float64Array::from_iter_values(table.positions.iter().map(|p| p.0))),
        Arc::new(Float64Array::from_iter_values(table.positions.iter().map(|p| p.1))),
        Arc::new(Float64Array::from_iter_values(table.positions.iter().map(|p| p.2))),
        Arc::new(Float64Array::from(distance)),
        Arc::new(Float64Array::from(xs)),
        Arc::new(Float64Array::from(ys)),
    ];
    let clustered = RecordBatch::try_new(clustered_schema(), columns)?;
    let model = Model {
        k: chosen.k,
        selection,
        k_range: [params.k_min, params.k_max],
        seed: params.seed,
        max_iter: params.max_iter,
        tolerance: params.tolerance,
        iterations: chosen.iterations,
        points: table.points.len() as u64,
        jobs: passes.jobs(),
        features: table.scaling,
        centroids,
        moods,
        per_k: fits
            .iter()
            .map(|f| KSummary {
                k: f.k,
                cost: f.cost,
                silhouette: f.silhouette,
                iterations: f.iterations,
                converged: f.converged,
                sizes: f.sizes.clone(),
            })
            .collect(),
        projection,
        trained_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    Ok(Trained { model, clustered })
}
