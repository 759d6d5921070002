//! The one place a moodflow DataFusion/Ballista session is built.
//!
//! Client, standalone mode, scheduler, executors and tests all call
//! [`session_config`] and [`session_state`], so every side has the same
//! UDFs, codecs and object stores. Ballista's `upgrade_for_ballista`
//! replaces the scalar functions of the state it is given with DataFusion's
//! built-ins, so [`Cluster::connect`] registers the UDFs again on the
//! context it returns.
//!
//! A [`Cluster`] is the context plus the scheduler's URL, which moodflow's
//! own physical plans (k-means) are submitted to directly: [`remote`] for a
//! running scheduler, `moodflow_standalone::standalone` for one started in
//! this process.

use std::sync::Arc;

use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use datafusion::catalog::MemoryCatalogProviderList;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::codec::{MoodflowLogicalCodec, MoodflowPhysicalCodec};
use crate::formats::{FileKind, RawTableFactory};
use crate::storage::{MoodflowObjectStores, StorageRoot};
use moodflow_udfs::{aggregate_udfs, register_udfs, scalar_udfs};

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

/// `STORED AS NETFLIX_RATINGS`, `NETFLIX_TITLES` and `MOODFLOW_CSV`.
pub fn register_table_factories(state: &mut SessionState) {
    let factories = state.table_factories_mut();
    factories.insert(
        crate::formats::NETFLIX_RATINGS_FORMAT.into(),
        Arc::new(RawTableFactory::new(FileKind::Ratings)),
    );
    factories.insert(
        crate::formats::NETFLIX_TITLES_FORMAT.into(),
        Arc::new(RawTableFactory::new(FileKind::Titles)),
    );
    factories.insert(
        crate::formats::CSV_FORMAT.into(),
        Arc::new(RawTableFactory::new(FileKind::Csv)),
    );
}

/// Ballista-ready session configuration with moodflow's settings; `settings`
/// are `key=value` pairs such as `--conf` gives (`datafusion.…` or
/// `ballista.…` keys). Parquet is written at [`REMOTE_PARQUET_CODEC`]; a
/// session that writes under a root takes [`session_config_at`].
pub fn session_config(settings: &[(String, String)]) -> Result<SessionConfig> {
    config_with_codec(REMOTE_PARQUET_CODEC, settings)
}

/// [`session_config`] for jobs that write under `root`: Parquet at the
/// codec [`parquet_codec`] picks for it unless `settings` name one.
pub fn session_config_at(root: &StorageRoot, settings: &[(String, String)]) -> Result<SessionConfig> {
    config_with_codec(parquet_codec(root), settings)
}

/// Parquet's codec where the tables go over a network (HDFS, S3): zstd at
/// level 1, not DataFusion's 3: zstd was a tenth of the pipeline's CPU in
/// `perf`, and level 1 compresses moodflow's tables as small. Measured at
/// 10M generated ratings, stages 01-09, six alternating rounds: 12.20 s ->
/// 11.78 s, 18.3 s -> 17.6 s of CPU, 240 MB -> 238 MB of tables.
pub const REMOTE_PARQUET_CODEC: &str = "zstd(1)";

/// Parquet's codec for a local root: `lz4_raw`. On one machine the CPU
/// that compresses is the CPU that runs every stage, and zstd's compressor
/// and decompressor were still 11% of the pipeline's `perf` samples. 10M
/// generated ratings, stages 01-09 standalone on 2 cores, seven
/// alternating rounds (the machine drifted 14-18 s either way): 16.8 s ->
/// 15.9 s, 29.8 s -> 27.9 s of CPU; 241 MB -> 366 MB of tables (Spark's
/// snappy tables of the same run: 416 MB).
pub const LOCAL_PARQUET_CODEC: &str = "lz4_raw";

/// The Parquet codec a session writing under `root` defaults to: fewer
/// bytes where they cross a network, less CPU where they do not. A
/// statement's `OPTIONS ('compression' …)` or `--conf
/// datafusion.execution.parquet.compression=…` wins over either.
pub fn parquet_codec(root: &StorageRoot) -> &'static str {
    match root {
        StorageRoot::Local(_) => LOCAL_PARQUET_CODEC,
        StorageRoot::Remote(_) => REMOTE_PARQUET_CODEC,
    }
}

