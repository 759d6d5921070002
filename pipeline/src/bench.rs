//! `moodflow bench`: throughput and memory figures, printed (never asserted).
//!
//! - `vader`: texts per second on one core, for the analyzer called directly
//!   and for the `vader_compound` UDF inside a DataFusion query;
//! - `stages`: generates a data set per size, then runs stages 01-04 on a
//!   standalone Ballista, printing wall time, rows/s and the process's peak
//!   resident memory per stage (Linux: VmHWM, reset before each stage);
//! - `netflix`: generated Netflix Prize rating files of a given size, read
//!   by `wc -l` (the floor: one pass over the bytes), by the Netflix scan
//!   alone and by the whole stage 07 (scan, Parquet out, rejects);
//! - `recommender`: stage 12 on generated unified ratings: time per
//!   alternation and peak resident memory.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use moodflow_engine::{local_context, session_config, Cluster, StorageRoot};
use moodflow_udfs::vader::analyzer;

use crate::generate::vocab::{ARCHETYPES, NEUTRAL_TAGS};
use crate::generate::{generate, GenerateOptions};
use crate::memory::{peak_rss_mib, reset_peak_rss};
use crate::output::group;
use crate::progress::Progress;
use crate::stages::{run_stages, PipelineOptions, STAGES};

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

