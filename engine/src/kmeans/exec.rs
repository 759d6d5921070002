//! The two physical operators of a k-means pass.
//!
//! [`KMeansAssignExec`] runs once per input partition on the executors: it
//! reads the features and, for every model it carries (one set of centroids
//! per candidate k, so one scan serves every k still iterating), finds each
//! row's nearest centroid and emits one small batch of per-cluster partials
//! (see [`partials_schema`]). In a silhouette pass it also sums each row's
//! silhouette against the cluster statistics it carries. [`KMeansMergeExec`] takes every partition's partials (through a
//! `CoalescePartitionsExec`, which Ballista turns into a stage boundary) and
//! adds them up in the order of each partition's first row key (Ballista
//! renumbers a task's partitions, so the index is no identity). Ballista may
//! also give one task several files of the scan, which reassociates the
//! floating-point sums: results agree to ~1e-15 relative across cluster
//! shapes, and assignments are identical.
//!
//! Both operators carry everything they need (centroids, statistics) in the
//! plan node itself, so the extension codec ships them to the executors.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Float64Builder, Int32Array, Int64Array, ListArray, ListBuilder,
    StringArray, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{exec_err, internal_err, DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{
    Boundedness, ChildrenPropertiesMode, EmissionType, ReplaceChildrenOptions,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, InputDistributionRequirements, Partitioning,
    PlanProperties, SendableRecordBatchStream,
};
use futures::{StreamExt, TryStreamExt};

use super::math::{Centroids, ClusterPartial, FarPoint, Partials, SilhouetteStats};

/// `cluster` value of a row that carries a far point instead of a cluster.
const FAR_ROW: i32 = -1;
/// `cluster` value of a row that says which executor ran a partition.
const RAN_ON_ROW: i32 = -2;

/// The name an executor gives itself, carried in its session config so an
/// operator can tell where it ran (absent in the standalone executor).
#[derive(Debug, Clone)]
pub struct ExecutorName(pub String);

/// Which executor assigned which partition, and how many rows it read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RanOn {
    /// The partition's first row key (`i64::MAX` for an empty partition).
    pub first_key: i64,
    /// Executor name (`standalone` for the in-process one).
    pub executor: String,
    /// Rows assigned.
    pub rows: u64,
}

/// The schema of a partials batch. Every row but a provenance row names the
/// model (the index of a set of centroids in the pass) it belongs to in
/// `model`. A cluster row has `cluster >= 0`, the
/// first row key of its partition in `key`, and its count, vector sum, sum
/// of squared norms, cost and silhouette sum. A far point row
/// (`cluster = -1`) carries a point kept for re-seeding empty clusters: its
/// row key in `key`, its coordinates in `sum` and its squared distance in
/// `cost`. A provenance row (`cluster = -2`) says that the partition starting
/// at `key` was assigned by `executor`, over `count` rows.
pub fn partials_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("key", DataType::Int64, false),
        Field::new("model", DataType::Int32, false),
        Field::new("cluster", DataType::Int32, false),
        Field::new("count", DataType::UInt64, false),
        Field::new(
            "sum",
            DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true))),
            false,
        ),
        Field::new("sum_sq_norm", DataType::Float64, false),
        Field::new("cost", DataType::Float64, false),
        Field::new("silhouette", DataType::Float64, false),
        Field::new("executor", DataType::Utf8, true),
    ]))
}

