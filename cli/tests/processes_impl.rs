//! The pipeline on a cluster of separate processes (the real
//! `moodflow-scheduler` and two `moodflow-executor` binaries on loopback):
//! its outputs equal a standalone run's, row by row; and an executor killed
//! with SIGKILL while a stage runs either leaves a complete, verified run on
//! the survivor or an error naming the lost executor and no half-written
//! table.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::ParquetReadOptions;
use moodflow_engine::{local_context, remote, session_config, StorageRoot};
use moodflow_pipeline::generate::{generate, GenerateOptions};
use moodflow_pipeline::stages::{PipelineError, NETFLIX_STAGES, STAGES};
use moodflow_standalone::standalone;
use moodflow_tests::processes::{Binaries, ProcessCluster};

/// The role binaries cargo built for this test.
fn binaries() -> Binaries {
    Binaries {
        scheduler: env!("CARGO_BIN_EXE_moodflow-scheduler").into(),
        executor: env!("CARGO_BIN_EXE_moodflow-executor").into(),
    }
}

/// Every curated table, rows rendered as text (floats rounded to 9
/// decimals: sums over partitions may differ in the last bits; the root's
/// path, which rejects name, written `ROOT`), sorted.
async fn tables(root: &Path) -> BTreeMap<String, Vec<String>> {
    let ctx = local_context(session_config(&[]).expect("config")).expect("ctx");
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir(root.join("curated")) else {
        return out;
    };
    let mut names: Vec<String> = dir
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("_staging"))
        .collect();
    for r in std::fs::read_dir(root.join("curated/_rejects")).into_iter().flatten() {
        names.push(format!("_rejects/{}", r.expect("entry").file_name().to_string_lossy()));
    }
    names.retain(|n| n != "_rejects");
    for name in names {
        let path = format!("{}/curated/{name}/", root.display());
        let has_files = std::fs::read_dir(root.join("curated").join(&name))
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().ends_with(".parquet"))
            })
            .unwrap_or(false);
        if !has_files {
            // A COPY of zero rows commits an empty folder.
            out.insert(name, Vec::new());
            continue;
        }
        let df = ctx
            .read_parquet(path.as_str(), ParquetReadOptions::default())
            .await
            .expect("read");
        let cols: Vec<String> = df
            .schema()
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Float64 => format!("round(\"{0}\", 9) AS \"{0}\"", f.name()),
                _ => format!("\"{}\"", f.name()),
            })
            .collect();
        let table = name.replace('/', "_");
        ctx.register_parquet(&table, path.as_str(), ParquetReadOptions::default())
            .await
            .expect("register");
        let batches = ctx
            .sql(&format!("SELECT {} FROM {table}", cols.join(", ")))
            .await
            .expect("query")
            .collect()
            .await
            .expect("collect");
        let mut rows = Vec::new();
        for b in &batches {
            let fmts: Vec<ArrayFormatter> = b
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &FormatOptions::default()).expect("formatter"))
                .collect();
            for i in 0..b.num_rows() {
                rows.push(
                    fmts.iter()
                        .map(|f| f.value(i).to_string())
                        .collect::<Vec<_>>()
                        .join("|")
                        .replace(&root.display().to_string(), "ROOT"),
                );
            }
        }
        rows.sort();
        out.insert(name, rows);
    }
    out
}

fn root_of(path: &Path) -> StorageRoot {
    StorageRoot::parse(&path.to_string_lossy()).expect("root")
}

#[test]
fn separate_processes_give_the_standalone_outputs() {
    moodflow_tests::block_on(async {
        let data = GenerateOptions {
            ratings: 8_000,
            seed: 5,
        };
        let alone = tempfile::tempdir().expect("tmp");
        let spread = tempfile::tempdir().expect("tmp");
        generate(alone.path(), data).expect("generate");
        generate(spread.path(), data).expect("generate");

        let local = standalone(session_config(&[]).expect("config"))
            .await
            .expect("standalone");
        // Every stage, 07-09 included (the generated data has Netflix
        // files); the cluster reads the rating files in 7 byte-range
        // splits on two executor processes, the standalone run in one.
        let stages: Vec<_> = STAGES.iter().chain(NETFLIX_STAGES).cloned().collect();
        moodflow_tests::run_pipeline(&local, &root_of(alone.path()), &stages)
            .await
            .expect("standalone run");

        let cluster = ProcessCluster::start(&binaries(), 2, 1, 30).await;
        let client = remote(&cluster.url, session_config(&[]).expect("config"))
            .await
            .expect("client");
        let run = moodflow_tests::run_pipeline_with(
            &client,
            &root_of(spread.path()),
            &stages,
            &[("netflix_partitions", "7")],
        )
        .await;
        if let Err(e) = &run {
            panic!("cluster run failed: {e:?}\n{}", cluster.logs());
        }
        let report = moodflow_pipeline::verify::verify(&root_of(spread.path()))
            .await
            .expect("verify");
        assert!(report.passed(), "{}", report.render());
        stages_ran_side_by_side(&cluster.rest, &stages).await;

        let (a, b) = (tables(alone.path()).await, tables(spread.path()).await);
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>(),
            "same tables"
        );
        assert!(a.len() >= 13, "{:?}", a.keys());
        assert!(a.contains_key("unified_ratings") && a.contains_key("_rejects/netflix_ratings"));
        for (name, rows) in &a {
            assert_eq!(rows.len(), b[name].len(), "{name}: row count");
            for (x, y) in rows.iter().zip(&b[name]) {
                assert_eq!(x, y, "{name}: first differing row");
            }
        }
    });
}

