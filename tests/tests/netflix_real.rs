//! The Netflix Prize split parser on a real rating block
//! (`netflix-prize/samples/SampleTrainingFileMovie2043.txt` in the shared
//! data folder; skipped when it is absent): every line read once, the same
//! ratings for 1, 2, 7 and 16 byte-range splits, LF and CRLF.

use moodflow_engine::formats::netflix::{parse_split, Rating};

fn parse(data: &[u8], parts: usize) -> (Vec<Rating>, usize) {
    let (mut ok, mut bad) = (Vec::new(), 0);
    let step = data.len().div_ceil(parts);
    for p in 0..parts {
        let (start, end) = (p * step, ((p + 1) * step).min(data.len()));
        parse_split(data, start, end, &mut |r| ok.push(r), &mut |_| bad += 1);
    }
    (ok, bad)
}

#[test]
fn a_real_block_splits_the_same_at_any_partitioning() {
    let Some(dir) = moodflow_tests::shared_data() else {
        eprintln!("skipped: ../shared/data is absent");
        return;
    };
    let Ok(data) = std::fs::read(dir.join("netflix-prize/samples/SampleTrainingFileMovie2043.txt")) else {
        eprintln!("skipped: the Netflix sample block is absent");
        return;
    };
    let (whole, bad) = parse(&data, 1);
    // 7,872 lines: the `2043:` header and 7,871 ratings.
    assert_eq!((whole.len(), bad), (7871, 0));
    assert!(whole.iter().all(|r| r.movie_id == 2043 && (1..=5).contains(&r.rating)));
    assert_eq!(
        (whole[0].customer_id, whole[0].rating),
        (716_091, 2),
        "first line 716091,2,2003-10-02"
    );
    let crlf: Vec<u8> = String::from_utf8_lossy(&data).replace('\n', "\r\n").into_bytes();
    for parts in [2, 7, 16] {
        assert_eq!(parse(&data, parts), (whole.clone(), 0), "{parts} splits");
        assert_eq!(parse(&crlf, parts), (whole.clone(), 0), "{parts} splits, CRLF");
    }
}

