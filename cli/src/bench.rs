//! `moodflow bench`: throughput and memory figures, printed (never asserted).
//!
//! - `vader`: texts per second on one core, for the analyzer called directly
//!   and for the `vader_compound` UDF inside a DataFusion query;
//! - `stages`: generates a data set per size, then runs stages 01-04 on a
//!   standalone Ballista, printing wall time, rows/s and the process's peak
//!   resident memory per stage (Linux: VmHWM, reset before each stage).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use moodflow_udfs::vader::analyzer;
use moodflow_udfs::{local_context, session_config, StorageRoot};

use crate::generate::vocab::{ARCHETYPES, NEUTRAL_TAGS};
use crate::generate::{generate, GenerateOptions};
use crate::pipeline::{group, run_stages, PipelineOptions, STAGES};
use crate::progress::Progress;

/// `n` short texts like the pipeline scores: tags, titles, synopses, and
/// review-like sentences with negations, boosters and punctuation.
pub fn sample_texts(n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    let mut k = 0usize;
    while out.len() < n {
        let a = &ARCHETYPES[k % ARCHETYPES.len()];
        let t = match k % 5 {
            0 => a.tags[k / 5 % a.tags.len()].to_string(),
            1 => format!(
                "{} {}.",
                a.subjects[k % a.subjects.len()],
                a.predicates[k / 3 % a.predicates.len()]
            ),
            2 => format!(
                "The {} was not {} at all!",
                a.title_words[k % a.title_words.len()],
                a.tags[k % a.tags.len()]
            ),
            3 => NEUTRAL_TAGS[k % NEUTRAL_TAGS.len()].to_string(),
            _ => format!(
                "VERY {} but kind of {} :)",
                a.tags[k % a.tags.len()],
                a.tags[(k + 1) % a.tags.len()]
            ),
        };
        out.push(t);
        k += 1;
    }
    out
}

/// Prints VADER throughput on `n` texts.
pub async fn bench_vader(n: usize) -> Result<()> {
    let texts = sample_texts(n);
    let a = analyzer();
    a.polarity_scores("warm up");
    let started = Instant::now();
    let mut sum = 0.0;
    for t in &texts {
        sum += a.polarity_scores(t).compound;
    }
    let direct = started.elapsed().as_secs_f64();
    println!(
        "vader analyzer : {} texts in {direct:.3}s = {:.0} texts/s on one core (checksum {sum:.4})",
        group(n as u64),
        n as f64 / direct
    );

    // The UDF inside a single-partition query: one core, plus Arrow and
    // DataFusion overheads.
    let schema = Arc::new(Schema::new(vec![Field::new("t", DataType::Utf8, false)]));
    let batches: Vec<RecordBatch> = texts
        .chunks(8192)
        .map(|c| RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(StringArray::from(c.to_vec()))]))
        .collect::<Result<_, _>>()?;
    let ctx = local_context(session_config(&[(
        "datafusion.execution.target_partitions".into(),
        "1".into(),
    )])?)?;
    ctx.register_table("texts", Arc::new(MemTable::try_new(schema, vec![batches])?))?;
    let started = Instant::now();
    ctx.sql("SELECT sum(vader_compound(t)) FROM texts")
        .await?
        .collect()
        .await?;
    let udf = started.elapsed().as_secs_f64();
    println!(
        "vader_compound : {} texts in {udf:.3}s = {:.0} texts/s on one core (SQL, 1 partition)",
        group(n as u64),
        n as f64 / udf
    );
    Ok(())
}

/// Peak resident memory of this process since the last reset, in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Resets the peak (Linux 4.0+: writing 5 to clear_refs).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Generates `ratings` ratings under `dir` and runs stages 01-04 there.
pub async fn bench_stages(dir: &Path, ratings: u64, scheduler: Option<&str>) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    let started = Instant::now();
    let summary = generate(dir, GenerateOptions { ratings, seed: 42 })?;
    let bytes: u64 = ["raw/movielens", "raw/netflix_prize", "raw/catalog"]
        .iter()
        .flat_map(|d| std::fs::read_dir(dir.join(d)).into_iter().flatten().flatten())
        .filter_map(|e| e.metadata().ok().map(|m| m.len()))
        .sum();
    println!(
        "generate {} ratings: {:.2}s ({} movies, {:.1} MB of raw files)",
        group(summary.ratings),
        started.elapsed().as_secs_f64(),
        group(summary.movies),
        bytes as f64 / 1e6
    );
    let root = StorageRoot::parse(&dir.to_string_lossy())?;
    let cluster = crate::connect(scheduler, session_config(&[])?).await?;
    let quiet = Progress::new(true);
    println!(
        "{:<20} {:>9} {:>12} {:>12} {:>12} {:>14}",
        "stage", "wall", "rows read", "written", "rows/s", "peak RSS MiB"
    );
    for stage in STAGES {
        reset_peak_rss();
        let report = run_stages(
            &cluster,
            &root,
            std::slice::from_ref(stage),
            &BTreeMap::new(),
            &PipelineOptions::default(),
            &quiet,
        )
        .await?;
        let s = &report.stages[0];
        let secs = s.elapsed.as_secs_f64();
        let written: u64 = s.written.values().sum();
        println!(
            "{:<20} {:>8.2}s {:>12} {:>12} {:>12.0} {:>14}",
            s.stage,
            secs,
            group(s.rows_read),
            group(written),
            s.rows_read.max(written) as f64 / secs,
            peak_rss_mib().map_or("n/a".into(), |m| format!("{m:.0}"))
        );
    }
    Ok(())
}

