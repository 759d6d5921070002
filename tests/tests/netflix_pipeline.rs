//! Stages 07-09 on Ballista (standalone: the scheduler plans the Netflix
//! splits, the executor runs the decoded scan) over hand-made files whose
//! every expected row is written out here: rating blocks cut into 1, 2, 7
//! and 16 byte-range splits (most boundaries fall inside a block), LF with
//! a trailing newline and CRLF without one, malformed lines with their line
//! numbers, Latin-1 titles with commas and quotes, and a bridge case for
//! every rule (exact, via an alternate title, & = and, articles, year ±1,
//! unique title, unique title too many years off, ambiguous, no candidate).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use moodflow_engine::{local_context, session_config, StorageRoot};
use moodflow_pipeline::progress::Progress;
use moodflow_pipeline::stages::{run_stages, PipelineOptions, NETFLIX_STAGES, STAGES};
use moodflow_standalone::standalone;

/// One value of any column, for row comparisons.
#[derive(Debug, Clone, PartialEq, PartialOrd, Eq, Ord)]
enum V {
    Null,
    I(i64),
    S(String),
}

fn i(v: i64) -> V {
    V::I(v)
}

fn s(v: &str) -> V {
    V::S(v.to_string())
}

/// Every row of a curated table, columns as named, sorted. A fresh
/// context each time: a context caches listings, and a table is replaced
/// between reads.
async fn table(root: &Path, name: &str, columns: &[&str]) -> Vec<Vec<V>> {
    let ctx: SessionContext = local_context(session_config(&[]).expect("config")).expect("local");
    let path = root.join("curated").join(name);
    let batches: Vec<RecordBatch> = ctx
        .read_parquet(path.to_string_lossy().as_ref(), ParquetReadOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .collect()
        .await
        .expect("collect");
    let mut rows = Vec::new();
    for b in &batches {
        let cols: Vec<_> = columns
            .iter()
            .map(|c| {
                let col = b.column(b.schema().index_of(c).unwrap_or_else(|_| panic!("{name}.{c}")));
                match col.data_type() {
                    DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => {
                        cast(col, &DataType::Utf8).expect("cast")
                    }
                    DataType::Float64 => {
                        // Stars in half steps: compare as tenths.
                        let f = col.as_primitive::<Float64Type>();
                        std::sync::Arc::new(
                            f.iter()
                                .map(|v| v.map(|v| (v * 10.0).round() as i64))
                                .collect::<datafusion::arrow::array::Int64Array>(),
                        )
                    }
                    _ => cast(col, &DataType::Int64).expect("cast"),
                }
            })
            .collect();
        for r in 0..b.num_rows() {
            rows.push(
                cols.iter()
                    .map(|c| {
                        if c.is_null(r) {
                            V::Null
                        } else if c.data_type() == &DataType::Utf8 {
                            V::S(c.as_string::<i32>().value(r).to_string())
                        } else {
                            V::I(c.as_primitive::<Int64Type>().value(r))
                        }
                    })
                    .collect(),
            );
        }
    }
    rows.sort();
    rows
}

const ML_MOVIES: &str = "movieId,title,genres\r
1,\"Matrix, The (1999)\",Action|Sci-Fi\r
2,\"Misérables, Les (1995)\",Drama\r
3,Léon: The Professional (a.k.a. The Professional) (Léon) (1994),Action|Crime\r
4,\"Lock, Stock & Two Smoking Barrels (1998)\",Comedy|Crime\r
5,Hamlet (1990),Drama\r
6,Hamlet (1996),Drama\r
7,Heat (1995),Action\r
8,Seven Samurai (Shichinin no samurai) (1954),Action\r
9,Solaris (1972),Drama\r
10,Solaris (2002),Drama\r
11,Nosferatu (1922),Horror\r
";

/// `MovieID,Year,Title` lines (Latin-1 on disk).
const NF_TITLES: &[&str] = &[
    "1,1999,The Matrix",
    "2,1995,Les Misérables",
    "3,1994,The Professional",
    "4,1998,Lock, Stock and Two Smoking Barrels",
    "5,1990,Hamlet",
    "6,1991,Hamlet",
    "7,2000,Hamlet",
    "8,1996,Heat",
    "9,NULL,Nosferatu",
    "10,NULL,Solaris",
    "11,1956,Seven Samurai",
    "12,2004,Dinosaur Planet",
    "13,2001,Twice A",
    "13,2002,Twice B",
    "14,1985,Brazil: The \"Love Conquers All\" Version",
    "15,1979,Nosferatu",
    "x,2001,Bad id",
];

/// What the rating files hold, and what the stage must make of them.
struct Ratings {
    /// (movie, customer, stars, days since 1970) of every valid line.
    valid: BTreeSet<(i64, i64, i64, i64)>,
    /// (file, line, raw, reason) of every malformed line.
    rejects: Vec<(String, i64, String, String)>,
}

/// Days since 1970-01-01 of 2005-01-DD.
fn day(dd: i64) -> i64 {
    12_784 + dd - 1
}

fn write_ratings(dir: &Path) -> Ratings {
    let mut valid = BTreeSet::new();
    let mut rejects = Vec::new();
    // File 1: movies 1-7, LF, trailing newline. File 2: movies 8-14 and
    // 99 (no title), CRLF, no trailing newline, and a rating before any
    // header.
    let files: [(&str, &[i64], &str, bool); 2] = [
        ("combined_data_1.txt", &[1, 2, 3, 4, 5, 6, 7], "\n", true),
        ("combined_data_2.txt", &[8, 9, 10, 11, 12, 13, 14, 99], "\r\n", false),
    ];
    for (name, movies, eol, trailing) in files {
        let mut lines: Vec<String> = Vec::new();
        if name.ends_with("2.txt") {
            lines.push("555,3,2005-01-01".into());
            rejects.push((
                name.into(),
                1,
                format!("555,3,2005-01-01{eol}"),
                "rating line before any MovieID: header".into(),
            ));
        }
        for &m in movies {
            lines.push(format!("{m}:"));
            for j in 0..(10 + m % 7) {
                let (customer, stars, dd) = (1000 * m + j, (j + m) % 5 + 1, j % 28 + 1);
                lines.push(format!("{customer},{stars},2005-01-{dd:02}"));
                valid.insert((m, customer, stars, day(dd)));
                if j == 3 && m % 3 == 0 {
                    let bad = [
                        ("abc,3,2005-01-01", "CustomerID is not a positive integer"),
                        ("1234,6,2005-02-03", "rating is not 1..5"),
                        ("1234,3,2005-02-30", "date is not a valid YYYY-MM-DD"),
                        ("1234,3", "expected CustomerID,Rating,YYYY-MM-DD"),
                    ];
                    let (raw, why) = bad[(m as usize / 3) % bad.len()];
                    lines.push(raw.into());
                    // A reject keeps its line ending (never the file's last line here).
                    rejects.push((name.into(), lines.len() as i64, format!("{raw}{eol}"), why.into()));
                }
            }
        }
        let mut text = lines.join(eol);
        if trailing {
            text.push_str(eol);
        }
        std::fs::write(dir.join(name), text).expect("write ratings");
    }
    Ratings { valid, rejects }
}

fn write_inputs(root: &Path) -> Ratings {
    let ml = root.join("raw/movielens");
    std::fs::create_dir_all(&ml).expect("mkdir");
    std::fs::write(ml.join("movies.csv"), ML_MOVIES).expect("movies");
    std::fs::write(
        ml.join("ratings.csv"),
        "userId,movieId,rating,timestamp\n1,1,4.5,1000000000\n1,5,3.0,1000000100\n2,9,2.5,1100000000\n",
    )
    .expect("ratings");
    std::fs::write(
        ml.join("tags.csv"),
        "userId,movieId,tag,timestamp\n1,1,mind-bending,1000000000\n",
    )
    .expect("tags");
    let nf = root.join("raw/netflix_prize");
    std::fs::create_dir_all(&nf).expect("mkdir");
    let latin1: Vec<u8> = NF_TITLES
        .iter()
        .flat_map(|l| {
            l.chars()
                .map(|c| u8::try_from(u32::from(c)).expect("latin-1"))
                .chain([b'\n'])
        })
        .collect();
    std::fs::write(nf.join("movie_titles.csv"), latin1).expect("titles");
    write_ratings(&nf)
}

#[test]
fn netflix_stages_give_the_expected_rows_at_any_partitioning() {
    moodflow_tests::block_on(netflix_stages());
}

async fn netflix_stages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root_path = dir.path().to_path_buf();
    let expected = write_inputs(&root_path);
    let root = StorageRoot::parse(root_path.to_str().expect("utf-8 path")).expect("root");
    let cluster = standalone(session_config(&[]).expect("config"))
        .await
        .expect("standalone");
    let stage = |n: &str| {
        STAGES
            .iter()
            .chain(NETFLIX_STAGES)
            .find(|s| s.number == n)
            .cloned()
            .expect("stage")
    };
    let run = |stages: Vec<moodflow_pipeline::stages::Stage>, partitions: usize| {
        let cluster = cluster.clone();
        let root = root.clone();
        async move {
            let vars = BTreeMap::from([("netflix_partitions".to_string(), partitions.to_string())]);
            run_stages(
                &cluster,
                &root,
                &stages,
                &vars,
                &PipelineOptions::default(),
                &Progress::new(true),
            )
            .await
            .unwrap_or_else(|e| panic!("{partitions} partitions: {e:?}"))
        }
    };
    let mut ledgers = run(vec![stage("01")], 1).await.ledgers();

    let ratings_cols = ["movie_id", "customer_id", "rating", "date"];
    let reject_cols = ["file", "line", "raw_line", "reason"];
    let want_ratings: Vec<Vec<V>> = expected
        .valid
        .iter()
        .map(|&(m, c, r, d)| vec![i(m), i(c), i(r), i(d)])
        .collect();
    for partitions in [1, 2, 7, 16] {
        let report = run(vec![stage("07")], partitions).await;
        let got = table(&root_path, "netflix_ratings", &ratings_cols).await;
        assert_eq!(got.len(), want_ratings.len(), "{partitions} partitions");
        assert_eq!(got, want_ratings, "{partitions} partitions");
        assert_eq!(report.stages[0].written["netflix_ratings"], want_ratings.len() as u64);
        let mut got = table(&root_path, "_rejects/netflix_ratings", &reject_cols).await;
        for row in &mut got {
            let V::S(file) = &row[0] else { panic!("file is text") };
            let name = file.rsplit('/').next().expect("name").to_string();
            assert_eq!(
                *file,
                format!("file://{}/raw/netflix_prize/{name}", root_path.display())
            );
            row[0] = V::S(name);
        }
        let mut want: Vec<Vec<V>> = expected
            .rejects
            .iter()
            .map(|(f, l, raw, why)| vec![s(f), i(*l), s(raw), s(why)])
            .collect();
        want.sort();
        assert_eq!(got, want, "{partitions} partitions: rejects");
        ledgers.extend(report.ledgers());
    }

    let meta = table(&root_path, "nf_movies_meta", &["movie_id", "year", "title"]).await;
    let title = |id: i64, year: Option<i64>, t: &str| vec![i(id), year.map_or(V::Null, V::I), s(t)];
    assert_eq!(
        meta,
        vec![
            title(1, Some(1999), "The Matrix"),
            title(2, Some(1995), "Les Misérables"),
            title(3, Some(1994), "The Professional"),
            title(4, Some(1998), "Lock, Stock and Two Smoking Barrels"),
            title(5, Some(1990), "Hamlet"),
            title(6, Some(1991), "Hamlet"),
            title(7, Some(2000), "Hamlet"),
            title(8, Some(1996), "Heat"),
            title(9, None, "Nosferatu"),
            title(10, None, "Solaris"),
            title(11, Some(1956), "Seven Samurai"),
            title(12, Some(2004), "Dinosaur Planet"),
            title(14, Some(1985), "Brazil: The \"Love Conquers All\" Version"),
            title(15, Some(1979), "Nosferatu"),
        ]
    );
    let title_rejects = table(&root_path, "_rejects/nf_movies_meta", &["line", "raw_line", "reason"]).await;
    assert_eq!(
        title_rejects,
        vec![
            vec![i(13), s("13,2001,Twice A\n"), s("duplicate MovieID")],
            vec![i(14), s("13,2002,Twice B\n"), s("duplicate MovieID")],
            vec![i(17), s("x,2001,Bad id\n"), s("MovieID is not a positive integer")],
        ]
    );

    let bridged_run = run(vec![stage("08"), stage("09")], 0).await;
    let bridge = table(
        &root_path,
        "title_bridge",
        &["nf_movie_id", "movieId", "kind", "matched_on"],
    )
    .await;
    let pair = |nf: i64, ml: i64, kind: &str, on: &str| vec![i(nf), i(ml), s(kind), s(on)];
    assert_eq!(
        bridge,
        vec![
            pair(1, 1, "exact", "title"),
            pair(2, 2, "exact", "title"),
            pair(3, 3, "exact", "alternate title"),
            pair(4, 4, "exact", "title"),
            pair(5, 5, "exact", "title"),
            pair(6, 5, "year_pm1", "title"),
            pair(8, 7, "year_pm1", "title"),
            pair(9, 11, "title_only", "title"),
            pair(11, 8, "title_only", "title"),
        ]
    );
    let unmatched = table(
        &root_path,
        "title_bridge_unmatched",
        &["nf_movie_id", "reason", "candidates"],
    )
    .await;
    assert_eq!(
        unmatched,
        vec![
            vec![
                i(7),
                s("ambiguous: 2 MovieLens movies with the same title, other years"),
                s("5 6")
            ],
            vec![
                i(10),
                s("ambiguous: 2 MovieLens movies with the same title, other years"),
                s("9 10")
            ],
            vec![i(12), s("no MovieLens title with the same key"), V::Null],
            vec![i(14), s("no MovieLens title with the same key"), V::Null],
            vec![
                i(15),
                s("the one MovieLens movie with the same title is 57 years off (more than 2)"),
                s("11"),
            ],
        ]
    );

    // unified_ratings: the three MovieLens ratings, then every valid
    // Netflix rating of a bridged id under its MovieLens id.
    let bridged: BTreeMap<i64, i64> = [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 5), (8, 7), (9, 11), (11, 8)].into();
    let mut want: Vec<Vec<V>> = vec![
        vec![i(1), s("movielens"), s("ml:1"), i(45), i(1_000_000_000), i(1)],
        vec![i(5), s("movielens"), s("ml:1"), i(30), i(1_000_000_100), i(5)],
        vec![i(9), s("movielens"), s("ml:2"), i(25), i(1_100_000_000), i(9)],
    ];
    for &(m, c, r, d) in &expected.valid {
        if let Some(&ml) = bridged.get(&m) {
            want.push(vec![
                i(ml),
                s("netflix"),
                s(&format!("nf:{c}")),
                i(r * 10),
                i(d * 86_400),
                i(m),
            ]);
        }
    }
    want.sort();
    let got = table(
        &root_path,
        "unified_ratings",
        &["movieId", "source", "userId", "rating", "timestamp", "source_movie_id"],
    )
    .await;
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want);

    // Stage 09's statistics (counted from its two sources) describe the
    // unified rows above: per source, ratings, distinct users and films,
    // the mean rounded to 3 decimals and the first and last day.
    let summary = bridged_run
        .stages
        .iter()
        .find(|s| s.stage.starts_with("09_"))
        .and_then(|s| s.summary.clone())
        .expect("stage 09's statistics");
    let cells: Vec<Vec<String>> = summary
        .lines()
        .map(|l| {
            l.split('|')
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect()
        })
        .filter(|c: &Vec<String>| c.len() == 7 && (c[0] == "movielens" || c[0] == "netflix"))
        .map(|mut c| {
            // The mean as a number: "3.0" and "3" are the same figure.
            c[4] = c[4].parse::<f64>().map_or(c[4].clone(), |m| m.to_string());
            c
        })
        .collect();
    let day = |ts: i64| {
        datafusion::arrow::temporal_conversions::date32_to_datetime((ts / 86_400) as i32)
            .expect("date")
            .date()
            .to_string()
    };
    let mut expected_summary = Vec::new();
    for source in ["movielens", "netflix"] {
        let rows: Vec<_> = want.iter().filter(|r| r[1] == s(source)).collect();
        let ints = |k: usize| {
            rows.iter().map(move |r| match r[k] {
                V::I(v) => v,
                _ => panic!("integer"),
            })
        };
        let distinct = |k: usize| {
            rows.iter()
                .map(|r| format!("{:?}", r[k]))
                .collect::<BTreeSet<_>>()
                .len()
        };
        let mean = ints(3).sum::<i64>() as f64 / 10.0 / rows.len() as f64;
        expected_summary.push(vec![
            source.to_string(),
            rows.len().to_string(),
            distinct(2).to_string(),
            distinct(0).to_string(),
            ((mean * 1000.0).round() / 1000.0).to_string(),
            day(ints(4).min().expect("rows")),
            day(ints(4).max().expect("rows")),
        ]);
    }
    assert_eq!(cells, expected_summary, "{summary}");

    let report = moodflow_pipeline::verify::verify(&root).await.expect("verify");
    let text = report.render();
    for check in [
        "bridge: one MovieLens id per Netflix id",
        "unified = MovieLens + bridged Netflix ratings",
        "unified: one scale, namespaced users, no nulls",
        "bridge: both ids exist",
    ] {
        let c = report
            .checks
            .iter()
            .find(|c| c.name == check)
            .unwrap_or_else(|| panic!("{check} missing:\n{text}"));
        assert_eq!(c.level, moodflow_pipeline::verify::Level::Pass, "{text}");
    }
    assert!(
        text.contains("9 of 14 Netflix titles (64.3%): exact 5, year_pm1 2, title_only 2"),
        "{text}"
    );
    assert!(
        text.contains("ratings of movie ids missing from the titles file"),
        "{text}"
    );

    // Right after a run, the stage 11 checks take each raw file's records
    // from the run's own ledger (stages 01 and 07 here): the same verdicts
    // as counting the files again.
    let ledger_checks = |report: &moodflow_pipeline::verify::Report| -> Vec<(String, String, String)> {
        report
            .checks
            .iter()
            .filter(|c| c.name.starts_with("ledger"))
            .map(|c| (c.name.clone(), format!("{:?}", c.level), c.detail.clone()))
            .collect()
    };
    let after_run = |ledgers| {
        let root = root.clone();
        async move {
            moodflow_pipeline::verify::verify_after_run(&root, &ledgers)
                .await
                .expect("verify after the run")
        }
    };
    let recounted = ledger_checks(&report);
    for table in ["-> movielens_ratings", "-> netflix_ratings"] {
        assert!(
            recounted.iter().any(|c| c.0.ends_with(table) && c.1 == "Pass"),
            "{table}: {recounted:?}"
        );
    }
    assert_eq!(ledger_checks(&after_run(ledgers.clone()).await), recounted);

    // The run's count is of the bytes the run read: a rating appended to
    // the raw file since then shows in a recount only.
    let ratings = root_path.join("raw/movielens/ratings.csv");
    let mut bytes = std::fs::read(&ratings).expect("ratings");
    bytes.extend_from_slice(b"3,9,4.0,1200000000\n");
    std::fs::write(&ratings, bytes).expect("append");
    let level = |checks: &[(String, String, String)], name: &str| {
        checks
            .iter()
            .find(|c| c.0 == name)
            .map(|c| c.1.clone())
            .unwrap_or_else(|| panic!("{name} missing: {checks:?}"))
    };
    let recount = moodflow_pipeline::verify::verify(&root).await.expect("verify");
    assert_eq!(
        level(&ledger_checks(&recount), "ledger ratings.csv -> movielens_ratings"),
        "Fail"
    );
    let reused = ledger_checks(&after_run(ledgers.clone()).await);
    assert_eq!(level(&reused, "ledger ratings.csv -> movielens_ratings"), "Pass");

    // What the committed tables hold is always counted again: rejects
    // removed since the run fail the check after it too.
    let rejects = root_path.join("curated/_rejects/netflix_ratings");
    std::fs::remove_dir_all(&rejects).expect("remove the rejects");
    let reused = ledger_checks(&after_run(ledgers).await);
    assert!(
        reused.iter().any(|c| c.0.contains("netflix_ratings") && c.1 == "Fail"),
        "{reused:?}"
    );
}

