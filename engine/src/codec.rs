//! The extension codecs: moodflow's own plan nodes and tables on the wire,
//! with Ballista's codecs kept in the chain for everything else (shuffle
//! writers and readers, cache nodes, file formats, and through them
//! DataFusion's default codecs).
//!
//! [`MoodflowPhysicalCodec`] ships the k-means operators, the raw-file
//! scan and the parallel Parquet sink from the client or scheduler to the
//! executors;
//! [`MoodflowLogicalCodec`] ships the raw tables in a logical plan from
//! the client to the scheduler, which plans their splits. Both are
//! installed by [`crate::session::session_config`] and by the scheduler's
//! and executor's roles, so every process can encode and decode them.
//!
//! A moodflow node is encoded as [`MAGIC`] followed by JSON. The magic
//! starts with a zero byte, which no protobuf message can start with (field
//! number 0 is invalid), so the two encodings can never be confused.
//! Floating-point values travel as their IEEE-754 bits, so a centroid is
//! identical on every executor.

use std::sync::Arc;

use ballista_core::serde::BallistaLogicalExtensionCodec;
use ballista_core::serde::BallistaPhysicalExtensionCodec;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::common::{internal_err, DataFusionError, Result};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use serde::{Deserialize, Serialize};

use crate::formats::exec::{RawScanExec, ScanSpec};
use crate::formats::table::{RawTable, TableSpec};
use crate::kmeans::exec::{AssignMode, AssignModel, KMeansAssignExec, KMeansMergeExec};
use crate::kmeans::math::{Centroids, SilhouetteStats};
use crate::sink::ParallelSinkExec;

/// Prefix of every moodflow node.
pub const MAGIC: &[u8] = b"\0moodflow/1\0";