/// Generates `ratings` ratings under `dir` and runs stages 01-04 there.
pub async fn bench_stages(dir: &Path, ratings: u64, cluster: &Cluster) -> Result<()> {
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
    let quiet = Progress::new(true);
    println!(
        "{:<20} {:>9} {:>12} {:>12} {:>12} {:>14}",
        "stage", "wall", "rows read", "written", "rows/s", "peak RSS MiB"
    );
    for stage in STAGES {
        reset_peak_rss();
        let report = run_stages(
            cluster,
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

/// Prints the latency of `n` trivial jobs (`SELECT 1`) submitted one after
/// another on one session: Ballista's fixed cost per job (planning,
/// scheduling, task launch, result fetch), the floor under every stage and
/// every k-means pass.
pub async fn bench_job(cluster: &Cluster, on: &str, n: usize) -> Result<()> {
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
        on,
        ms.iter().sum::<f64>() / n as f64,
        pct(0.5),
        pct(0.99),
        ms[0]
    );
    Ok(())
}

/// Writes Netflix Prize files holding `ratings` ratings under
/// `dir/raw/netflix_prize/`: four `combined_data_*.txt` files of 17,770
/// movie blocks in all (the real layout) and a titles file. Returns the
/// bytes of the rating files.
pub fn write_netflix_files(dir: &Path, ratings: u64, seed: u64) -> Result<u64> {
    use std::io::Write;
    const MOVIES: u64 = 17_770;
    const FILES: u64 = 4;
    let nf = dir.join("raw/netflix_prize");
    std::fs::create_dir_all(&nf)?;
    let mut titles = std::io::BufWriter::new(std::fs::File::create(nf.join("movie_titles.csv"))?);
    for m in 1..=MOVIES {
        writeln!(titles, "{m},{},Movie {m}, Part {}", 1950 + m % 56, m % 3 + 1)?;
    }
    titles.flush()?;
    let mut rng = moodflow_engine::rng::Rng::new(seed);
    let mut bytes = 0;
    let per_movie = ratings / MOVIES;
    let extra = ratings % MOVIES;
    let mut line = Vec::with_capacity(32);
    for f in 0..FILES {
        let path = nf.join(format!("combined_data_{}.txt", f + 1));
        let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
        for m in (f * MOVIES / FILES + 1)..=((f + 1) * MOVIES / FILES) {
            writeln!(out, "{m}:")?;
            for _ in 0..per_movie + u64::from(m <= extra) {
                let customer = 1 + rng.below(2_649_429);
                let day = rng.below(2_243);
                // 1999-11-11 plus `day`, without a calendar: months of 28
                // days keep every date valid and the line length real.
                let (y, mo, d) = (2000 + day / 336, 1 + day % 336 / 28, 1 + day % 28);
                line.clear();
                write!(line, "{customer},{},{y}-{mo:02}-{d:02}", 1 + rng.below(5))?;
                line.push(b'\n');
                out.write_all(&line)?;
            }
        }
        out.flush()?;
        bytes += std::fs::metadata(&path)?.len();
    }
    Ok(bytes)
}

/// Prints Netflix ingest throughput at `ratings` ratings: `wc -l`, the
/// scan alone, and stage 07.
pub async fn bench_netflix(dir: &Path, ratings: u64, cluster: &Cluster) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    let started = Instant::now();
    let bytes = write_netflix_files(dir, ratings, 42)?;
    let mb = bytes as f64 / 1e6;
    println!(
        "generate {} Netflix ratings: {:.2}s ({mb:.1} MB in 4 files)",
        group(ratings),
        started.elapsed().as_secs_f64()
    );
    let line = |what: &str, secs: f64, rss: Option<f64>| {
        println!(
            "{what:<44} {secs:>8.2}s {:>14.0} ratings/s {:>8.1} MB/s {:>10}",
            ratings as f64 / secs,
            mb / secs,
            rss.map_or("n/a".into(), |m| format!("{m:.0} MiB"))
        );
    };
    let files: Vec<_> = (1..=4)
        .map(|f| dir.join(format!("raw/netflix_prize/combined_data_{f}.txt")))
        .collect();
    let t = Instant::now();
    let wc = std::process::Command::new("wc").arg("-l").args(&files).output()?;
    anyhow::ensure!(wc.status.success(), "wc -l failed");
    line(
        "wc -l (one pass over the bytes, 1 core)",
        t.elapsed().as_secs_f64(),
        None,
    );

    let root = StorageRoot::parse(&dir.to_string_lossy())?;
    let location = root.join("raw/netflix_prize/combined_data_*.txt");
    cluster
        .ctx
        .sql(&format!(
            "CREATE EXTERNAL TABLE nf STORED AS NETFLIX_RATINGS LOCATION '{location}'"
        ))
        .await?;
    reset_peak_rss();
    let t = Instant::now();
    let batches = cluster
        .ctx
        .sql("SELECT count(*) AS n, sum(rating) AS stars FROM nf WHERE reason IS NULL")
        .await?
        .collect()
        .await?;
    let secs = t.elapsed().as_secs_f64();
    let counted = batches
        .first()
        .and_then(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<datafusion::arrow::array::Int64Array>()
        })
        .map_or(0, |a| a.value(0));
    anyhow::ensure!(
        counted as u64 == ratings,
        "the scan counted {counted} ratings, not {ratings}"
    );
    line("scan: parse every rating (count, sum)", secs, peak_rss_mib());

    reset_peak_rss();
    let stage: Vec<_> = crate::stages::NETFLIX_STAGES[..1].to_vec();
    let report = run_stages(
        cluster,
        &root,
        &stage,
        &BTreeMap::new(),
        &PipelineOptions::default(),
        &Progress::new(true),
    )
    .await?;
    let s = &report.stages[0];
    anyhow::ensure!(
        s.written.get("netflix_ratings") == Some(&ratings),
        "stage 07 wrote {:?}",
        s.written
    );
    line(
        "stage 07: scan + Parquet + rejects + titles",
        s.elapsed.as_secs_f64(),
        peak_rss_mib(),
    );
    Ok(())
}