/// Stage 07 reads each rating file once: rows, rejects and the ledger's
/// count all come from one scan (the rejects and split counts set aside
/// beside the rows), so the bytes fetched from a file are its size plus
/// the few kilobytes each split reads around its edges to find its first
/// line and the `MovieID:` in force there. Before, the rows, the rejects
/// and the ledger each read every file (three times the size). The
/// rejects, appended at the ends of two files, keep their line numbers in
/// the file, counted here from the bytes.
#[test]
fn stage_07_reads_each_rating_file_once() {
    moodflow_tests::block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let root_path = dir.path().to_path_buf();
        let ratings = 1_000_000;
        moodflow_pipeline::bench::write_netflix_files(&root_path, ratings, 3).expect("files");
        let nf = root_path.join("raw/netflix_prize");
        let mut want_rejects = Vec::new();
        for (n, junk) in [(2, "junk"), (3, "7,9,2005-01-01")] {
            let path = nf.join(format!("combined_data_{n}.txt"));
            let mut text = std::fs::read(&path).expect("read");
            text.extend_from_slice(format!("{junk}\n").as_bytes());
            let lines = text.iter().filter(|&&b| b == b'\n').count() as i64;
            std::fs::write(&path, text).expect("write");
            want_rejects.push(vec![s(&format!("combined_data_{n}.txt")), i(lines)]);
        }
        let root = StorageRoot::parse(root_path.to_str().expect("utf-8")).expect("root");
        let cluster = standalone(session_config(&[]).expect("config"))
            .await
            .expect("standalone");
        let files: Vec<(String, u64)> = (1..=4)
            .map(|n| {
                let path = nf.join(format!("combined_data_{n}.txt"));
                let size = std::fs::metadata(&path).expect("size").len();
                (format!("file://{}", path.display()), size)
            })
            .collect();
        let before: Vec<u64> = files
            .iter()
            .map(|(url, _)| moodflow_engine::formats::exec::raw_bytes_fetched(url))
            .collect();
        let stage = NETFLIX_STAGES.iter().find(|s| s.number == "07").cloned().expect("07");
        let vars = BTreeMap::from([("netflix_partitions".to_string(), "8".to_string())]);
        let report = run_stages(
            &cluster,
            &root,
            &[stage],
            &vars,
            &PipelineOptions::default(),
            &Progress::new(true),
        )
        .await
        .expect("stage 07");
        for ((url, size), before) in files.iter().zip(before) {
            let read = moodflow_engine::formats::exec::raw_bytes_fetched(url) - before;
            assert!(
                read >= *size && read <= size + 512 * 1024,
                "{url}: {read} bytes fetched for a file of {size}"
            );
        }
        assert_eq!(report.stages[0].written["netflix_ratings"], ratings);
        assert_eq!(report.stages[0].rejected["netflix_ratings"], 2);
        let mut got = table(&root_path, "_rejects/netflix_ratings", &["file", "line"]).await;
        for row in &mut got {
            let V::S(file) = &row[0] else { panic!("file is text") };
            row[0] = s(file.rsplit('/').next().expect("name"));
        }
        assert_eq!(got, want_rejects);
        // Nothing set aside is committed.
        assert!(!root_path.join("curated/_scan").exists());
    });
}