/// Prints requests/s and latency percentiles of the dashboard's API under
/// `clients` concurrent keep-alive connections on loopback, for `seconds`
/// per endpoint, against the pipeline outputs under `root`.
pub async fn bench_dashboard(root: &StorageRoot, clients: usize, seconds: u64) -> Result<()> {
    use moodflow_dashboard::{bench::load, bind, serve, AppState, Settings};
    let settings = Settings {
        root: root.clone(),
        damping: 10.0,
        refresh: std::time::Duration::from_secs(3600),
    };
    let state = AppState::load(settings).await?;
    let served = state.clone();
    let s = state
        .snapshot()
        .map_err(|p| anyhow::anyhow!("{p}"))
        .context("bench dashboard needs a pipeline run")?;
    let mood = s.moods.iter().max_by_key(|m| m.mood.size).context("no mood")?;
    let movie = s.movies[mood.ranked[0]].id;
    let genre = s
        .genres
        .iter()
        .max_by_key(|g| s.movies.iter().filter(|m| m.genres.contains(g)).count())
        .cloned()
        .unwrap_or_default();
    let (listener, addr) = bind("127.0.0.1:0").await?;
    let server = tokio::spawn(serve(served, listener));
    println!(
        "dashboard over {} movies, {} moods ({}); {clients} clients, {seconds} s per endpoint, {} cores",
        group(s.movies.len() as u64),
        s.moods.len(),
        root,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:<58} {:>10} {:>9} {:>9} {:>9} {:>8} {:>7}",
        "endpoint", "requests", "req/s", "p50 ms", "p99 ms", "max ms", "errors"
    );
    let endpoints = [
        format!("/api/moods/{}/playlist", mood.slug),
        format!(
            "/api/moods/{}/playlist?genre={}&year_min=1990&min_ratings=5&limit=50",
            mood.slug,
            url::form_urlencoded::byte_serialize(genre.as_bytes()).collect::<String>()
        ),
        format!("/api/movies/{movie}/similar"),
        format!("/moods/{}", mood.slug),
    ];
    for path in endpoints {
        let r = load(addr, &path, clients, std::time::Duration::from_secs(seconds)).await?;
        println!(
            "{:<58} {:>10} {:>9.0} {:>9.2} {:>9.2} {:>8.1} {:>7}",
            path,
            group(r.ok),
            r.rps(),
            r.p50.as_secs_f64() * 1e3,
            r.p99.as_secs_f64() * 1e3,
            r.max.as_secs_f64() * 1e3,
            r.errors
        );
    }
    server.abort();
    Ok(())
}

/// Prints the latency of `n` trivial jobs (`SELECT 1`) submitted one after
/// another on one session: Ballista's fixed cost per job (planning,
/// scheduling, task launch, result fetch), the floor under every stage and
/// every k-means pass.
pub async fn bench_job(scheduler: Option<&str>, n: usize) -> Result<()> {
    let cluster = crate::connect(scheduler, session_config(&[])?).await?;
    // One warm-up job: connections, the first plan.
    cluster.ctx.sql("SELECT 1").await?.collect().await?;
    let mut ms = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let batches = cluster.ctx.sql("SELECT 1 AS one").await?.collect().await?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(
            batches.iter().map(RecordBatch::num_rows).sum::<usize>() == 1,
            "SELECT 1 gave no row"
        );
    }
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| ms[((ms.len() as f64 * p).ceil() as usize).clamp(1, ms.len()) - 1];
    println!(
        "{n} trivial jobs on {}: mean {:.1} ms, p50 {:.1} ms, p99 {:.1} ms, min {:.1} ms",
        scheduler.unwrap_or("a standalone Ballista"),
        ms.iter().sum::<f64>() / n as f64,
        pct(0.5),
        pct(0.99),
        ms[0]
    );
    Ok(())
}