/// Generates `ratings` ratings under `dir`, makes `unified_ratings` (stages
/// 01 and 07-09; the text and mood stages are not needed) and trains the
/// recommender (stage 12), printing the time of each alternation and the
/// process's peak resident memory during the training.
pub async fn bench_recommender(dir: &Path, ratings: u64, cluster: &Cluster) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    let summary = generate(dir, GenerateOptions { ratings, seed: 42 })?;
    let root = StorageRoot::parse(&dir.to_string_lossy())?;
    let quiet = Progress::new(true);
    let netflix = crate::stages::netflix_inputs(&cluster.ctx, &root)
        .await?
        .context("the generated root has no Netflix files")?;
    let mut vars = BTreeMap::new();
    vars.insert("netflix_titles_file".to_string(), netflix.titles_file.clone());
    let prepare: Vec<_> = STAGES[..1]
        .iter()
        .chain(crate::stages::NETFLIX_STAGES)
        .cloned()
        .collect();
    let started = Instant::now();
    run_stages(cluster, &root, &prepare, &vars, &PipelineOptions::default(), &quiet).await?;
    println!(
        "{} MovieLens + {} Netflix ratings generated; stages 01, 07-09 in {:.1}s",
        group(summary.ratings),
        group(summary.netflix_ratings),
        started.elapsed().as_secs_f64()
    );
    reset_peak_rss();
    let started = Instant::now();
    let trained =
        crate::recommender::run_recommender(cluster, &root, &crate::stages::PipelineOptions::default().recommender)
            .await?;
    let total = started.elapsed().as_secs_f64();
    let m = &trained.model;
    let per_iter: Vec<f64> = m.iterations.iter().map(|i| i.seconds).collect();
    println!(
        "stage 12 on {} ratings ({} users, {} films), rank {}: {total:.1}s, {} Ballista jobs, \
         {:.2}s per alternation (min {:.2}s, max {:.2}s), training RMSE {:.4}, validation RMSE {}, peak RSS {} MiB",
        group(m.ratings),
        group(m.users),
        group(m.items),
        m.params.rank,
        m.jobs,
        per_iter.iter().sum::<f64>() / per_iter.len().max(1) as f64,
        per_iter.iter().copied().fold(f64::INFINITY, f64::min),
        per_iter.iter().copied().fold(0.0, f64::max),
        m.iterations.last().map_or(f64::NAN, |i| i.train_rmse),
        m.validation_rmse.map_or("n/a".to_string(), |v| format!("{v:.4}")),
        peak_rss_mib().map_or("n/a".into(), |v| format!("{v:.0}"))
    );
    Ok(())
}

/// A PySpark implementation of stages 01-09 to run beside moodflow
/// (`bench pipeline --vs-spark`): its directory holds `run_all.py`, which
/// takes `--ml-dir`, `--nf-dir`, `--mode session` and `--results FILE`
/// and writes each stage's wall time and the peak RSS of its process tree.
#[derive(Debug, Clone)]
pub struct SparkAnchor {
    /// The implementation's directory.
    pub dir: std::path::PathBuf,
    /// The Python that runs it (it must import pyspark).
    pub python: String,
}

/// One system's figures on one data set.
#[derive(Debug, Clone, Default)]
struct Figures {
    /// Per stage number ("01"): seconds and peak RSS in MiB.
    stages: BTreeMap<String, (f64, Option<f64>)>,
    /// The whole process, start to exit, in seconds.
    wall: f64,
    /// The whole process's peak RSS, MiB.
    peak: Option<f64>,
}

impl Figures {
    fn stage_sum(&self) -> f64 {
        self.stages.values().map(|s| s.0).sum()
    }
}

/// Generates `ratings` MovieLens ratings (and half as many Netflix ones)
/// under `dir`, unless the same size is already there, then runs stages
/// 01-09 as a separate `moodflow run --until 09` process (the binary at
/// `moodflow`, standalone) and, when `spark` is given and its Python can
/// import pyspark, the Spark implementation on the same raw files. Prints
/// wall time and peak RSS per stage and in total, and the ratios.
pub async fn bench_pipeline(dir: &Path, ratings: u64, moodflow: &Path, spark: Option<&SparkAnchor>) -> Result<()> {
    let marker = dir.join("bench-ratings");
    let generated = std::fs::read_to_string(&marker).is_ok_and(|m| m.trim() == ratings.to_string());
    if !generated {
        if dir.exists() {
            std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
        }
        let started = Instant::now();
        let summary = generate(dir, GenerateOptions { ratings, seed: 42 })?;
        std::fs::write(&marker, ratings.to_string())?;
        println!(
            "generated {} MovieLens ratings of {} movies and {} Netflix ratings in {:.1}s",
            group(summary.ratings),
            group(summary.movies),
            group(summary.netflix_ratings),
            started.elapsed().as_secs_f64()
        );
    }
    for old in ["curated", "models", "spark"] {
        let path = dir.join(old);
        if path.exists() {
            std::fs::remove_dir_all(&path).with_context(|| format!("cannot clear {}", path.display()))?;
        }
    }
    warm_raw_files(dir)?;
    let ours = run_moodflow(dir, moodflow)?;
    let theirs = match spark {
        Some(anchor) if python_has_pyspark(&anchor.python) => {
            warm_raw_files(dir)?;
            Some(run_spark(dir, anchor)?)
        }
        Some(anchor) => {
            println!(
                "--vs-spark: `{} -c 'import pyspark'` fails; install pyspark (see the anchor's README) to compare",
                anchor.python
            );
            None
        }
        None => None,
    };
    print!("{}", pipeline_table(ratings, &ours, theirs.as_ref()));
    Ok(())
}

