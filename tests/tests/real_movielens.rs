//! Stage 01 on the real ml-latest-small files from the shared data folder
//! (skipped when absent): with their CRLF endings and again converted to LF.

use datafusion::arrow::array::AsArray;
use datafusion::prelude::ParquetReadOptions;
use moodflow_engine::{local_context, session_config, StorageRoot};
use moodflow_pipeline::stages::STAGES;
use moodflow_standalone::standalone;

async fn run_stage01(line_ending_lf: bool) {
    let Some(data) = moodflow_tests::shared_data() else {
        eprintln!("skipped: ../shared/data is absent");
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let raw = dir.path().join("raw/movielens");
    std::fs::create_dir_all(&raw).expect("mkdir");
    for f in ["movies.csv", "ratings.csv", "tags.csv", "links.csv"] {
        let bytes = std::fs::read(data.join("ml-latest-small").join(f)).expect("read");
        assert!(bytes.windows(2).any(|w| w == b"\r\n"), "{f} is expected to be CRLF");
        let bytes = if line_ending_lf {
            String::from_utf8(bytes)
                .expect("utf8")
                .replace("\r\n", "\n")
                .into_bytes()
        } else {
            bytes
        };
        std::fs::write(raw.join(f), bytes).expect("write");
    }
    let root = StorageRoot::parse(&dir.path().to_string_lossy()).expect("root");
    let cluster = standalone(session_config(&[]).expect("config")).await.expect("cluster");
    let report = moodflow_tests::run_pipeline(&cluster, &root, &STAGES[..1])
        .await
        .expect("stage 01");
    let s = &report.stages[0];
    assert_eq!(s.written["movielens_ratings"], 100_836);
    assert_eq!(s.written["movielens_movies"], 9_742);
    assert_eq!(s.written["movielens_tags"], 3_683);
    assert!(s.rejected.values().all(|&r| r == 0), "rejects: {:?}", s.rejected);

    let reader = local_context(session_config(&[]).expect("config")).expect("ctx");
    let path = dir.path().join("curated/movielens_movies");
    reader
        .register_parquet("m", path.to_string_lossy().as_ref(), ParquetReadOptions::default())
        .await
        .expect("register");
    let q = "SELECT sum(CASE WHEN year IS NULL THEN 1 ELSE 0 END) AS no_year, \
                    sum(CASE WHEN array_length(genres) IS NULL OR array_length(genres) = 0 THEN 1 ELSE 0 END) AS no_genres, \
                    max(CASE WHEN title_clean = 'Death Note: Desu nôto' THEN year END) AS death_note, \
                    max(CASE WHEN title LIKE 'From Dusk Till Dawn 2%' THEN title_clean END) AS dusk \
             FROM m";
    let b = &reader.sql(q).await.expect("sql").collect().await.expect("collect")[0];
    let int = |i: usize| {
        b.column(i)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .value(0)
    };
    assert_eq!(int(0), 12, "titles without a year");
    assert_eq!(int(1), 34, "(no genres listed)");
    assert_eq!(
        b.column(2)
            .as_primitive::<datafusion::arrow::datatypes::Int32Type>()
            .value(0),
        2006
    );
    assert_eq!(
        b.column(3).as_string::<i32>().value(0),
        "From Dusk Till Dawn 2: Texas Blood Money"
    );
}

#[test]
fn ml_latest_small_crlf() {
    moodflow_tests::block_on(run_stage01(false));
}

#[test]
fn ml_latest_small_lf() {
    moodflow_tests::block_on(run_stage01(true));
}