/// Copies (never into the repo: into a temp root) what the real-data
/// tests need, or says why they are skipped.
fn real_root(with_movielens: bool) -> Option<tempfile::TempDir> {
    let Some(data) = moodflow_tests::shared_data() else {
        eprintln!("skipped: ../shared/data is absent");
        return None;
    };
    let titles = data.join("netflix-prize/movie_titles.txt");
    let block = data.join("netflix-prize/samples/SampleTrainingFileMovie2043.txt");
    let ml = data.join("ml-latest-small");
    if !titles.is_file() || !block.is_file() || (with_movielens && !ml.is_dir()) {
        eprintln!("skipped: the Netflix Prize titles, its sample block or ml-latest-small is absent");
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let nf = dir.path().join("raw/netflix_prize");
    std::fs::create_dir_all(&nf).expect("mkdir");
    std::fs::copy(&titles, nf.join("movie_titles.txt")).expect("copy titles");
    std::fs::copy(&block, nf.join("combined_data_1.txt")).expect("copy block");
    if with_movielens {
        let to = dir.path().join("raw/movielens");
        std::fs::create_dir_all(&to).expect("mkdir");
        for f in ["movies.csv", "ratings.csv", "tags.csv", "links.csv"] {
            std::fs::copy(ml.join(f), to.join(f)).expect("copy ml-latest-small");
        }
    }
    Some(dir)
}

async fn count(ctx: &datafusion::prelude::SessionContext, sql: &str) -> i64 {
    let batches = ctx.sql(sql).await.expect("plan").collect().await.expect("run");
    let c = datafusion::arrow::compute::cast(batches[0].column(0), &datafusion::arrow::datatypes::DataType::Int64)
        .expect("cast");
    datafusion::arrow::array::AsArray::as_primitive::<datafusion::arrow::datatypes::Int64Type>(&c).value(0)
}

/// The real titles file (Latin-1, 336 titles with commas, 7 `NULL` years)
/// and the real rating block through the engine extension on Ballista, at
/// 1, 2, 7 and 16 byte-range splits.
#[test]
fn real_netflix_files_through_the_tables() {
    let Some(dir) = real_root(false) else { return };
    moodflow_tests::block_on(async move {
        let cluster = moodflow_standalone::standalone(moodflow_engine::session_config(&[]).expect("config"))
            .await
            .expect("standalone");
        let ctx = &cluster.ctx;
        let nf = dir.path().join("raw/netflix_prize");
        ctx.sql(&format!(
            "CREATE EXTERNAL TABLE t STORED AS NETFLIX_TITLES LOCATION '{}/movie_titles.txt'",
            nf.display()
        ))
        .await
        .expect("titles table");
        assert_eq!(count(ctx, "SELECT count(*) FROM t WHERE reason IS NULL").await, 17_770);
        assert_eq!(count(ctx, "SELECT count(*) FROM t WHERE reason IS NOT NULL").await, 0);
        assert_eq!(count(ctx, "SELECT count(DISTINCT movie_id) FROM t").await, 17_770);
        assert_eq!(count(ctx, "SELECT count(*) FROM t WHERE year IS NULL").await, 7);
        assert_eq!(
            count(ctx, "SELECT count(*) FROM t WHERE strpos(title, ',') > 0").await,
            336
        );
        assert_eq!(
            count(ctx, "SELECT count(*) FROM t WHERE strpos(title, '\"') > 0").await,
            7
        );
        for (id, title) in [
            (6483, "Smokey Joe's Café"),
            (394, "20,000 Leagues Under the Sea"),
            (4825, "Brazil: The \"Love Conquers All\" Version"),
            (4388, "Ancient Civilizations: Rome and Pompeii"),
        ] {
            let sql = format!(
                "SELECT count(*) FROM t WHERE movie_id = {id} AND title = '{}'",
                title.replace('\'', "''")
            );
            assert_eq!(count(ctx, &sql).await, 1, "{id} {title}");
        }

        let data = std::fs::read(nf.join("combined_data_1.txt")).expect("block");
        let (want, _) = parse(&data, 1);
        let want_sum: i64 = want
            .iter()
            .map(|r| r.customer_id * 10 + i64::from(r.rating) + i64::from(r.date))
            .sum();
        for parts in [1, 2, 7, 16] {
            ctx.sql(&format!(
                "CREATE OR REPLACE EXTERNAL TABLE r{parts} STORED AS NETFLIX_RATINGS LOCATION '{}/combined_data_1.txt' \
                 OPTIONS ('partitions' '{parts}')",
                nf.display()
            ))
            .await
            .expect("ratings table");
            let table = format!("r{parts}");
            assert_eq!(
                count(ctx, &format!("SELECT count(*) FROM {table} WHERE reason IS NULL")).await,
                7_871
            );
            assert_eq!(
                count(ctx, &format!("SELECT count(*) FROM {table} WHERE reason IS NOT NULL")).await,
                0
            );
            assert_eq!(
                count(ctx, &format!("SELECT count(*) FROM {table} WHERE movie_id <> 2043")).await,
                0,
                "{parts} splits: every split knows its MovieID"
            );
            let sum = count(
                ctx,
                &format!(
                    "SELECT sum(customer_id * 10 + rating + CAST(CAST(date AS INT) AS BIGINT)) FROM {table} WHERE reason IS NULL"
                ),
            )
            .await;
            assert_eq!(sum, want_sum, "{parts} splits: the parser's rows");
        }
    });
}

/// The real bridge: ml-latest-small against the 17,770 Netflix titles,
/// stages 01, 07, 08, 09 on Ballista. The counts are this data's (checked
/// by eye on a sample of 100 pairs: 99 right, see the README); a change to
/// the matching rules shows here first.
#[test]
fn real_bridge_between_movielens_and_netflix() {
    let Some(dir) = real_root(true) else { return };
    moodflow_tests::block_on(async move {
        use moodflow_pipeline::stages::{NETFLIX_STAGES, STAGES};
        let root = moodflow_engine::StorageRoot::parse(dir.path().to_str().expect("utf-8")).expect("root");
        let cluster = moodflow_standalone::standalone(moodflow_engine::session_config(&[]).expect("config"))
            .await
            .expect("standalone");
        let mut stages = vec![STAGES[0].clone()];
        stages.extend_from_slice(NETFLIX_STAGES);
        // As `moodflow run` does: find the titles file (.txt here).
        let inputs = moodflow_pipeline::stages::netflix_inputs(&cluster.ctx, &root)
            .await
            .expect("list")
            .expect("the Netflix files are there");
        assert_eq!(inputs.titles_file, "movie_titles.txt");
        let (_, vars) = moodflow_pipeline::stages::run_plan(Some(&inputs));
        let report = moodflow_pipeline::stages::run_stages(
            &cluster,
            &root,
            &stages,
            &vars,
            &moodflow_pipeline::stages::PipelineOptions::default(),
            &moodflow_pipeline::progress::Progress::new(true),
        )
        .await
        .expect("stages");
        let written = |stage: usize, table: &str| report.stages[stage].written[table];
        assert_eq!(written(1, "nf_movies_meta"), 17_770);
        assert_eq!(written(1, "netflix_ratings"), 7_871);
        assert_eq!(
            written(2, "title_bridge") + written(2, "title_bridge_unmatched"),
            17_770
        );
        assert_eq!(
            written(3, "unified_ratings"),
            100_836 + 7_871,
            "Shane (2043) is bridged"
        );

        let ctx = moodflow_engine::local_context(moodflow_engine::session_config(&[]).expect("config")).expect("ctx");
        ctx.register_parquet(
            "bridge",
            &format!("{}/curated/title_bridge/", dir.path().display()),
            Default::default(),
        )
        .await
        .expect("bridge");
        let kinds = [("exact", 4_601), ("year_pm1", 338), ("title_only", 51)];
        for (kind, n) in kinds {
            assert_eq!(
                count(&ctx, &format!("SELECT count(*) FROM bridge WHERE kind = '{kind}'")).await,
                n,
                "{kind}"
            );
        }
        assert_eq!(
            count(
                &ctx,
                "SELECT count(*) FROM (SELECT nf_movie_id FROM bridge GROUP BY nf_movie_id HAVING count(*) > 1)"
            )
            .await,
            0
        );
        for (nf, ml, kind, on) in [
            (14_691, 2_571, "exact", "title"),          // The Matrix / Matrix, The (1999)
            (2_043, 3_871, "exact", "title"),           // Shane
            (1_324, 293, "exact", "alternate title"),   // The Professional / Léon (a.k.a. ...)
            (2_178, 2_542, "exact", "title"),           // Lock, Stock and ... / Lock, Stock & ...
            (6_029, 4_973, "exact", "title"),           // Amelie / Amelie (Fabuleux destin ...)
            (1_735, 7_089, "year_pm1", "title"),        // Amarcord 1974 / 1973
            (1_974, 58, "year_pm1", "alternate title"), // Il Postino / Postman, The (Postino, Il)
        ] {
            let sql = format!(
                "SELECT count(*) FROM bridge WHERE nf_movie_id = {nf} AND \"movieId\" = {ml} \
                 AND kind = '{kind}' AND matched_on = '{on}'"
            );
            assert_eq!(count(&ctx, &sql).await, 1, "{nf} -> {ml}");
        }
    });
}
