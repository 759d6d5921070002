//! The scan against the pure parser: whatever the partitions and read
//! sizes, a table gives the rows and rejects (with line numbers) that
//! [`parse_split`] gives over the whole file, also after a trip through
//! the codecs.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Date32Type, Int64Type, Int8Type};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use proptest::prelude::*;

use super::netflix::tests::file;
use super::netflix::{line_number, parse_split};
use crate::codec::MoodflowPhysicalCodec;

type Row = (i64, i64, i8, i32);
type Reject = (i64, String, String);

fn context() -> SessionContext {
    crate::local_context(SessionConfig::new().with_batch_size(7)).expect("context")
}

fn expected(data: &[u8]) -> (Vec<Row>, Vec<Reject>) {
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    parse_split(
        data,
        0,
        data.len(),
        &mut |r| ok.push((r.movie_id, r.customer_id, r.rating as i8, r.date)),
        &mut |b| bad.push((line_number(data, b.offset) as i64, b.raw, b.reason)),
    );
    (ok, bad)
}

fn rows(batches: &[RecordBatch]) -> Vec<Row> {
    let mut out = Vec::new();
    for b in batches {
        let m = b.column(0).as_primitive::<Int64Type>();
        let c = b.column(1).as_primitive::<Int64Type>();
        let r = b.column(2).as_primitive::<Int8Type>();
        let d = b.column(3).as_primitive::<Date32Type>();
        out.extend((0..b.num_rows()).map(|i| (m.value(i), c.value(i), r.value(i), d.value(i))));
    }
    out
}

fn rejects(batches: &[RecordBatch], file: &str) -> Vec<Reject> {
    let mut out = Vec::new();
    for b in batches {
        // A raw scan's `file` is a view of one URL per chunk.
        let f = b.column(0).as_string_view();
        let l = b.column(1).as_primitive::<Int64Type>();
        let raw = b.column(2).as_string::<i32>();
        let why = b.column(3).as_string::<i32>();
        for i in 0..b.num_rows() {
            assert!(
                f.value(i).starts_with("file:///") && f.value(i).ends_with(file),
                "{} names {file}",
                f.value(i)
            );
            assert!(!l.is_null(i));
            out.push((l.value(i), raw.value(i).to_string(), why.value(i).to_string()));
        }
    }
    out
}

/// Runs the scan of `sql`'s plan after encoding and decoding it with the
/// physical codec, partition by partition in order.
async fn run_decoded(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    let plan = ctx
        .sql(sql)
        .await
        .expect("plan")
        .create_physical_plan()
        .await
        .expect("physical");
    let plan = roundtrip(plan, ctx);
    let mut out = Vec::new();
    for p in 0..plan.properties().output_partitioning().partition_count() {
        let stream = plan.execute(p, ctx.task_ctx()).expect("execute");
        out.extend(
            datafusion::physical_plan::common::collect(stream)
                .await
                .expect("collect"),
        );
    }
    out
}

fn roundtrip(plan: Arc<dyn ExecutionPlan>, ctx: &SessionContext) -> Arc<dyn ExecutionPlan> {
    use datafusion_proto::physical_plan::AsExecutionPlan;
    use datafusion_proto::protobuf::PhysicalPlanNode;
    let codec = MoodflowPhysicalCodec::default();
    let proto = PhysicalPlanNode::try_from_physical_plan(plan, &codec).expect("encode");
    proto.try_into_physical_plan(&ctx.task_ctx(), &codec).expect("decode")
}