/// Every job on the scheduler carries the name of the stage that ran it,
/// and stage 07, which reads no MovieLens table, started before stage 01
/// had finished: the stages ran side by side, each on its own session.
async fn stages_ran_side_by_side(rest: &str, stages: &[moodflow_pipeline::stages::Stage]) {
    use moodflow_pipeline::stages::job_name;
    let rest = moodflow_engine::rest::SchedulerRest::new(rest, Duration::from_secs(10)).expect("client");
    let jobs = rest.jobs().await.expect("the scheduler's jobs");
    let names: Vec<String> = stages.iter().map(|s| job_name(&s.id())).collect();
    for job in &jobs {
        assert!(
            names.contains(&job.job_name),
            "job {} is named {:?}",
            job.job_id,
            job.job_name
        );
    }
    let of = |stage: &str| {
        let name = job_name(stage);
        let mine: Vec<_> = jobs.iter().filter(|j| j.job_name == name).collect();
        assert!(!mine.is_empty(), "no job of {stage}");
        mine
    };
    let first_07 = of("07_ingest_netflix_prize").iter().map(|j| j.start_time).min();
    let last_01 = of("01_etl_movielens").iter().map(|j| j.end_time).max();
    assert!(
        first_07 < last_01,
        "stage 07's first job started at {first_07:?}, after stage 01's last ended at {last_01:?}"
    );
}

#[test]
fn an_executor_killed_mid_stage_is_survived_or_named() {
    moodflow_tests::block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        generate(
            dir.path(),
            GenerateOptions {
                ratings: 30_000,
                seed: 9,
            },
        )
        .expect("generate");
        let root = root_of(dir.path());
        // Executors heartbeat every 2 s and expire 8 s after the last one.
        let mut cluster = ProcessCluster::start(&binaries(), 2, 1, 8).await;
        let client = remote(&cluster.url, session_config(&[]).expect("config"))
            .await
            .expect("client");
        let victim = cluster.executor_addrs[1].clone();
        let survivor = cluster.executor_addrs[0].clone();
        let run_root = root.clone();
        let stages: Vec<_> = STAGES.iter().chain(NETFLIX_STAGES).cloned().collect();
        let run_stages = stages.clone();
        let run = tokio::spawn(async move { moodflow_tests::run_pipeline(&client, &run_root, &run_stages).await });
        // Kill when stage 01's first job has tasks running.
        let rest = moodflow_engine::rest::SchedulerRest::new(&cluster.rest, Duration::from_secs(10)).expect("client");
        for _ in 0..600 {
            let jobs = rest.jobs().await.unwrap_or_default();
            if jobs.iter().any(|j| j.status == "Running") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        cluster.kill_executor(1);
        let outcome = tokio::time::timeout(Duration::from_secs(180), run)
            .await
            .unwrap_or_else(|_| panic!("the run neither finished nor failed in 3 minutes\n{}", cluster.logs()))
            .expect("run task");
        match outcome {
            Ok(report) => {
                eprintln!(
                    "executor loss: the run completed on the survivor ({} stages)",
                    report.stages.len()
                );
                let checks = moodflow_pipeline::verify::verify(&root).await.expect("verify");
                assert!(checks.passed(), "{}", checks.render());
            }
            Err(e) => {
                let message = format!("{e}");
                eprintln!("executor loss: the run failed: {message}\n{e:?}\n{}", cluster.logs());
                assert!(
                    matches!(e, PipelineError::ExecutorLost { .. })
                        && message.contains(&victim)
                        && !message.contains(&survivor),
                    "the error names the lost executor {victim}, not {survivor}: {e:?}\n{}",
                    cluster.logs()
                );
                // No half-written table: every committed table reads whole,
                // and each stage's tables are all there or all absent.
                let present = tables(dir.path()).await;
                for stage in &stages {
                    if let Some(job) = stage.job() {
                        let outputs = job.expect("job file").outputs();
                        let there = outputs.iter().filter(|t| present.contains_key(t.as_str())).count();
                        assert!(
                            there == 0 || there == outputs.len(),
                            "stage {} left {there} of {} tables",
                            stage.id(),
                            outputs.len()
                        );
                    }
                }
            }
        }
    });
}
