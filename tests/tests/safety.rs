//! Hostile input and hostile jobs: every raw line ends in exactly one
//! place, nothing outside the root is touched, one run per root. Each
//! test reproduces a fault that moodflow once had (issue 12) and checks
//! the behaviour that replaced it against facts the test sets up itself.

use std::collections::BTreeMap;
use std::path::Path;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::prelude::ParquetReadOptions;
use moodflow_engine::{local_context, session_config, StorageRoot};
use moodflow_pipeline::generate::{generate, GenerateOptions};
use moodflow_pipeline::job::{Job, JobError};
use moodflow_pipeline::lock::{Holder, LockError, RunLock, LOCK_FILE};
use moodflow_pipeline::stages::{run_job_atomically, AtomicError, PipelineError, NETFLIX_STAGES, STAGES};
use moodflow_standalone::standalone;

/// A table as committed (a fresh context each time: a session caches the
/// file listing of a folder, and a rerun replaces the folder's files).
async fn read(root: &Path, table: &str) -> Vec<RecordBatch> {
    let ctx = local_context(session_config(&[]).expect("config")).expect("ctx");
    let path = root.join("curated").join(table);
    ctx.read_parquet(path.to_string_lossy().as_ref(), ParquetReadOptions::default())
        .await
        .unwrap_or_else(|e| panic!("read {table}: {e}"))
        .collect()
        .await
        .expect("collect")
}

fn count(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// (line, raw_line, reason) of a rejects table, by line.
fn rejects(batches: &[RecordBatch]) -> Vec<(i64, String, String)> {
    let mut out = Vec::new();
    for b in batches {
        let s = b.schema();
        let line = b.column(s.index_of("line").expect("line")).as_primitive::<Int64Type>();
        let raw = b.column(s.index_of("raw_line").expect("raw_line")).as_string::<i32>();
        let why = b.column(s.index_of("reason").expect("reason")).as_string::<i32>();
        for i in 0..b.num_rows() {
            out.push((line.value(i), raw.value(i).to_string(), why.value(i).to_string()));
        }
    }
    out.sort();
    out
}

fn root_of(dir: &Path) -> StorageRoot {
    StorageRoot::parse(&dir.to_string_lossy()).expect("root")
}

fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().to_string(),
                        std::fs::read(e.path()).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn a_job_cannot_write_outside_its_root() {
    moodflow_tests::block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        let root_dir = dir.path().join("root");
        let canary = dir.path().join("canary");
        std::fs::create_dir_all(&root_dir).expect("root");
        std::fs::create_dir_all(&canary).expect("canary");
        std::fs::write(canary.join("keep.txt"), "the canary").expect("canary file");
        let before = listing(&canary);
        let root = root_of(&root_dir);
        let ctx = local_context(session_config(&[]).expect("config")).expect("ctx");
        // ${curated} is ROOT/curated/_staging/<id>: four `..` lead beside the root.
        let targets = [
            "${curated}/../../../../canary/".to_string(),
            format!("{}/", canary.display()),
            format!("file://{}/", canary.display()),
            "${curated}/_rejects/../../../../../canary/".to_string(),
        ];
        for target in &targets {
            let sql = format!("COPY (SELECT 1 AS x) TO '{target}' STORED AS PARQUET");
            let job = Job::parse("evil.sql", &sql).expect("job file");
            let err = run_job_atomically(&ctx, &root, &job, &BTreeMap::new(), &[])
                .await
                .expect_err("a write outside the root must fail");
            assert!(
                matches!(err, AtomicError::Job(JobError::Confinement { .. })),
                "{target}: {err}"
            );
            assert_eq!(listing(&canary), before, "{target} touched the canary");
        }
        // A raw table's side outputs are writes too: refused outside the
        // job's scratch before the scan runs.
        let nf = root_dir.join("raw/netflix_prize");
        std::fs::create_dir_all(&nf).expect("nf dir");
        std::fs::write(nf.join("combined_data_1.txt"), "1:\n6,3,2005-09-06\nbad\n").expect("ratings");
        for side in [
            format!("{}/", canary.display()),
            "${curated}/../../../../canary/".to_string(),
            "${curated}/netflix_ratings/".to_string(),
        ] {
            let sql = format!(
                "CREATE EXTERNAL TABLE r STORED AS NETFLIX_RATINGS LOCATION '${{root}}/raw/netflix_prize/combined_data_*.txt' \
                 OPTIONS ('side_outputs' '{side}');\n\
                 COPY (SELECT movie_id FROM r WHERE reason IS NULL) TO '${{curated}}/t/' STORED AS PARQUET;"
            );
            let job = Job::parse("evil_side.sql", &sql).expect("job file");
            let err = run_job_atomically(&ctx, &root, &job, &BTreeMap::new(), &[])
                .await
                .expect_err("side outputs outside the scratch must fail");
            assert!(
                matches!(err, AtomicError::Job(JobError::Confinement { .. })),
                "{side}: {err}"
            );
            assert_eq!(listing(&canary), before, "{side} touched the canary");
        }
        assert!(!root_dir.join("curated/canary").exists());
        assert!(
            listing(&root_dir.join("curated/_staging")).is_empty(),
            "staging left behind"
        );
        // An explicitly allowed folder takes the write.
        let exports = dir.path().join("exports");
        let sql = format!("COPY (SELECT 1 AS x) TO '{}/one/' STORED AS PARQUET", exports.display());
        let job = Job::parse("export.sql", &sql).expect("job file");
        run_job_atomically(&ctx, &root, &job, &BTreeMap::new(), &[exports.display().to_string()])
            .await
            .expect("allowed output");
        assert!(
            !listing(&exports.join("one")).is_empty(),
            "the allowed folder holds the file"
        );
        assert_eq!(listing(&canary), before);
    });
}