/// Encodes one partition's partials (one [`Partials`] per model), and where
/// partitions ran, as a batch.
pub fn partials_to_batch(first_key: i64, models: &[Partials], ran_on: &[RanOn]) -> Result<RecordBatch> {
    let rows = models.iter().map(|p| p.clusters.len() + p.far.len()).sum::<usize>() + ran_on.len();
    let mut executor: Vec<Option<String>> = Vec::with_capacity(rows);
    let mut part = Vec::with_capacity(rows);
    let mut model = Vec::with_capacity(rows);
    let mut cluster = Vec::with_capacity(rows);
    let mut count = Vec::with_capacity(rows);
    let mut sum = ListBuilder::new(Float64Builder::new());
    let mut sum_sq = Vec::with_capacity(rows);
    let mut cost = Vec::with_capacity(rows);
    let mut sil = Vec::with_capacity(rows);
    for (m, p) in models.iter().enumerate() {
        let m = i32::try_from(m).map_err(|_| DataFusionError::Internal("k-means: too many models".into()))?;
        for (i, c) in p.clusters.iter().enumerate() {
            part.push(first_key);
            model.push(m);
            cluster.push(i as i32);
            count.push(c.count);
            sum.append_value(c.sum.iter().map(|v| Some(*v)));
            sum_sq.push(c.sum_sq_norm);
            cost.push(c.cost);
            sil.push(c.silhouette);
            executor.push(None);
        }
        for f in &p.far {
            part.push(f.key);
            model.push(m);
            cluster.push(FAR_ROW);
            count.push(0);
            sum.append_value(f.point.iter().map(|v| Some(*v)));
            sum_sq.push(0.0);
            cost.push(f.distance);
            sil.push(0.0);
            executor.push(None);
        }
    }
    for r in ran_on {
        part.push(r.first_key);
        model.push(-1);
        cluster.push(RAN_ON_ROW);
        count.push(r.rows);
        sum.append_value(std::iter::empty::<Option<f64>>());
        sum_sq.push(0.0);
        cost.push(0.0);
        sil.push(0.0);
        executor.push(Some(r.executor.clone()));
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(part)),
        Arc::new(Int32Array::from(model)),
        Arc::new(Int32Array::from(cluster)),
        Arc::new(UInt64Array::from(count)),
        Arc::new(sum.finish()),
        Arc::new(Float64Array::from(sum_sq)),
        Arc::new(Float64Array::from(cost)),
        Arc::new(Float64Array::from(sil)),
        Arc::new(StringArray::from(executor)),
    ];
    Ok(RecordBatch::try_new(partials_schema(), columns)?)
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| DataFusionError::Internal(format!("k-means partials: column {name} missing or mistyped")))
}

/// Decoded partials of one model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelParts {
    /// One [`Partials`] per source partition (without far points), sorted
    /// by the partition's first row key.
    pub parts: Vec<(i64, Partials)>,
    /// The far points of every partition.
    pub far: Vec<FarPoint>,
}

/// Decoded partials batches.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DecodedPartials {
    /// One entry per model of the pass, in the pass's order.
    pub models: Vec<ModelParts>,
    /// Where each partition was assigned, sorted.
    pub ran_on: Vec<RanOn>,
}

impl DecodedPartials {
    /// The smallest first row key of any partition (`i64::MAX` if none).
    pub fn first_key(&self) -> i64 {
        self.models
            .iter()
            .filter_map(|m| m.parts.first().map(|p| p.0))
            .min()
            .unwrap_or(i64::MAX)
    }
}