/// Reads every file under `dir/raw` once, so that each system's run
/// starts with the raw files in the page cache: a run that found them
/// dropped (a VM's memory reclaim does that to files idle for a while)
/// waited on the disk, 19.3 s against 10.4 s for stages 01-09 at 10M
/// generated ratings. Returns the bytes read.
fn warm_raw_files(dir: &Path) -> Result<u64> {
    let mut bytes = 0;
    let mut pending = vec![dir.join("raw")];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).with_context(|| format!("cannot list {}", folder.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let mut file = std::fs::File::open(&path).with_context(|| format!("cannot read {}", path.display()))?;
                bytes += std::io::copy(&mut file, &mut std::io::sink())
                    .with_context(|| format!("cannot read {}", path.display()))?;
            }
        }
    }
    Ok(bytes)
}

fn run_moodflow(dir: &Path, moodflow: &Path) -> Result<Figures> {
    let report = dir.join("moodflow-report.json");
    let started = Instant::now();
    let status = std::process::Command::new(moodflow)
        .arg("run")
        .arg("--root")
        .arg(dir)
        .args(["--quiet", "--until", "09", "--report-json"])
        .arg(&report)
        .status()
        .with_context(|| format!("cannot start {}", moodflow.display()))?;
    let wall = started.elapsed().as_secs_f64();
    anyhow::ensure!(status.success(), "moodflow run on {} failed ({status})", dir.display());
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&report).with_context(|| format!("cannot read {}", report.display()))?,
    )?;
    let mut figures = Figures {
        wall,
        peak: json["peak_rss_mib"].as_f64(),
        ..Figures::default()
    };
    for stage in json["stages"].as_array().into_iter().flatten() {
        let id = stage["stage"].as_str().unwrap_or_default();
        let number = id.split('_').next().unwrap_or(id).to_string();
        figures.stages.insert(
            number,
            (
                stage["seconds"].as_f64().unwrap_or(f64::NAN),
                stage["peak_rss_mib"].as_f64(),
            ),
        );
    }
    Ok(figures)
}

fn python_has_pyspark(python: &str) -> bool {
    std::process::Command::new(python)
        .args(["-c", "import pyspark"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run_spark(dir: &Path, anchor: &SparkAnchor) -> Result<Figures> {
    let results = dir.join("spark-results.json");
    let log = dir.join("spark.log");
    let out = std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
    let started = Instant::now();
    let status = std::process::Command::new(&anchor.python)
        .current_dir(&anchor.dir)
        .env("PYTHONPATH", &anchor.dir)
        .arg(anchor.dir.join("run_all.py"))
        .arg("--root")
        .arg(dir.join("spark"))
        .arg("--ml-dir")
        .arg(dir.join("raw/movielens"))
        .arg("--nf-dir")
        .arg(dir.join("raw/netflix_prize"))
        .args(["--mode", "session", "--results"])
        .arg(&results)
        .stdout(out.try_clone()?)
        .stderr(out)
        .status()
        .with_context(|| format!("cannot start {}", anchor.python))?;
    let wall = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        status.success(),
        "the Spark run failed ({status}); its output is in {}",
        log.display()
    );
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&results).with_context(|| format!("cannot read {}", results.display()))?,
    )?;
    let mut figures = Figures {
        wall: json["total_wall_s"].as_f64().unwrap_or(wall),
        peak: json["peak_rss_tree_mb"].as_f64(),
        ..Figures::default()
    };
    // Stage records are numbered "01".."09"; "startup" (the SparkSession)
    // and UDF variants ("03[python]") are not stages of the pipeline.
    for stage in json["stages"].as_array().into_iter().flatten() {
        let id = stage["stage"].as_str().unwrap_or_default();
        if id.len() == 2 && id.bytes().all(|b| b.is_ascii_digit()) {
            figures.stages.insert(
                id.to_string(),
                (
                    stage["wall_s"].as_f64().unwrap_or(f64::NAN),
                    stage["peak_rss_tree_mb"].as_f64(),
                ),
            );
        }
    }
    Ok(figures)
}

