//! moodflow's scalar UDFs, the DataFusion way (each struct owns its
//! `Signature`, handles arrays and scalars, null in null out), with no
//! dependency but DataFusion and Unicode normalisation:
//!
//! - [`vader`]: a faithful port of Python `vaderSentiment` 3.3.2 and its SQL
//!   UDFs `vader_compound` and `vader_scores`;
//! - [`mood`]: moodflow's own mood lexicon (valence and energy of the words
//!   VADER does not know) and its UDF `mood_scores`;
//! - [`text`]: `normalize_text`, `release_year`, `title_without_year`,
//!   `title_key`, `title_alt_keys`, `json_names`.
//!
//! [`scalar_udfs`] lists them all; the engine's session builder registers
//! them (once) on every session.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::ScalarUDF;

pub mod mood;
mod string_udf;
pub mod text;
pub mod vader;

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
    ]
}

/// Registers moodflow's UDFs on any function registry (a context, a state,
/// or the registry an executor decodes plans with).
pub fn register_udfs(registry: &mut dyn FunctionRegistry) -> Result<()> {
    for udf in scalar_udfs() {
        registry.register_udf(udf)?;
    }
    Ok(())
}