/// Decodes partials batches of a pass whose models have `ks[m]` clusters
/// each, all of dimension `dim`.
pub fn batches_to_partials(batches: &[RecordBatch], ks: &[usize], dim: usize) -> Result<DecodedPartials> {
    let mut by_partition: Vec<std::collections::BTreeMap<i64, Partials>> = vec![Default::default(); ks.len()];
    let mut far: Vec<Vec<FarPoint>> = vec![Vec::new(); ks.len()];
    let mut ran_on = Vec::new();
    for batch in batches {
        let part = column::<Int64Array>(batch, "key")?;
        let model = column::<Int32Array>(batch, "model")?;
        let cluster = column::<Int32Array>(batch, "cluster")?;
        let count = column::<UInt64Array>(batch, "count")?;
        let sum = column::<ListArray>(batch, "sum")?;
        let sum_sq = column::<Float64Array>(batch, "sum_sq_norm")?;
        let cost = column::<Float64Array>(batch, "cost")?;
        let sil = column::<Float64Array>(batch, "silhouette")?;
        let executor = column::<StringArray>(batch, "executor")?;
        for row in 0..batch.num_rows() {
            if cluster.value(row) == RAN_ON_ROW {
                ran_on.push(RanOn {
                    first_key: part.value(row),
                    executor: executor.value(row).to_string(),
                    rows: count.value(row),
                });
                continue;
            }
            let m = usize::try_from(model.value(row))
                .ok()
                .filter(|m| *m < ks.len())
                .ok_or_else(|| {
                    DataFusionError::Internal(format!(
                        "k-means partials: model {} out of range for {} models",
                        model.value(row),
                        ks.len()
                    ))
                })?;
            let k = ks[m];
            let values = sum.value(row);
            let vector: Vec<f64> = values.as_primitive::<Float64Type>().values().to_vec();
            if vector.len() != dim {
                return internal_err!("k-means partials: a vector of {} values, expected {dim}", vector.len());
            }
            match usize::try_from(cluster.value(row)) {
                Ok(c) if c < k => {
                    let p = by_partition[m]
                        .entry(part.value(row))
                        .or_insert_with(|| Partials::new(k, dim));
                    p.clusters[c].merge(&ClusterPartial {
                        count: count.value(row),
                        sum: vector,
                        sum_sq_norm: sum_sq.value(row),
                        cost: cost.value(row),
                        silhouette: sil.value(row),
                    });
                }
                Ok(c) => return internal_err!("k-means partials: cluster {c} out of range for k = {k}"),
                Err(_) => far[m].push(FarPoint {
                    distance: cost.value(row),
                    key: part.value(row),
                    point: vector,
                }),
            }
        }
    }
    ran_on.sort();
    Ok(DecodedPartials {
        models: by_partition
            .into_iter()
            .zip(far)
            .map(|(parts, far)| ModelParts {
                parts: parts.into_iter().collect(),
                far,
            })
            .collect(),
        ran_on,
    })
}

/// Merges each model's per-partition partials in the order of their first
/// row key: one [`Partials`] per model.
pub fn merge_in_order(decoded: &DecodedPartials, ks: &[usize], dim: usize) -> Vec<Partials> {
    decoded
        .models
        .iter()
        .zip(ks)
        .map(|(m, &k)| {
            let mut total = Partials::new(k, dim);
            for (_, p) in &m.parts {
                total.merge(p);
            }
            total.merge(&Partials {
                clusters: Vec::new(),
                far: m.far.clone(),
            });
            total
        })
        .collect()
}

/// What an assign pass computes besides the Lloyd partials.
#[derive(Debug, Clone, PartialEq)]
pub enum AssignMode {
    /// Lloyd partials only.
    Lloyd,
    /// Also each row's silhouette against these final-assignment statistics.
    Silhouette(SilhouetteStats),
}

/// One model of an assign pass: a set of centroids (one candidate k) and
/// what to compute for it.
#[derive(Debug, Clone, PartialEq)]
pub struct AssignModel {
    /// The centroids rows are assigned to.
    pub centroids: Centroids,
    /// Lloyd or silhouette.
    pub mode: AssignMode,
}

fn properties(schema: SchemaRef, partitions: usize) -> Arc<PlanProperties> {
    Arc::new(PlanProperties::new(
        EquivalenceProperties::new(schema),
        Partitioning::UnknownPartitioning(partitions),
        EmissionType::Final,
        Boundedness::Bounded,
    ))
}

/// Assigns the rows of each input partition to their nearest centroid of
/// every model and emits that partition's partials.
#[derive(Debug, Clone)]
pub struct KMeansAssignExec {
    input: Arc<dyn ExecutionPlan>,
    key_column: String,
    column: String,
    models: Vec<AssignModel>,
    properties: Arc<PlanProperties>,
}

impl KMeansAssignExec {
    /// An assign step over `input`'s `column` (a `list<double>` of the
    /// centroids' dimension, the same for every model); `key_column` is a
    /// unique `bigint` row key (the movie id) that orders partitions and
    /// breaks ties.
    pub fn new(
        input: Arc<dyn ExecutionPlan>,
        key_column: impl Into<String>,
        column: impl Into<String>,
        models: Vec<AssignModel>,
    ) -> Self {
        let partitions = input.properties().output_partitioning().partition_count();
        Self {
            input,
            key_column: key_column.into(),
            column: column.into(),
            models,
            properties: properties(partials_schema(), partitions),
        }
    }

