//! The physical extension codec: moodflow's own plan nodes on the wire,
//! with Ballista's codec kept in the chain for everything else (shuffle
//! writers and readers, and through it DataFusion's default codec).
//!
//! Installed on the client, the scheduler and every executor by
//! [`crate::session::session_config`], so a plan that carries a k-means
//! operator can be planned on one process and run on another.
//!
//! A moodflow node is encoded as [`MAGIC`] followed by JSON. The magic
//! starts with a zero byte, which no protobuf message can start with (field
//! number 0 is invalid), so the two encodings can never be confused.
//! Floating-point values travel as their IEEE-754 bits, so a centroid is
//! identical on every executor.

use std::sync::Arc;

use ballista_core::serde::BallistaPhysicalExtensionCodec;
use datafusion::common::{internal_err, DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use serde::{Deserialize, Serialize};

use crate::kmeans::exec::{AssignMode, KMeansAssignExec, KMeansMergeExec};
use crate::kmeans::math::{Centroids, SilhouetteStats};

/// Prefix of every moodflow node.
pub const MAGIC: &[u8] = b"\0moodflow/1\0";

/// Every moodflow plan node, as it travels.
#[derive(Debug, Serialize, Deserialize)]
enum WireNode {
    KMeansAssign {
        key_column: String,
        column: String,
        dim: usize,
        centroids: Vec<u64>,
        silhouette: Option<WireStats>,
    },
    KMeansMerge {
        k: usize,
        dim: usize,
    },
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
        let c = assign.centroids();
        let silhouette = match assign.mode() {
            AssignMode::Lloyd => None,
            AssignMode::Silhouette(s) => Some(WireStats {
                counts: s.counts.clone(),
                sums: bits(&s.sums.concat()),
                sum_sq_norms: bits(&s.sum_sq_norms),
            }),
        };
        return Some(WireNode::KMeansAssign {
            key_column: assign.key_column().to_string(),
            column: assign.column().to_string(),
            dim: c.dim(),
            centroids: bits(c.values()),
            silhouette,
        });
    }
    node.downcast_ref::<KMeansMergeExec>()
        .map(|merge| WireNode::KMeansMerge {
            k: merge.k(),
            dim: merge.dim(),
        })
}

fn from_wire(node: WireNode, inputs: &[Arc<dyn ExecutionPlan>]) -> Result<Arc<dyn ExecutionPlan>> {
    let [input] = inputs else {
        return internal_err!("a moodflow k-means node takes one input, got {}", inputs.len());
    };
    let input = Arc::clone(input);
    Ok(match node {
        WireNode::KMeansAssign {
            key_column,
            column,
            dim,
            centroids,
            silhouette,
        } => {
            let centroids = Centroids::from_values(dim, floats(&centroids)).map_err(DataFusionError::Internal)?;
            let mode = match silhouette {
                None => AssignMode::Lloyd,
                Some(s) => AssignMode::Silhouette(SilhouetteStats {
                    counts: s.counts,
                    sums: floats(&s.sums).chunks(dim).map(<[f64]>::to_vec).collect(),
                    sum_sq_norms: floats(&s.sum_sq_norms),
                }),
            };
            Arc::new(KMeansAssignExec::new(input, key_column, column, centroids, mode))
        }
        WireNode::KMeansMerge { k, dim } => Arc::new(KMeansMergeExec::new(input, k, dim)),
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