/// Line `n` (1-based, header = line 1) of the generated ratings that is a
/// valid rating, at or after `from`.
fn valid_line(lines: &[Vec<u8>], from: usize) -> usize {
    (from..lines.len())
        .find(|&i| {
            let t = String::from_utf8_lossy(&lines[i]);
            let f: Vec<&str> = t.trim_end_matches('\r').split(',').collect();
            f.len() == 4 && f.iter().all(|x| x.parse::<f64>().is_ok()) && f[2].parse::<f64>().is_ok_and(|r| r >= 1.0)
        })
        .expect("a valid line")
}

#[test]
fn one_bad_quote_byte_or_field_costs_one_line_each() {
    moodflow_tests::block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        generate(
            dir.path(),
            GenerateOptions {
                ratings: 3000,
                seed: 12,
            },
        )
        .expect("generate");
        let root = root_of(dir.path());
        let cluster = standalone(session_config(&[]).expect("config")).await.expect("cluster");
        moodflow_tests::run_pipeline(&cluster, &root, &STAGES[..1])
            .await
            .expect("stage 01");
        let clean_rows = count(&read(dir.path(), "movielens_ratings").await);
        let clean_rejects = rejects(&read(dir.path(), "_rejects/movielens_ratings").await);

        // Break three valid lines, and drop the header: the file is then
        // read without one, losing no row.
        let path = dir.path().join("raw/movielens/ratings.csv");
        let text = std::fs::read(&path).expect("ratings");
        let mut lines: Vec<Vec<u8>> = text.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
        let (a, b, c) = (
            valid_line(&lines, 500),
            valid_line(&lines, 1200),
            valid_line(&lines, 2000),
        );
        lines[a].splice(2..2, *b"\"");
        let end = lines[b].len() - usize::from(lines[b].ends_with(b"\r"));
        lines[b].splice(end..end, *b",extra");
        lines[c].insert(3, 0xff);
        let broken = [a, b, c].map(|i| lines[i].clone());
        lines.remove(0);
        std::fs::write(&path, lines.join(&b'\n')).expect("write");

        let report = moodflow_tests::run_pipeline(&cluster, &root, &STAGES[..1])
            .await
            .expect("stage 01 survives bad lines");
        let rows = count(&read(dir.path(), "movielens_ratings").await);
        assert_eq!(rows, clean_rows - 3, "exactly the three broken lines are gone");
        assert_eq!(report.stages[0].written["movielens_ratings"], rows as u64);
        let got = rejects(&read(dir.path(), "_rejects/movielens_ratings").await);
        assert_eq!(got.len(), clean_rejects.len() + 3, "{got:?}");
        // Without the header every line number moves up by one.
        let find = |line: usize| {
            got.iter()
                .find(|r| r.0 == line as i64)
                .cloned()
                .expect("reject of the line")
        };
        let (qa, qb, qc) = (find(a), find(b), find(c));
        assert!(qa.2.starts_with("unbalanced quote"), "{qa:?}");
        assert_eq!(qa.1.as_bytes(), [&broken[0][..], b"\n"].concat().as_slice(), "raw kept");
        assert_eq!(qb.2, "expected 4 fields, got 5");
        assert!(qc.2.starts_with("invalid UTF-8"), "{qc:?}");
        assert!(qc.1.contains("\\xFF"), "{qc:?}");
        for (line, raw, _) in &clean_rejects {
            assert!(
                got.iter().any(|g| g.0 == line - 1 && &g.1 == raw),
                "the old reject of line {line} is still there, one line up"
            );
        }
    });
}