    /// The row key column.
    pub fn key_column(&self) -> &str {
        &self.key_column
    }

    /// The features column.
    pub fn column(&self) -> &str {
        &self.column
    }

    /// The models rows are assigned to, in the order of their partials.
    pub fn models(&self) -> &[AssignModel] {
        &self.models
    }
}

impl DisplayAs for KMeansAssignExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let models: Vec<String> = self
            .models
            .iter()
            .map(|m| match m.mode {
                AssignMode::Lloyd => format!("{}:lloyd", m.centroids.k()),
                AssignMode::Silhouette(_) => format!("{}:silhouette", m.centroids.k()),
            })
            .collect();
        write!(
            f,
            "KMeansAssignExec: models=[{}], dim={}, column={}",
            models.join(", "),
            self.models.first().map_or(0, |m| m.centroids.dim()),
            self.column
        )
    }
}

impl ExecutionPlan for KMeansAssignExec {
    fn name(&self) -> &str {
        "KMeansAssignExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return internal_err!("KMeansAssignExec takes one child, got {}", children.len());
        }
        // Always recompute: Ballista hands each task a rebuilt child whose
        // partition count differs from the planned one.
        Ok(Arc::new(Self::new(
            children.swap_remove(0),
            self.key_column.clone(),
            self.column.clone(),
            self.models.clone(),
        )))
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, Arc::clone(&context))?;
        let columns = (
            input.schema().index_of(&self.key_column)?,
            input.schema().index_of(&self.column)?,
        );
        let models = self.models.clone();
        let executor = context
            .session_config()
            .get_extension::<ExecutorName>()
            .map_or_else(|| "standalone".to_string(), |n| n.0.clone());
        let out = futures::stream::once(async move {
            let mut partials: Vec<Partials> = models
                .iter()
                .map(|m| Partials::new(m.centroids.k(), m.centroids.dim()))
                .collect();
            let mut seen = Seen {
                rows: 0,
                first_key: i64::MAX,
            };
            let mut input = input;
            while let Some(batch) = input.try_next().await? {
                assign_batch(&batch, columns, &models, &mut partials, &mut seen)?;
            }
            let ran_on = RanOn {
                first_key: seen.first_key,
                executor,
                rows: seen.rows,
            };
            partials_to_batch(seen.first_key, &partials, &[ran_on])
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(partials_schema(), out)))
    }
}

/// Rows an assign task has read and the smallest key among them.
struct Seen {
    rows: u64,
    first_key: i64,
}

fn assign_batch(
    batch: &RecordBatch,
    (key_index, index): (usize, usize),
    models: &[AssignModel],
    partials: &mut [Partials],
    seen: &mut Seen,
) -> Result<()> {
    let dim = models.first().map_or(0, |m| m.centroids.dim());
    let keys = batch.column(key_index).as_primitive_opt::<Int64Type>().ok_or_else(|| {
        DataFusionError::Execution(format!(
            "k-means: key column is {}, expected bigint",
            batch.column(key_index).data_type()
        ))
    })?;
    let features = batch.column(index);
    let list = features.as_list_opt::<i32>().ok_or_else(|| {
        DataFusionError::Execution(format!(
            "k-means: features column is {}, expected list<double>",
            features.data_type()
        ))
    })?;
    // Each row's features are read in place from the list's one child
    // array (`list.value(i)` made an array, an allocation, per row).
    let all = list.values().as_primitive_opt::<Float64Type>().ok_or_else(|| {
        DataFusionError::Execution(format!(
            "k-means: features hold {}, expected double",
            list.values().data_type()
        ))
    })?;
    let offsets = list.value_offsets();
    for i in 0..list.len() {
        if keys.is_null(i) {
            return exec_err!("k-means: a row has a null key");
        }
        let key = keys.value(i);
        seen.rows += 1;
        seen.first_key = seen.first_key.min(key);
        if list.is_null(i) {
            return exec_err!("k-means: row {key} has null features");
        }
        let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
        let nulls = match all.null_count() {
            0 => 0,
            _ => (start..end).filter(|&j| all.is_null(j)).count(),
        };
        if end - start != dim || nulls > 0 {
            return exec_err!(
                "k-means: row {key} has {} non-null features of {}, expected {dim}",
                end - start - nulls,
                end - start
            );
        }
        let point = &all.values()[start..end];
        for (model, partials) in models.iter().zip(partials.iter_mut()) {
            let (cluster, d2) = model.centroids.nearest(point);
            partials.add(cluster, point, d2, key);
            if let AssignMode::Silhouette(stats) = &model.mode {
                partials.clusters[cluster].silhouette += stats.silhouette(point, cluster);
            }
        }
    }
    Ok(())
}

