//! moodflow's SQL functions (scalar UDFs and the recommender's aggregates), the DataFusion way (each struct owns its
//! `Signature`, handles arrays and scalars, null in null out), with no
//! dependency but DataFusion and Unicode normalisation:
//!
//! - [`vader`]: a faithful port of Python `vaderSentiment` 3.3.2 and its SQL
//!   UDFs `vader_compound` and `vader_scores`;
//! - [`mood`]: moodflow's own mood lexicon (valence and energy of the words
//!   VADER does not know) and its UDF `mood_scores`;
//! - [`text`]: `normalize_text`, `release_year`, `title_without_year`,
//!   `title_key`, `title_alt_keys`, `json_names`;
//! - [`ids`]: `namespaced_id`, the unified ratings' user ids (`ml:12`);
//! - [`als`]: the recommender's alternating least squares inside SQL: the
//!   aggregates `als_solve` and `als_gram`, and `als_init`, `als_dot`,
//!   `split_unit`.
//!
//! [`scalar_udfs`] and [`aggregate_udfs`] list them all; the engine's
//! session builder registers them (once) on every session.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};

pub mod als;
pub mod ids;
pub mod mood;
mod string_udf;
pub mod text;
pub mod vader;

use als::udf::{AlsDot, AlsGram, AlsInit, AlsSolve, SplitUnit};
use ids::NamespacedId;
use mood::udf::MoodScores;
use text::{JsonNames, NormalizeText, ReleaseYear, TitleAltKeys, TitleKey, TitleWithoutYear};
use vader::udf::{VaderCompound, VaderScores};

/// Every scalar UDF moodflow adds to SQL.
pub fn scalar_udfs() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::new_from_impl(VaderCompound::default())),
        Arc::new(ScalarUDF::new_from_impl(VaderScores::default())),
        Arc::new(ScalarUDF::new_from_impl(MoodScores::default())),
        Arc::new(ScalarUDF::new_from_impl(NormalizeText::default())),
        Arc::new(ScalarUDF::new_from_impl(ReleaseYear::default())),
        Arc::new(ScalarUDF::new_from_impl(TitleWithoutYear::default())),
        Arc::new(ScalarUDF::new_from_impl(TitleKey::default())),
        Arc::new(ScalarUDF::new_from_impl(TitleAltKeys::default())),
        Arc::new(ScalarUDF::new_from_impl(JsonNames::default())),
        Arc::new(ScalarUDF::new_from_impl(NamespacedId::default())),
        Arc::new(ScalarUDF::new_from_impl(AlsInit::default())),
        Arc::new(ScalarUDF::new_from_impl(AlsDot::default())),
        Arc::new(ScalarUDF::new_from_impl(SplitUnit::default())),
    ]
}

/// Every aggregate function moodflow adds to SQL.
pub fn aggregate_udfs() -> Vec<Arc<AggregateUDF>> {
    vec![
        Arc::new(AggregateUDF::new_from_impl(AlsSolve::default())),
        Arc::new(AggregateUDF::new_from_impl(AlsGram::default())),
    ]
}

/// Registers moodflow's UDFs on any function registry (a context, a state,
/// or the registry an executor decodes plans with).
pub fn register_udfs(registry: &mut dyn FunctionRegistry) -> Result<()> {
    for udf in scalar_udfs() {
        registry.register_udf(udf)?;
    }
    for udaf in aggregate_udfs() {
        registry.register_udaf(udaf)?;
    }
    Ok(())
}