#[test]
fn an_empty_or_headerless_movielens_file_is_handled() {
    moodflow_tests::block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        generate(dir.path(), GenerateOptions { ratings: 600, seed: 5 }).expect("generate");
        let root = root_of(dir.path());
        let cluster = standalone(session_config(&[]).expect("config")).await.expect("cluster");
        let ratings = dir.path().join("raw/movielens/ratings.csv");
        std::fs::write(&ratings, "").expect("empty ratings");
        let err = moodflow_tests::run_pipeline(&cluster, &root, &STAGES[..1])
            .await
            .expect_err("an empty ratings file stops stage 01");
        let message = format!("{err}");
        assert!(matches!(err, PipelineError::Ledger { .. }), "{message}");
        assert!(message.contains("ratings.csv has no records"), "{message}");
        assert!(
            !dir.path().join("curated/movielens_ratings").exists(),
            "nothing committed"
        );

        // Header only: the same. A file without its header keeps its first row.
        std::fs::write(&ratings, "userId,movieId,rating,timestamp\n").expect("header only");
        assert!(moodflow_tests::run_pipeline(&cluster, &root, &STAGES[..1])
            .await
            .is_err());
        let movie = std::fs::read_to_string(dir.path().join("raw/movielens/movies.csv")).expect("movies");
        let first_id = movie
            .lines()
            .nth(1)
            .and_then(|l| l.split(',').next())
            .expect("a movie id");
        std::fs::write(
            &ratings,
            format!("7,{first_id},4.5,1000000000\n8,{first_id},3.0,1000000001\n"),
        )
        .expect("no header");
        moodflow_tests::run_pipeline(&cluster, &root, &STAGES[..1])
            .await
            .expect("stage 01");
        assert_eq!(count(&read(dir.path(), "movielens_ratings").await), 2, "no row lost");
        // An empty tags file is allowed and gives an empty table, with its schema.
        std::fs::write(dir.path().join("raw/movielens/tags.csv"), "").expect("empty tags");
        moodflow_tests::run_pipeline(&cluster, &root, &STAGES[..2])
            .await
            .expect("stages 01-02");
        assert_eq!(count(&read(dir.path(), "movielens_tags").await), 0);
    });
}

#[test]
fn ratings_under_a_malformed_header_are_rejected_in_every_split() {
    moodflow_tests::block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        generate(dir.path(), GenerateOptions { ratings: 600, seed: 6 }).expect("generate");
        let nf = dir.path().join("raw/netflix_prize");
        for entry in std::fs::read_dir(&nf).expect("netflix dir").flatten() {
            std::fs::remove_file(entry.path()).expect("clear");
        }
        // A UTF-8 byte order mark before title 1; movie 2's header broken.
        std::fs::write(
            nf.join("movie_titles.csv"),
            "\u{feff}1,2001,First\n2,2002,Second\n3,2003,Third\n",
        )
        .expect("titles");
        let mut text = String::from("1:\n");
        (1..=40).for_each(|c| text.push_str(&format!("{c},3,2005-01-01\n")));
        text.push_str("2x:\n");
        (41..=80).for_each(|c| text.push_str(&format!("{c},4,2005-01-02\n")));
        text.push_str("3:\n");
        (81..=120).for_each(|c| text.push_str(&format!("{c},5,2005-01-03\n")));
        std::fs::write(nf.join("combined_data_1.txt"), &text).expect("ratings");
        let root = root_of(dir.path());
        let cluster = standalone(session_config(&[]).expect("config")).await.expect("cluster");
        moodflow_tests::run_pipeline(&cluster, &root, &STAGES[..1])
            .await
            .expect("stage 01");
        for partitions in ["1", "3", "7"] {
            moodflow_tests::run_pipeline_with(
                &cluster,
                &root,
                &NETFLIX_STAGES[..1],
                &[
                    ("netflix_partitions", partitions),
                    ("netflix_titles_file", "movie_titles.csv"),
                ],
            )
            .await
            .expect("stage 07");
            let ratings = read(dir.path(), "netflix_ratings").await;
            let mut by_movie: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
            for b in &ratings {
                let m = b.column(0).as_primitive::<Int64Type>();
                let c = b.column(1).as_primitive::<Int64Type>();
                for i in 0..b.num_rows() {
                    by_movie.entry(m.value(i)).or_default().push(c.value(i));
                }
            }
            by_movie.values_mut().for_each(|v| v.sort_unstable());
            let expected: BTreeMap<i64, Vec<i64>> = [(1, (1..=40).collect()), (3, (81..=120).collect())].into();
            assert_eq!(
                by_movie, expected,
                "{partitions} splits: no rating filed under movie 1 or 2"
            );
            let got = rejects(&read(dir.path(), "_rejects/netflix_ratings").await);
            assert_eq!(got.len(), 41, "{partitions} splits");
            assert_eq!(got[0], (42, "2x:\n".into(), "malformed MovieID: header".into()));
            assert!(got[1..].iter().all(|r| r.2 == "no valid MovieID header"));
            let titles = read(dir.path(), "nf_movies_meta").await;
            assert_eq!(count(&titles), 3, "title 1 is read despite the byte order mark");
        }
    });
}

