//! The one place a moodflow DataFusion/Ballista session is built.
//!
//! Client, standalone mode, scheduler, executors and tests all call
//! [`session_config`] and [`session_state`], so every side has the same
//! UDFs, codecs and object stores. Ballista's `standalone_with_state` and
//! `remote_with_state` replace the scalar functions of the state they are
//! given with DataFusion's built-ins, so [`standalone_context`] and
//! [`remote_context`] register the UDFs again on the context they return.

use std::sync::Arc;

use ballista::prelude::SessionContextExt;
use ballista_core::extension::SessionConfigExt;
use datafusion::common::Result;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::storage::MoodflowObjectStores;
use crate::text::{NormalizeText, ReleaseYear, TitleKey, TitleWithoutYear};
use crate::vader::udf::{VaderCompound, VaderScores};

/// Stack size of every moodflow process's tokio workers. DataFusion's
/// planners and plans recurse deeply (a stage-02 plan overflows tokio's
/// default 2 MiB in an unoptimised build, in the client and the scheduler).
pub const WORKER_STACK_BYTES: usize = 32 << 20;

/// The multi-threaded runtime every moodflow binary and test runs on.
pub fn tokio_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .thread_stack_size(WORKER_STACK_BYTES)
        .enable_all()
        .build()
}

/// Every scalar UDF moodflow adds to SQL.
pub fn scalar_udfs() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::new_from_impl(VaderCompound::default())),
        Arc::new(ScalarUDF::new_from_impl(VaderScores::default())),
        Arc::new(ScalarUDF::new_from_impl(NormalizeText::default())),
        Arc::new(ScalarUDF::new_from_impl(ReleaseYear::default())),
        Arc::new(ScalarUDF::new_from_impl(TitleWithoutYear::default())),
        Arc::new(ScalarUDF::new_from_impl(TitleKey::default())),
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

/// Ballista-ready session configuration with moodflow's settings; `settings`
/// are `key=value` pairs such as `--conf` gives (`datafusion.…` or
/// `ballista.…` keys).
pub fn session_config(settings: &[(String, String)]) -> Result<SessionConfig> {
    // `new_with_ballista` also turns on the information schema.
    let mut config = SessionConfig::new_with_ballista().with_ballista_job_name("moodflow");
    // DataFusion 55's leaf-expression pushdown renames struct field accesses
    // under an aggregate (`avg(s['compound'])`) to `__datafusion_extracted_N`
    // columns whose qualified names do not survive the logical plan's trip
    // to the Ballista scheduler ("No field named avg(__datafusion_extracted_1)").
    config.options_mut().optimizer.enable_leaf_expression_pushdown = false;
    for (key, value) in settings {
        config.options_mut().set(key, value)?;
    }
    Ok(config)
}

/// The runtime of every moodflow process: the lazily-creating object store
/// registry (local, HDFS, S3).
pub fn runtime_env() -> Result<Arc<RuntimeEnv>> {
    Ok(Arc::new(
        RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::new(MoodflowObjectStores::new()))
            .build()?,
    ))
}

/// The session state: DataFusion's defaults, then moodflow's UDFs (after the
/// defaults, so the built-ins are kept), on moodflow's runtime.
pub fn session_state(config: SessionConfig) -> Result<SessionState> {
    let mut state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime_env()?)
        .with_default_features()
        .build();
    register_udfs(&mut state)?;
    Ok(state)
}

/// A context on an in-process Ballista scheduler and executor.
pub async fn standalone_context(config: SessionConfig) -> Result<SessionContext> {
    let ctx = SessionContext::standalone_with_state(session_state(config)?).await?;
    register_on_context(&ctx);
    Ok(ctx)
}

/// A context that submits to the Ballista scheduler at `url` (`df://host:port`).
pub async fn remote_context(url: &str, config: SessionConfig) -> Result<SessionContext> {
    let ctx = SessionContext::remote_with_state(url, session_state(config)?).await?;
    register_on_context(&ctx);
    Ok(ctx)
}

/// A plain single-process DataFusion context with the same extensions, for
/// tests of SQL semantics and for reading results back.
pub fn local_context(config: SessionConfig) -> Result<SessionContext> {
    Ok(SessionContext::new_with_state(session_state(config)?))
}

fn register_on_context(ctx: &SessionContext) {
    for udf in scalar_udfs() {
        ctx.register_udf(Arc::unwrap_or_clone(udf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, Int32Array, StringArray};

    #[tokio::test]
    async fn udfs_callable_from_sql() -> Result<()> {
        let ctx = local_context(session_config(&[])?)?;
        let batches = ctx
            .sql("SELECT vader_compound('Not bad at all') AS c, release_year('Heat (1995)') AS y, title_key('Matrix, The (1999)') AS k")
            .await?
            .collect()
            .await?;
        let b = &batches[0];
        let c = b.column(0).as_any().downcast_ref::<Float64Array>().expect("f64");
        let y = b.column(1).as_any().downcast_ref::<Int32Array>().expect("i32");
        let k = b.column(2).as_any().downcast_ref::<StringArray>().expect("utf8");
        assert_eq!((c.value(0), y.value(0), k.value(0)), (0.431, 1995, "the matrix"));
        // The built-ins survive registering moodflow's functions.
        ctx.sql("SELECT lower('A'), array_length(make_array(1, 2))")
            .await?
            .collect()
            .await?;
        Ok(())
    }

    #[test]
    fn conf_settings_are_applied_and_checked() {
        let config = session_config(&[("datafusion.execution.batch_size".into(), "1234".into())]).expect("config");
        assert_eq!(config.batch_size(), 1234);
        assert!(session_config(&[("datafusion.no_such_key".into(), "1".into())]).is_err());
    }
}