/// Adds up every partition's partials into one batch (partition 0).
#[derive(Debug, Clone)]
pub struct KMeansMergeExec {
    input: Arc<dyn ExecutionPlan>,
    ks: Vec<usize>,
    dim: usize,
    properties: Arc<PlanProperties>,
}

impl KMeansMergeExec {
    /// A merge of `input`'s partials for models of `ks[m]` clusters each,
    /// all of dimension `dim`.
    pub fn new(input: Arc<dyn ExecutionPlan>, ks: Vec<usize>, dim: usize) -> Self {
        Self {
            input,
            ks,
            dim,
            properties: properties(partials_schema(), 1),
        }
    }

    /// Number of clusters of each model.
    pub fn ks(&self) -> &[usize] {
        &self.ks
    }

    /// Dimension of the vectors.
    pub fn dim(&self) -> usize {
        self.dim
    }
}

impl DisplayAs for KMeansMergeExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "KMeansMergeExec: ks={:?}, dim={}", self.ks, self.dim)
    }
}

impl ExecutionPlan for KMeansMergeExec {
    fn name(&self) -> &str {
        "KMeansMergeExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        InputDistributionRequirements::new(vec![Distribution::SinglePartition])
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return internal_err!("KMeansMergeExec takes one child, got {}", children.len());
        }
        Ok(Arc::new(Self::new(children.swap_remove(0), self.ks.clone(), self.dim)))
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return internal_err!("KMeansMergeExec has one partition, asked for {partition}");
        }
        let inputs = self.input.properties().output_partitioning().partition_count();
        let streams = (0..inputs)
            .map(|p| self.input.execute(p, Arc::clone(&context)))
            .collect::<Result<Vec<_>>>()?;
        let (ks, dim) = (self.ks.clone(), self.dim);
        let out = futures::stream::once(async move {
            let batches: Vec<RecordBatch> = futures::stream::iter(streams).flatten().try_collect().await?;
            let decoded = batches_to_partials(&batches, &ks, dim)?;
            partials_to_batch(
                decoded.first_key(),
                &merge_in_order(&decoded, &ks, dim),
                &decoded.ran_on,
            )
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(partials_schema(), out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmeans::math::assign_all;

    #[test]
    fn partials_survive_a_batch_roundtrip() {
        let points = vec![vec![0.0, 1.0], vec![2.0, 3.0], vec![9.0, 9.0]];
        let c = Centroids::from_rows(&[vec![0.0, 0.0], vec![8.0, 8.0], vec![50.0, 50.0]]).expect("c");
        let p = assign_all(&points, &c);
        let ran_on = vec![RanOn {
            first_key: 0,
            executor: "e1".into(),
            rows: 3,
        }];
        let c2 = Centroids::from_rows(&[vec![0.0, 0.0], vec![8.0, 8.0]]).expect("c2");
        let p2 = assign_all(&points, &c2);
        let batch = partials_to_batch(0, &[p.clone(), p2.clone()], &ran_on).expect("batch");
        let back = batches_to_partials(&[batch], &[3, 2], 2).expect("decode");
        assert_eq!(merge_in_order(&back, &[3, 2], 2), vec![p, p2]);
        assert_eq!(back.ran_on, ran_on);
    }
}