#[test]
fn unknown_job_variables_are_refused_naming_the_known_ones() {
    moodflow_tests::block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        let root = root_of(dir.path());
        let cluster = standalone(session_config(&[]).expect("config")).await.expect("cluster");
        let err = moodflow_tests::run_pipeline_with(&cluster, &root, STAGES, &[("playlist_sise", "3")])
            .await
            .expect_err("a typo is an error");
        let message = format!("{err}");
        assert!(
            message.contains("playlist_sise") && message.contains("playlist_size"),
            "{message}"
        );
        assert!(!dir.path().join("curated").exists(), "nothing ran");
    });
}

#[test]
fn one_run_per_root_and_dead_runs_are_cleaned_up() {
    moodflow_tests::block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        let root = root_of(dir.path());
        let runtime = moodflow_engine::session::runtime_env().expect("runtime");
        let warnings = std::sync::Mutex::new(Vec::<String>::new());
        let warn = |m: &str| warnings.lock().expect("lock").push(m.to_string());
        let first = RunLock::acquire(&runtime, &root, "run", &warn)
            .await
            .expect("first run");
        match RunLock::acquire(&runtime, &root, "submit x.sql", &warn).await {
            Err(LockError::Held { holder, .. }) => {
                assert_eq!(holder.pid, std::process::id());
                assert_eq!(holder.command, "run");
            }
            other => panic!("a second run must be refused: {other:?}"),
        }
        let message = format!(
            "{}",
            RunLock::acquire(&runtime, &root, "run", &warn).await.expect_err("held")
        );
        assert!(message.contains(&format!("pid {}", std::process::id())), "{message}");
        first.release().await;
        assert!(!dir.path().join(LOCK_FILE).exists(), "released");

        // A dead run: its lock names a process that is gone, and it left a
        // staging folder behind.
        let dead = Holder {
            host: moodflow_pipeline::lock::host_name(),
            pid: u32::MAX - 1,
            command: "run".into(),
            started: 1,
            refreshed: 1,
            token: "dead".into(),
        };
        std::fs::write(dir.path().join(LOCK_FILE), serde_json::to_vec(&dead).expect("json")).expect("lock");
        let leftover = dir.path().join("curated/_staging/123-456/movielens_movies");
        std::fs::create_dir_all(&leftover).expect("leftover");
        std::fs::write(leftover.join("part-0.parquet"), b"half").expect("leftover file");
        let taken = RunLock::acquire(&runtime, &root, "run", &warn)
            .await
            .expect("stale lock taken over");
        assert_eq!(taken.holder().pid, std::process::id());
        assert!(
            !dir.path().join("curated/_staging/123-456").exists(),
            "leftover removed"
        );
        let said = warnings.lock().expect("lock").join("\n");
        assert!(said.contains("stale run lock") && said.contains("gone"), "{said}");
        assert!(said.contains("removing 1 staging folder"), "{said}");
        taken.release().await;
    });
}