fn ratio(a: f64, b: f64) -> String {
    if a > 0.0 && b.is_finite() {
        format!("{:.1}x", b / a)
    } else {
        String::new()
    }
}

fn pipeline_table(ratings: u64, ours: &Figures, theirs: Option<&Figures>) -> String {
    let mib = |m: Option<f64>| m.map_or_else(|| "n/a".to_string(), |m| format!("{m:.0}"));
    let mut rows = Vec::new();
    for (stage, (seconds, peak)) in &ours.stages {
        let mut row = vec![stage.clone(), format!("{seconds:.2}"), mib(*peak)];
        if let Some(t) = theirs {
            let (s, p) = t.stages.get(stage).copied().unwrap_or((f64::NAN, None));
            row.extend([format!("{s:.2}"), mib(p), ratio(*seconds, s)]);
        }
        rows.push(row);
    }
    let mut total = vec![
        "stages' sum".to_string(),
        format!("{:.2}", ours.stage_sum()),
        mib(ours.peak),
    ];
    let mut process = vec!["process".to_string(), format!("{:.2}", ours.wall), String::new()];
    if let Some(t) = theirs {
        total.extend([
            format!("{:.2}", t.stage_sum()),
            mib(t.peak),
            ratio(ours.stage_sum(), t.stage_sum()),
        ]);
        process.extend([format!("{:.2}", t.wall), String::new(), ratio(ours.wall, t.wall)]);
    }
    rows.push(total);
    rows.push(process);
    let header: &[&str] = if theirs.is_some() {
        &["stage", "moodflow s", "peak MiB", "Spark s", "peak MiB", "speed-up"]
    } else {
        &["stage", "moodflow s", "peak MiB"]
    };
    let mut out = format!(
        "\npipeline 01-09 on {} generated MovieLens ratings (standalone, {} cores):\n",
        group(ratings),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    out.push_str(&crate::output::text_table(header, &[1, 2, 3, 4, 5], rows));
    if ours.stage_sum() > ours.wall {
        out.push_str(
            "\nmoodflow runs a stage as soon as the stages it reads from are done (07 beside 01, and so on), \
             so its stages' times overlap: compare the process line\n",
        );
    }
    if let Some(t) = theirs {
        if let (Some(a), Some(b)) = (ours.peak, t.peak) {
            out.push_str(&format!(
                "\npeak memory: moodflow {a:.0} MiB (the process), Spark {b:.0} MiB (JVM and Python workers): {:.1}x less\n",
                b / a
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warming_reads_every_raw_file_whole() {
        let dir = std::env::temp_dir().join(format!("moodflow-warm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("raw/movielens")).expect("folders");
        std::fs::create_dir_all(dir.join("curated")).expect("folders");
        std::fs::write(dir.join("raw/movielens/ratings.csv"), "a,b\n1,2\n").expect("file");
        std::fs::write(dir.join("raw/titles.csv"), "xyz").expect("file");
        // Outside raw/: not read.
        std::fs::write(dir.join("curated/t.parquet"), "0123456789").expect("file");
        let read = warm_raw_files(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(read.expect("warmed"), 8 + 3);
    }
}