/// Every moodflow plan node, as it travels.
#[derive(Debug, Serialize, Deserialize)]
enum WireNode {
    KMeansAssign {
        key_column: String,
        column: String,
        dim: usize,
        models: Vec<WireModel>,
    },
    KMeansMerge {
        ks: Vec<usize>,
        dim: usize,
    },
    RawScan(ScanSpec),
    /// A [`ParallelSinkExec`]: its `DataSinkExec` template (over an empty
    /// input) in DataFusion's own encoding, which carries the sink's
    /// folder, schema and Parquet options.
    ParallelSink {
        template: Vec<u8>,
        /// The reason column and the rejects' `DataSinkExec`, in the same
        /// encoding, when the rows are split (see [`crate::sink`]).
        #[serde(default)]
        rejects: Option<(String, Vec<u8>)>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct WireModel {
    centroids: Vec<u64>,
    silhouette: Option<WireStats>,
}

#[derive(Debug, Serialize, Deserialize)]
struct WireStats {
    counts: Vec<u64>,
    sums: Vec<u64>,
    sum_sq_norms: Vec<u64>,
}

fn bits(values: &[f64]) -> Vec<u64> {
    values.iter().map(|v| v.to_bits()).collect()
}

fn floats(bits: &[u64]) -> Vec<f64> {
    bits.iter().map(|b| f64::from_bits(*b)).collect()
}

fn to_wire(node: &dyn ExecutionPlan) -> Option<WireNode> {
    if let Some(assign) = node.downcast_ref::<KMeansAssignExec>() {
        let models = assign
            .models()
            .iter()
            .map(|m| WireModel {
                centroids: bits(m.centroids.values()),
                silhouette: match &m.mode {
                    AssignMode::Lloyd => None,
                    AssignMode::Silhouette(s) => Some(WireStats {
                        counts: s.counts.clone(),
                        sums: bits(&s.sums.concat()),
                        sum_sq_norms: bits(&s.sum_sq_norms),
                    }),
                },
            })
            .collect();
        return Some(WireNode::KMeansAssign {
            key_column: assign.key_column().to_string(),
            column: assign.column().to_string(),
            dim: assign.models().first().map_or(0, |m| m.centroids.dim()),
            models,
        });
    }
    if let Some(scan) = node.downcast_ref::<RawScanExec>() {
        return Some(WireNode::RawScan(scan.spec().clone()));
    }
    node.downcast_ref::<KMeansMergeExec>()
        .map(|merge| WireNode::KMeansMerge {
            ks: merge.ks().to_vec(),
            dim: merge.dim(),
        })
}

fn from_wire(node: WireNode, inputs: &[Arc<dyn ExecutionPlan>]) -> Result<Arc<dyn ExecutionPlan>> {
    let [input] = inputs else {
        return internal_err!("a moodflow plan node takes one input, got {}", inputs.len());
    };
    let input = Arc::clone(input);
    Ok(match node {
        WireNode::KMeansAssign {
            key_column,
            column,
            dim,
            models,
        } => {
            let models = models
                .into_iter()
                .map(|m| {
                    let centroids =
                        Centroids::from_values(dim, floats(&m.centroids)).map_err(DataFusionError::Internal)?;
                    let mode = match m.silhouette {
                        None => AssignMode::Lloyd,
                        Some(s) => AssignMode::Silhouette(SilhouetteStats {
                            counts: s.counts,
                            sums: floats(&s.sums).chunks(dim).map(<[f64]>::to_vec).collect(),
                            sum_sq_norms: floats(&s.sum_sq_norms),
                        }),
                    };
                    Ok(AssignModel { centroids, mode })
                })
                .collect::<Result<Vec<_>>>()?;
            Arc::new(KMeansAssignExec::new(input, key_column, column, models))
        }
        WireNode::KMeansMerge { ks, dim } => Arc::new(KMeansMergeExec::new(input, ks, dim)),
        WireNode::RawScan(spec) => Arc::new(RawScanExec::try_new(spec, input)?),
        WireNode::ParallelSink { .. } => return internal_err!("a parallel sink is decoded with the codec"),
    })
}

/// moodflow's nodes first, then Ballista's codec for the rest.
#[derive(Debug, Default)]
pub struct MoodflowPhysicalCodec {
    ballista: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for MoodflowPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match buf.strip_prefix(MAGIC) {
            Some(json) => {
                let node: WireNode = serde_json::from_slice(json)
                    .map_err(|e| DataFusionError::Internal(format!("cannot decode a moodflow plan node: {e}")))?;
                if let WireNode::ParallelSink { template, rejects } = &node {
                    let [input] = inputs else {
                        return internal_err!("a moodflow plan node takes one input, got {}", inputs.len());
                    };
                    let decode = |bytes| {
                        datafusion_proto::bytes::physical_plan_from_bytes_with_extension_codec(bytes, ctx, self)
                    };
                    let template = decode(template)?;
                    return Ok(Arc::new(match rejects {
                        Some((reason, rejects)) => ParallelSinkExec::try_new_with_rejects(
                            Arc::clone(input),
                            template,
                            reason,
                            decode(rejects)?,
                        )?,
                        None => ParallelSinkExec::try_new(Arc::clone(input), template)?,
                    }));
                }
                from_wire(node, inputs)
            }
            None => self.ballista.try_decode(buf, inputs, ctx, proto_converter),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        if let Some(sink) = node.downcast_ref::<ParallelSinkExec>() {
            let encode = |plan: &Arc<dyn ExecutionPlan>| {
                datafusion_proto::bytes::physical_plan_to_bytes_with_extension_codec(Arc::clone(plan), self)
                    .map(|b| b.to_vec())
            };
            let template = encode(sink.template())?;
            let rejects = match sink.rejects() {
                Some((reason, rejects)) => Some((reason.to_string(), encode(rejects)?)),
                None => None,
            };
            buf.extend_from_slice(MAGIC);
            return serde_json::to_writer(buf, &WireNode::ParallelSink { template, rejects })
                .map_err(|e| DataFusionError::Internal(format!("cannot encode a moodflow plan node: {e}")));
        }
        match to_wire(node.as_ref()) {
            Some(wire) => {
                buf.extend_from_slice(MAGIC);
                serde_json::to_writer(buf, &wire)
                    .map_err(|e| DataFusionError::Internal(format!("cannot encode a moodflow plan node: {e}")))
            }
            None => self.ballista.try_encode(node, buf, proto_converter),
        }
    }
}

/// Every moodflow table, as it travels in a logical plan.
#[derive(Debug, Serialize, Deserialize)]
enum WireTable {
    Raw(TableSpec),
}

/// moodflow's tables first, then Ballista's logical codec for the rest.
#[derive(Debug, Default)]
pub struct MoodflowLogicalCodec {
    ballista: BallistaLogicalExtensionCodec,
}

impl LogicalExtensionCodec for MoodflowLogicalCodec {
    fn try_decode(&self, buf: &[u8], inputs: &[LogicalPlan], ctx: &TaskContext) -> Result<Extension> {
        self.ballista.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        match buf.strip_prefix(MAGIC) {
            Some(json) => {
                let table: WireTable = serde_json::from_slice(json)
                    .map_err(|e| DataFusionError::Internal(format!("cannot decode moodflow table {table_ref}: {e}")))?;
                match table {
                    WireTable::Raw(spec) => Ok(Arc::new(RawTable::new(spec))),
                }
            }
            None => self.ballista.try_decode_table_provider(buf, table_ref, schema, ctx),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        match node.downcast_ref::<RawTable>() {
            Some(table) => {
                buf.extend_from_slice(MAGIC);
                serde_json::to_writer(buf, &WireTable::Raw(table.spec().clone()))
                    .map_err(|e| DataFusionError::Internal(format!("cannot encode moodflow table {table_ref}: {e}")))
            }
            None => self.ballista.try_encode_table_provider(table_ref, node, buf),
        }
    }

    fn try_decode_file_format(&self, buf: &[u8], ctx: &TaskContext) -> Result<Arc<dyn FileFormatFactory>> {
        self.ballista.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(&self, buf: &mut Vec<u8>, node: Arc<dyn FileFormatFactory>) -> Result<()> {
        self.ballista.try_encode_file_format(buf, node)
    }
}