async fn scan(dir: &std::path::Path, data: &[u8], partitions: usize, chunk: usize) -> (Vec<Row>, Vec<Reject>) {
    std::fs::write(dir.join("combined_data_1.txt"), data).expect("write");
    let ctx = context();
    ctx.sql(&format!(
        "CREATE EXTERNAL TABLE nf STORED AS NETFLIX_RATINGS LOCATION '{}/combined_data_*.txt' \
         OPTIONS ('partitions' '{partitions}', 'chunk_bytes' '{chunk}')",
        dir.display()
    ))
    .await
    .expect("create");
    let ok = run_decoded(
        &ctx,
        "SELECT movie_id, customer_id, rating, date FROM nf WHERE reason IS NULL",
    )
    .await;
    let bad = run_decoded(
        &ctx,
        "SELECT file, line, raw_line, reason FROM nf WHERE reason IS NOT NULL",
    )
    .await;
    (rows(&ok), rejects(&bad, "combined_data_1.txt"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn any_partitioning_and_read_size_gives_the_parser_rows(
        text in file(),
        partitions in prop_oneof![Just(1usize), Just(2), Just(7), Just(16), 1usize..40],
        chunk in prop_oneof![1usize..5, 5usize..64, Just(1 << 20)],
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let runtime = crate::tokio_runtime().expect("runtime");
        let got = runtime.block_on(scan(dir.path(), text.as_bytes(), partitions, chunk));
        prop_assert_eq!(got, expected(text.as_bytes()));
    }
}

#[test]
fn a_titles_file_keeps_commas_quotes_and_latin1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = b"1,2003,Dinosaur Planet\n2,NULL,Isle of Man TT 2004 Review\n394,1916,20,000 Leagues Under the Sea\n\
4825,1985,Brazil: The \"Love Conquers All\" Version\n6483,2001,Smokey Joe's Caf\xe9\nseven,2001,Bad\n8,20x1,Bad year\n";
    std::fs::write(dir.path().join("movie_titles.csv"), data).expect("write");
    let runtime = crate::tokio_runtime().expect("runtime");
    runtime.block_on(async {
        let ctx = context();
        ctx.sql(&format!(
            "CREATE EXTERNAL TABLE t STORED AS NETFLIX_TITLES LOCATION '{}/movie_titles.csv'",
            dir.path().display()
        ))
        .await
        .expect("create");
        let batches = run_decoded(&ctx, "SELECT movie_id, year, title, line, reason FROM t").await;
        type TitleRow = (Option<i64>, Option<i32>, Option<String>, Option<i64>, Option<String>);
        let mut got: Vec<TitleRow> = Vec::new();
        for b in &batches {
            let id = b.column(0).as_primitive::<Int64Type>();
            let year = b.column(1).as_primitive::<datafusion::arrow::datatypes::Int32Type>();
            let title = b.column(2).as_string::<i32>();
            let line = b.column(3).as_primitive::<Int64Type>();
            let reason = b.column(4).as_string::<i32>();
            for i in 0..b.num_rows() {
                got.push((
                    (!id.is_null(i)).then(|| id.value(i)),
                    (!year.is_null(i)).then(|| year.value(i)),
                    (!title.is_null(i)).then(|| title.value(i).to_string()),
                    (!line.is_null(i)).then(|| line.value(i)),
                    (!reason.is_null(i)).then(|| reason.value(i).to_string()),
                ));
            }
        }
        let mut line = 0;
        let mut title = |id: i64, year: Option<i32>, t: &str| {
            line += 1;
            (Some(id), year, Some(t.to_string()), Some(line), None)
        };
        let reject = |line: i64, why: &str| (None, None, None, Some(line), Some(why.to_string()));
        assert_eq!(
            got,
            vec![
                title(1, Some(2003), "Dinosaur Planet"),
                title(2, None, "Isle of Man TT 2004 Review"),
                title(394, Some(1916), "20,000 Leagues Under the Sea"),
                title(4825, Some(1985), "Brazil: The \"Love Conquers All\" Version"),
                title(6483, Some(2001), "Smokey Joe's Café"),
                reject(6, "MovieID is not a positive integer"),
                reject(7, "year is not NULL or a year 1850..2100"),
            ]
        );
    });
}

#[test]
fn a_missing_location_is_a_plan_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = crate::tokio_runtime().expect("runtime");
    runtime.block_on(async {
        let ctx = context();
        let location = format!("{}/combined_data_*.txt", dir.path().display());
        ctx.sql(&format!(
            "CREATE EXTERNAL TABLE nf STORED AS NETFLIX_RATINGS LOCATION '{location}'"
        ))
        .await
        .expect("create");
        let err = ctx
            .sql("SELECT count(*) FROM nf")
            .await
            .expect("plan")
            .collect()
            .await
            .expect_err("no files");
        assert!(
            err.to_string()
                .contains(&format!("no Netflix Prize files match {location}")),
            "{err}"
        );
        let err = ctx
            .sql(&format!(
                "CREATE EXTERNAL TABLE nf2 STORED AS NETFLIX_RATINGS LOCATION '{location}' OPTIONS ('partitons' '2')"
            ))
            .await
            .expect_err("typo");
        assert!(err.to_string().contains("unknown option"), "{err}");
    });
}

/// Every column of a CSV scan, in order, as text (null as `None`).
async fn csv_scan(
    dir: &std::path::Path,
    partitions: usize,
    chunk: usize,
    side: Option<&str>,
) -> Vec<Vec<Option<String>>> {
    // moodflow's settings: `VARCHAR` is `Utf8`, as the jobs declare it.
    let config = crate::session_config(&[]).expect("config").with_batch_size(7);
    let ctx = crate::local_context(config).expect("context");
    let side = side.map_or(String::new(), |s| format!(", 'side_outputs' '{s}'"));
    ctx.sql(&format!(
        "CREATE EXTERNAL TABLE m (\"movieId\" VARCHAR, title VARCHAR, genres VARCHAR) STORED AS MOODFLOW_CSV \
         LOCATION '{}/movies.csv' OPTIONS ('partitions' '{partitions}', 'chunk_bytes' '{chunk}', \
         'max_record_lines' '3'{side})",
        dir.display()
    ))
    .await
    .expect("create");
    text_rows(&run_decoded(&ctx, "SELECT * FROM m").await)
}