fn config_with_codec(codec: &str, settings: &[(String, String)]) -> Result<SessionConfig> {
    // `new_with_ballista` also turns on the information schema.
    let mut config = SessionConfig::new_with_ballista()
        .with_ballista_job_name("moodflow")
        .with_ballista_physical_extension_codec(Arc::new(MoodflowPhysicalCodec::default()))
        .with_ballista_logical_extension_codec(Arc::new(MoodflowLogicalCodec::default()));
    // DataFusion 55's leaf-expression pushdown renames struct field accesses
    // under an aggregate (`avg(s['compound'])`) to `__datafusion_extracted_N`
    // columns whose qualified names do not survive the logical plan's trip
    // to the Ballista scheduler ("No field named avg(__datafusion_extracted_1)").
    config.options_mut().optimizer.enable_leaf_expression_pushdown = false;
    // Ballista 55's adaptive planner rewrites a running job when a join
    // side turns out empty (stage 02 without the optional catalogue): the
    // rewritten stage has one operator fewer than its tasks report metrics
    // for, the scheduler rejects every status update of that executor, and
    // the job hangs until the executor is declared lost. The static planner
    // runs the whole pipeline as fast (measured: 15.1 s either way on the
    // default data); `--conf ballista.planner.adaptive.enabled=true` turns
    // it back on.
    config = config.set_bool("ballista.planner.adaptive.enabled", false);
    // Ballista 55 packs as many input partitions into one task as the
    // executor has free slots, so a stage of a few partitions became one
    // task on one executor whatever the scheduler's task distribution. One
    // partition per task lets `--task-distribution round-robin` spread a
    // small job over every executor (measured: the default pipeline
    // standalone takes the same 18 s either way).
    config = config.set_usize("ballista.scheduler.max_partitions_per_task", 1);
    // Ballista 55 turns hash joins off (its hash join cannot spill), so
    // every equi-join became a sort-merge join: stage 01 shuffled and
    // sorted all 10M ratings to check them against 60k movie ids. With hash
    // joins, a small side is broadcast (`CollectLeft`, under Ballista's
    // broadcast thresholds) and a large one partitioned. Measured at 10M
    // generated ratings, stages 01-09: that statement 12.6 s -> 7.5 s,
    // the whole run about 5 s faster. moodflow's build sides are at most a
    // partition of the ratings; `--conf datafusion.optimizer.prefer_hash_join=false`
    // turns sort-merge joins back on where that does not fit in memory.
    config = config.set_bool("datafusion.optimizer.prefer_hash_join", true);
    // Before `settings`, so that `--conf` wins (see `parquet_codec`).
    config
        .options_mut()
        .set("datafusion.execution.parquet.compression", codec)?;
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
        // Where a statement is planned: a COPY's options then travel with it.
        .with_analyzer_rule(Arc::new(crate::copy_options::CopyOptionsInFormat))
        // After DataFusion's own rules: it rewrites what they planned.
        .with_physical_optimizer_rule(Arc::new(crate::sink::ParallelSinks))
        .build();
    register_udfs(&mut state)?;
    register_table_factories(&mut state);
    Ok(state)
}

/// A Ballista session: the context for SQL and DataFrames, and the URL of
/// its scheduler (`http://host:port`) for physical plans.
#[derive(Clone)]
pub struct Cluster {
    /// The context; SQL run on it is planned and run by the scheduler.
    pub ctx: SessionContext,
    /// The scheduler's gRPC URL.
    pub scheduler_url: String,
    /// What must live as long as the session (an in-process executor's
    /// work dir, removed with the last clone).
    _keep: Option<Arc<dyn std::any::Any + Send + Sync>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("scheduler_url", &self.scheduler_url)
            .finish()
    }
}

impl Cluster {
    /// A session on the scheduler at `scheduler_url` (`http://host:port`)
    /// with `state`'s extensions; `keep` lives as long as the last clone
    /// (an in-process cluster's work dir).
    pub fn connect(
        scheduler_url: String,
        state: SessionState,
        keep: Option<Arc<dyn std::any::Any + Send + Sync>>,
    ) -> Result<Self> {
        let ctx = SessionContext::new_with_state(state.upgrade_for_ballista(scheduler_url.clone())?);
        register_on_context(&ctx);
        Ok(Self {
            ctx,
            scheduler_url,
            _keep: keep,
        })
    }

    /// A new session on the same scheduler, runtime and settings, with its
    /// own tables and views and its own settings from now on, whose
    /// Ballista jobs are named `job_name` (the scheduler's job list and REST
    /// API show it). Stages that run side by side each take one: a job
    /// drops its session's tables before and after it runs, and a `SET`
    /// must not change another stage's settings.
    pub fn session(&self, job_name: &str) -> Cluster {
        let state = self.ctx.state();
        let config = state
            .config()
            .clone()
            .with_ballista_job_name(job_name)
            // An empty catalogue list gets DataFusion's default catalogue
            // and schema only when asked to.
            .with_create_default_catalog_and_schema(true);
        // The existing state's planners, codecs, functions and runtime
        // (object stores) are kept; its catalogue and session id are not.
        let state = SessionStateBuilder::new_from_existing(state)
            .with_config(config)
            .with_catalog_list(Arc::new(MemoryCatalogProviderList::new()))
            .build();
        Cluster {
            ctx: SessionContext::new_with_state(state),
            scheduler_url: self.scheduler_url.clone(),
            _keep: self._keep.clone(),
        }
    }
}

