//! The pipeline on a real HDFS: runs when `MOODFLOW_TEST_HDFS` names a
//! root on a namenode (`hdfs://NAMENODE:8020/tmp/moodflow-test`), skips with
//! a message otherwise (no Hadoop server can run on the CI machines). It
//! uploads a generated raw data set through the same object store the
//! pipeline uses, runs stages 01-06 on a standalone Ballista against the
//! HDFS root, and runs the stage 11 checks there.

use moodflow_engine::{session_config, StorageRoot};
use moodflow_pipeline::generate::{generate, GenerateOptions};
use moodflow_pipeline::stages::STAGES;
use moodflow_standalone::standalone;

#[test]
fn pipeline_runs_against_a_real_namenode() {
    let Ok(root) = std::env::var("MOODFLOW_TEST_HDFS") else {
        eprintln!("skipped: set MOODFLOW_TEST_HDFS=hdfs://NAMENODE:PORT/scratch/path to run against a real HDFS");
        return;
    };
    moodflow_tests::block_on(async move {
        let root = StorageRoot::parse(&root).expect("MOODFLOW_TEST_HDFS is a storage root");
        assert!(
            root.local_path().is_none(),
            "MOODFLOW_TEST_HDFS must be an hdfs:// root"
        );
        let cluster = standalone(session_config(&[]).expect("config"))
            .await
            .expect("standalone");
        let runtime = cluster.ctx.runtime_env();
        root.check_reachable(&runtime, std::time::Duration::from_secs(30))
            .await
            .expect("the namenode answers");
        for dir in ["raw", "curated", "models"] {
            root.remove_all(&runtime, dir).await.expect("clean the scratch root");
        }
        let local = tempfile::tempdir().expect("tmp");
        generate(
            local.path(),
            GenerateOptions {
                ratings: 5_000,
                seed: 3,
            },
        )
        .expect("generate");
        for sub in ["raw/movielens", "raw/catalog"] {
            for entry in std::fs::read_dir(local.path().join(sub)).expect("raw dir") {
                let entry = entry.expect("entry");
                let rel = format!("{sub}/{}", entry.file_name().to_string_lossy());
                let bytes = std::fs::read(entry.path()).expect("read");
                root.write_file(&runtime, &rel, bytes).await.expect("upload");
            }
        }
        let report = moodflow_tests::run_pipeline(&cluster, &root, STAGES)
            .await
            .expect("pipeline on HDFS");
        assert_eq!(report.stages.len(), STAGES.len());
        let checks = moodflow_pipeline::verify::verify(&root).await.expect("verify");
        assert!(checks.passed(), "{}", checks.render());
    });
}