/// Every row of `batches`, each column cast to text (null as `None`), in
/// order.
fn text_rows(batches: &[RecordBatch]) -> Vec<Vec<Option<String>>> {
    let mut out = Vec::new();
    for b in batches {
        let columns: Vec<_> = b
            .columns()
            .iter()
            .map(|c| datafusion::arrow::compute::cast(c, &datafusion::arrow::datatypes::DataType::Utf8).expect("cast"))
            .collect();
        for i in 0..b.num_rows() {
            out.push(
                columns
                    .iter()
                    .map(|c| {
                        let c = c.as_string::<i32>();
                        (!c.is_null(i)).then(|| c.value(i).to_string())
                    })
                    .collect(),
            );
        }
    }
    out
}

/// A movies.csv with a header, quoted titles over two lines, a stray quote,
/// CRLF endings and bad records, in any mix.
fn movies_csv() -> impl Strategy<Value = String> {
    let record = prop_oneof![
        4 => (1u32..999, "[a-z ]{1,12}").prop_map(|(id, t)| format!("{id},{t},Drama|Comedy\n")),
        2 => (1u32..999, "[a-z]{1,6}", "[a-z]{1,6}").prop_map(|(id, a, b)| format!("{id},\"{a}\n{b}, The\",Drama\n")),
        1 => (1u32..999, "[a-z]{1,6}").prop_map(|(id, t)| format!("{id},\"{t} \"\"quoted\"\"\",Crime\r\n")),
        1 => Just("7,Stray \"quote,Drama\n".to_string()),
        1 => Just("8,\"open,Drama\n".to_string()),
        1 => Just("\n".to_string()),
        1 => Just("9,too,many,fields\n".to_string()),
    ];
    (proptest::collection::vec(record, 0..40), any::<bool>(), any::<bool>()).prop_map(|(records, header, tail)| {
        let mut text = String::new();
        if header {
            text.push_str("movieId,title,genres\n");
        }
        text.extend(records);
        if tail && text.ends_with('\n') {
            text.pop(); // a last line without its line ending
        }
        text
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    /// A CSV file cut into byte ranges reads as the whole file (rows, line
    /// numbers, raw text and reasons), whatever the ranges and read sizes;
    /// the ranges' counts add up to the file's lines and records.
    #[test]
    fn a_csv_file_in_any_ranges_reads_as_one(
        text in movies_csv(),
        partitions in prop_oneof![Just(2usize), Just(3), Just(7), 1usize..40],
        chunk in prop_oneof![1usize..7, 7usize..64, Just(1 << 20)],
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("movies.csv"), &text).expect("write");
        let side = format!("{}/side/", dir.path().display());
        let runtime = crate::tokio_runtime().expect("runtime");
        let whole = runtime.block_on(csv_scan(dir.path(), 1, 1 << 20, None));
        let ranges = runtime.block_on(csv_scan(dir.path(), partitions, chunk, Some(&side)));
        prop_assert_eq!(&ranges, &whole);
        // Each row's line, last line, raw text and reason are its record's
        // as the reader alone reads the file (the scan builds `line_end`
        // only once a record spans lines, and owes the valid rows' null
        // reasons until a reject).
        let mut reader = super::csv::CsvReader::new(super::csv::Limits {
            fields: 3,
            max_record_lines: 3,
            max_record_bytes: super::csv::DEFAULT_MAX_RECORD_BYTES,
        });
        reader.feed(text.as_bytes());
        reader.finish();
        let mut records = Vec::new();
        while let Some(r) = reader.next_record() {
            let reason = match r.outcome {
                super::csv::Outcome::Fields(_) => None,
                super::csv::Outcome::Bad(why) => Some(why),
            };
            let raw = String::from_utf8(r.raw).expect("ASCII");
            records.push(vec![Some(r.line.to_string()), Some(r.line_end.to_string()), Some(raw), reason]);
        }
        // The header (the first line, with or without its line ending; no
        // generated record reads so) is not a row.
        if text.split('\n').next() == Some("movieId,title,genres") {
            records.remove(0);
        }
        let scanned: Vec<Vec<Option<String>>> = whole.iter().map(|row| row[4..].to_vec()).collect();
        prop_assert_eq!(scanned, records);
        let tallies = runtime.block_on(async {
            let ctx = context();
            ctx.register_parquet("tallies", format!("{side}splits/"), Default::default())
                .await
                .expect("the scan wrote its counts");
            ctx.sql("SELECT sum(lines), sum(records), sum(covered) FROM tallies")
            .await
            .expect("sql")
            .collect()
            .await
            .expect("collect")
        });
        let sums: Vec<Option<i64>> = (0..3)
            .map(|i| {
                let c = tallies[0].column(i).as_primitive::<Int64Type>();
                (!c.is_null(0)).then(|| c.value(0))
            })
            .collect();
        let physical = text.matches('\n').count() as i64 + i64::from(!text.is_empty() && !text.ends_with('\n'));
        prop_assert_eq!(sums[0].unwrap_or(0), physical);
        prop_assert_eq!(sums[1].unwrap_or(0), whole.len() as i64);
        // Every line is in a record or the header.
        let header = match whole.first() {
            Some(row) => row[4].as_deref().expect("line").parse::<i64>().expect("number") - 1,
            None => physical,
        };
        prop_assert_eq!(sums[2].unwrap_or(0) + header, physical);
    }
}

/// A typed MOODFLOW_CSV column holds what `TRY_CAST` of the same field's
/// text gives (DataFusion's cast, run on a text table over the same file),
/// NULL where it does not parse, after a trip through the codecs; a record
/// that is a reject has NULL in every column, typed or not.
#[test]
fn a_typed_csv_column_is_try_cast_of_its_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let values = [
        "12",
        " 12",
        "12 ",
        "+12",
        "-3",
        "0",
        "007",
        "1e3",
        "4.5",
        "4.",
        ".5",
        "abc",
        "",
        "NaN",
        "inf",
        "-inf",
        "0x10",
        "9223372036854775807",
        "9223372036854775808",
        "2147483648",
        "1_000",
        "\"\"\"5\"\"\"",
        "\"7\"",
        "5\r",
    ];
    let mut text = String::from("a,b,c\n");
    for v in values {
        text.push_str(&format!("{v},{v},{v}\n"));
    }
    text.push_str("1,2\n"); // a reject: two fields
    std::fs::write(dir.path().join("t.csv"), &text).expect("write");
    let config = crate::session_config(&[]).expect("config").with_batch_size(5);
    let ctx = crate::local_context(config).expect("context");
    let runtime = crate::tokio_runtime().expect("runtime");
    let (typed, reference) = runtime.block_on(async {
        for (name, types) in [("typed", ["BIGINT", "INT", "DOUBLE"]), ("text", ["VARCHAR"; 3])] {
            ctx.sql(&format!(
                "CREATE EXTERNAL TABLE {name} (a {}, b {}, c {}) STORED AS MOODFLOW_CSV LOCATION '{}/t.csv'",
                types[0],
                types[1],
                types[2],
                dir.path().display()
            ))
            .await
            .expect("create");
        }
        let typed = run_decoded(
            &ctx,
            "SELECT line, CAST(a AS VARCHAR), CAST(b AS VARCHAR), CAST(c AS VARCHAR), reason FROM typed",
        )
        .await;
        let reference = run_decoded(
            &ctx,
            "SELECT line, CAST(TRY_CAST(a AS BIGINT) AS VARCHAR), CAST(TRY_CAST(b AS INT) AS VARCHAR), \
             CAST(TRY_CAST(c AS DOUBLE) AS VARCHAR), reason FROM text",
        )
        .await;
        (typed, reference)
    });
    let rows = |batches: &[RecordBatch]| {
        let mut out = text_rows(batches);
        out.sort();
        out
    };
    let (typed, reference) = (rows(&typed), rows(&reference));
    assert_eq!(typed.len(), values.len() + 1, "every record, the header aside");
    assert_eq!(typed, reference);
    // Not vacuous: numbers parsed, bad values NULL, the reject all NULL.
    let a: Vec<Option<&str>> = typed.iter().map(|r| r[1].as_deref()).collect();
    assert!(a.contains(&Some("12")) && a.contains(&Some("-3")) && a.contains(&None));
    let reject = typed.iter().find(|r| r[4].is_some()).expect("the two-field record");
    assert_eq!(reject[1..4], [None, None, None]);
}

/// A column type a MOODFLOW_CSV table cannot read is a plan error naming
/// the table and the column.
#[test]
fn an_unsupported_csv_column_type_is_a_plan_error() {
    let config = crate::session_config(&[]).expect("config");
    let ctx = crate::local_context(config).expect("context");
    let runtime = crate::tokio_runtime().expect("runtime");
    let err = runtime
        .block_on(
            ctx.sql("CREATE EXTERNAL TABLE d (a BIGINT, day DATE) STORED AS MOODFLOW_CSV LOCATION '/nowhere/d.csv'"),
        )
        .expect_err("a DATE column is refused")
        .to_string();
    assert!(
        err.contains("d: column day is Date32") && err.contains("VARCHAR, INT, BIGINT or DOUBLE"),
        "{err}"
    );
}