/// A session on the Ballista scheduler at `url` (`df://host:port`; the
/// port defaults to 50050).
pub async fn remote(url: &str, config: SessionConfig) -> Result<Cluster> {
    Cluster::connect(scheduler_url(url)?, session_state(config)?, None)
}

/// `df://host:port` (or `http://…`) as the scheduler's gRPC URL.
pub fn scheduler_url(url: &str) -> Result<String> {
    let parsed =
        url::Url::parse(url).map_err(|e| DataFusionError::Configuration(format!("scheduler URL '{url}': {e}")))?;
    if !matches!(parsed.scheme(), "df" | "http") {
        return Err(DataFusionError::Configuration(format!(
            "scheduler URL '{url}': expected df://HOST:PORT"
        )));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| DataFusionError::Configuration(format!("scheduler URL '{url}' has no host")))?;
    Ok(format!("http://{host}:{}", parsed.port().unwrap_or(50050)))
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
    for udaf in aggregate_udfs() {
        ctx.register_udaf(Arc::unwrap_or_clone(udaf));
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
    fn parquet_is_lz4_on_a_local_root_zstd_over_a_network_and_conf_wins() -> Result<()> {
        let codec = |config: &SessionConfig| config.options().execution.parquet.compression.clone();
        let root = |r: &str| StorageRoot::parse(r).expect("root");
        let local = session_config_at(&root("/tmp/moodflow-root"), &[])?;
        assert_eq!(codec(&local).as_deref(), Some("lz4_raw"));
        for remote in ["hdfs://namenode:9000/moodflow", "s3://bucket/moodflow"] {
            assert_eq!(
                codec(&session_config_at(&root(remote), &[])?).as_deref(),
                Some("zstd(1)")
            );
        }
        // Without a root (readers, tests): the remote default.
        assert_eq!(codec(&session_config(&[])?).as_deref(), Some("zstd(1)"));
        let conf = [(
            "datafusion.execution.parquet.compression".to_string(),
            "snappy".to_string(),
        )];
        assert_eq!(
            codec(&session_config_at(&root("/tmp/r"), &conf)?).as_deref(),
            Some("snappy")
        );
        assert_eq!(
            codec(&session_config_at(&root("hdfs://nn:9000/r"), &conf)?).as_deref(),
            Some("snappy")
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_session_of_a_cluster_has_its_own_tables_and_job_name() -> Result<()> {
        // No scheduler is contacted until a query runs on the cluster.
        let cluster = Cluster::connect("http://127.0.0.1:9".into(), session_state(session_config(&[])?)?, None)?;
        cluster.ctx.sql("CREATE VIEW mine AS SELECT 1 AS one").await?;
        let stage = cluster.session("moodflow 07_ingest_netflix_prize");
        stage.ctx.sql("CREATE VIEW theirs AS SELECT 2 AS two").await?;
        let names = |ctx: &SessionContext| {
            let mut n = ctx
                .catalog("datafusion")
                .and_then(|c| c.schema("public"))
                .map(|s| s.table_names())
                .unwrap_or_default();
            n.sort();
            n
        };
        assert_eq!(names(&cluster.ctx), ["mine"]);
        assert_eq!(names(&stage.ctx), ["theirs"]);
        let job_name = |ctx: &SessionContext| {
            ctx.state()
                .config()
                .options()
                .entries()
                .into_iter()
                .find(|e| e.key == "ballista.job.name")
                .and_then(|e| e.value)
        };
        assert_eq!(job_name(&cluster.ctx).as_deref(), Some("moodflow"));
        assert_eq!(
            job_name(&stage.ctx).as_deref(),
            Some("moodflow 07_ingest_netflix_prize")
        );
        assert_ne!(cluster.ctx.session_id(), stage.ctx.session_id());
        // The UDFs and table formats came along.
        stage.ctx.sql("SELECT vader_compound('good') AS c").await?;
        assert!(stage
            .ctx
            .state()
            .table_factories()
            .contains_key(crate::formats::CSV_FORMAT));
        Ok(())
    }

    #[test]
    fn conf_settings_are_applied_and_checked() {
        let config = session_config(&[("datafusion.execution.batch_size".into(), "1234".into())]).expect("config");
        assert_eq!(config.batch_size(), 1234);
        assert!(session_config(&[("datafusion.no_such_key".into(), "1".into())]).is_err());
    }
}
