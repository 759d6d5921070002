//! Stage 11, `moodflow verify`: quality checks over every output, with a
//! readable report. Any failed check makes the command exit non-zero.

use std::collections::{BTreeMap, BTreeSet};

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::Result;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use moodflow_engine::{local_context, session_config, StorageRoot};
use moodflow_ml::kmeans::model::Model;

use crate::stages::read_model;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Holds.
    Pass,
    /// Worth a look, not a failure (rejected rows, an empty playlist).
    Warn,
    /// Does not hold.
    Fail,
}

/// One check and what it found.
#[derive(Debug, Clone)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Outcome.
    pub level: Level,
    /// Numbers behind it.
    pub detail: String,
}

/// Every check, in order.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The checks.
    pub checks: Vec<Check>,
}

impl Report {
    fn push(&mut self, name: impl Into<String>, ok: bool, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            level: if ok { Level::Pass } else { Level::Fail },
            detail: detail.into(),
        });
    }

    fn warn(&mut self, name: impl Into<String>, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            level: Level::Warn,
            detail: detail.into(),
        });
    }

    /// True when no check failed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.level != Level::Fail)
    }

    /// The report as text, one line per check.
    pub fn render(&self) -> String {
        let rows = self.checks.iter().map(|c| {
            let mark = match c.level {
                Level::Pass => "ok",
                Level::Warn => "warn",
                Level::Fail => "FAIL",
            };
            vec![mark.to_string(), c.name.clone(), c.detail.clone()]
        });
        let mut out = crate::output::text_table(&["", "check", "found"], &[], rows);
        out.push('\n');
        let failed = self.checks.iter().filter(|c| c.level == Level::Fail).count();
        out.push_str(&if failed == 0 {
            format!("verify: all {} checks passed\n", self.checks.len())
        } else {
            format!("verify: {failed} of {} checks FAILED\n", self.checks.len())
        });
        out
    }
}

/// Each table of the catalogue's stages 01-06 (or 07-09) is there, and has
/// rows unless its job says it may be empty; returns the tables present.
async fn check_tables(
    ctx: &SessionContext,
    root: &StorageRoot,
    report: &mut Report,
    netflix: bool,
) -> Result<BTreeSet<String>> {
    let mut present = BTreeSet::new();
    for table in crate::catalog::tables()
        .into_iter()
        .filter(|t| t.netflix == netflix && !t.recommender)
    {
        let name = &table.name;
        if !register(ctx, root, name, &format!("curated/{name}")).await {
            report.push(format!("{name} exists"), false, "missing: run `moodflow run`");
            continue;
        }
        let rows = scalar(ctx, &format!("SELECT count(*) FROM {name}")).await?;
        if table.may_be_empty {
            report.push(format!("{name} exists"), true, format!("{rows} rows (may be empty)"));
        } else {
            report.push(format!("{name} has rows"), rows > 0, format!("{rows} rows"));
        }
        present.insert(name.clone());
    }
    let with_rejects: Vec<String> = crate::catalog::tables()
        .into_iter()
        .filter(|t| t.netflix == netflix && t.has_rejects && present.contains(&t.name))
        .map(|t| t.name)
        .collect();
    check_rejects(ctx, root, report, &with_rejects).await?;
    Ok(present)
}

async fn register(ctx: &SessionContext, root: &StorageRoot, table: &str, rel: &str) -> bool {
    let location = format!("{}/", root.join(rel));
    ctx.register_parquet(table, location.as_str(), ParquetReadOptions::default())
        .await
        .is_ok()
}

async fn scalar(ctx: &SessionContext, sql: &str) -> Result<i64> {
    let started = std::time::Instant::now();
    let batches = ctx.sql(sql).await?.collect().await?;
    // `RUST_LOG=moodflow::profile=info` shows what each check costs.
    tracing::info!(target: "moodflow::profile", "verify ({sql}): {:.3}s", started.elapsed().as_secs_f64());
    let Some(b) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(0);
    };
    let v = cast(b.column(0), &DataType::Int64)?;
    let v = v.as_primitive::<Int64Type>();
    Ok(if v.is_null(0) { 0 } else { v.value(0) })
}

/// Rejected rows are worth a look, not a failure: a warning with their count.
async fn check_rejects(ctx: &SessionContext, root: &StorageRoot, report: &mut Report, tables: &[String]) -> Result<()> {
    for table in tables {
        let name = format!("rejects_{table}");
        if register(ctx, root, &name, &format!("curated/_rejects/{table}")).await {
            let n = scalar(ctx, &format!("SELECT count(*) FROM {name}")).await?;
            if n > 0 {
                report.warn(
                    format!("rejects of {table}"),
                    format!("{n} rows in curated/_rejects/{table}"),
                );
            } else {
                report.push(format!("rejects of {table}"), true, "none");
            }
        }
    }
    Ok(())
}

/// The ledgers a run checked, by stage id ([`crate::stages::RunReport::ledgers`]).
pub type RunLedgers = BTreeMap<String, Vec<crate::ledger::TableAccount>>;

/// Runs every check against `root`; the ledgers count every raw file's
/// records again (`moodflow verify`).
pub async fn verify(root: &StorageRoot) -> Result<Report> {
    verify_after_run(root, &RunLedgers::new()).await
}

/// Runs every check against `root` right after a run whose stages checked
/// `ledgers` before committing: a stage found there takes each raw file's
/// records from its own scan's count (the same bytes, counted as they were
/// read) instead of reading the files once more (at 10M generated
/// ratings, about 9 s of a 37 s `moodflow run`); what the committed tables
/// and rejects hold is counted again as always.
pub async fn verify_after_run(root: &StorageRoot, ledgers: &RunLedgers) -> Result<Report> {
    let ctx = local_context(session_config(&[])?)?;
    let mut report = Report::default();
    let present = check_tables(&ctx, root, &mut report, false).await?;
    for stage in crate::stages::STAGES {
        check_ledger(&ctx, root, &mut report, stage, &Default::default(), ledgers).await?;
    }
    if present.contains("nf_features") {
        let nulls = scalar(
            &ctx,
            "SELECT count(*) FROM nf_features WHERE features IS NULL OR \"movieId\" IS NULL",
        )
        .await?;
        report.push(
            "nf_features: no null ids or features",
            nulls == 0,
            format!("{nulls} null"),
        );
    }
    if present.contains("movielens_movies_with_sentiment") {
        let nulls = scalar(
            &ctx,
            "SELECT count(*) FROM movielens_movies_with_sentiment WHERE compound IS NULL",
        )
        .await?;
        report.push(
            "sentiment: every movie scored",
            nulls == 0,
            format!("{nulls} without a score"),
        );
    }
    let model = read_model(&ctx, root).await;
    match &model {
        Ok(Some(m)) => check_model(&mut report, m),
        Ok(None) => report.push("model.json exists", false, "missing: run `moodflow run`"),
        Err(e) => report.push("model.json readable", false, e.to_string()),
    }
    if present.contains("nf_features") && present.contains("clustered_movies") {
        let featured = scalar(&ctx, "SELECT count(*) FROM nf_features").await?;
        let once = scalar(
            &ctx,
            "SELECT count(*) FROM (SELECT \"movieId\" FROM clustered_movies GROUP BY \"movieId\" HAVING count(*) = 1) \
             WHERE \"movieId\" IN (SELECT \"movieId\" FROM nf_features)",
        )
        .await?;
        let clustered = scalar(&ctx, "SELECT count(*) FROM clustered_movies").await?;
        report.push(
            "every featured movie clustered exactly once",
            once == featured && clustered == featured,
            format!("{featured} featured, {once} clustered once, {clustered} rows"),
        );
        let nulls = scalar(
            &ctx,
            "SELECT count(*) FROM clustered_movies WHERE \"cluster\" IS NULL OR mood IS NULL OR distance IS NULL",
        )
        .await?;
        report.push(
            "clustered_movies: no nulls",
            nulls == 0,
            format!("{nulls} rows with nulls"),
        );
        if let Ok(Some(m)) = &model {
            let out_of_range = scalar(
                &ctx,
                &format!(
                    "SELECT count(*) FROM clustered_movies WHERE \"cluster\" < 0 OR \"cluster\" >= {}",
                    m.k
                ),
            )
            .await?;
            report.push(
                "clusters within 0..k",
                out_of_range == 0,
                format!("{out_of_range} outside"),
            );
        }
    }
    if present.contains("mood_playlists") {
        if let Ok(Some(m)) = &model {
            let moods = scalar(&ctx, "SELECT count(DISTINCT mood) FROM mood_playlists").await?;
            if moods as usize == m.k {
                report.push("every mood has a playlist", true, format!("{moods} of {}", m.k));
            } else {
                report.warn(
                    "every mood has a playlist",
                    format!("{moods} of {} moods have movies with enough ratings", m.k),
                );
            }
        }
    }
    check_netflix(&ctx, root, &mut report, ledgers).await?;
    check_recommender(&ctx, root, &mut report).await?;
    Ok(report)
}

/// Stage 12's outputs, once it has trained: both factor tables with as
/// many rows as the model says, no null vector, a finite validation RMSE
/// and a training error that did not grow.
async fn check_recommender(ctx: &SessionContext, root: &StorageRoot, report: &mut Report) -> Result<()> {
    let model = match crate::recommender::read_model(ctx, root).await {
        Ok(Some(m)) => m,
        Ok(None) => {
            report.warn(
                "recommender trained",
                "stage 12 has not run on this root (`moodflow run` or `moodflow train-recommender`)",
            );
            return Ok(());
        }
        Err(e) => {
            report.push("recommender model.json readable", false, e.to_string());
            return Ok(());
        }
    };
    for (table, key, expected) in [
        ("user_factors", "userId", model.users),
        ("item_factors", "movieId", model.items),
    ] {
        if !register(ctx, root, table, &format!("curated/{table}")).await {
            report.push(
                format!("{table} exists"),
                false,
                "missing: run `moodflow train-recommender`",
            );
            continue;
        }
        let rows = scalar(ctx, &format!("SELECT count(*) FROM {table}")).await?;
        report.push(
            format!(
                "{table}: one row per trained {}",
                if key == "userId" { "user" } else { "film" }
            ),
            rows as u64 == expected,
            format!("{rows} rows, model.json says {expected}"),
        );
        let nulls = scalar(
            ctx,
            &format!(
                "SELECT count(*) FROM {table} WHERE \"{key}\" IS NULL OR factors IS NULL OR pref IS NULL OR bias IS NULL \
                 OR array_length(factors) <> {rank} OR array_length(pref) <> {rank}",
                rank = model.params.rank
            ),
        )
        .await?;
        report.push(
            format!("{table}: full vectors"),
            nulls == 0,
            format!("{nulls} rows null or not of rank {}", model.params.rank),
        );
    }
    let first = model.iterations.first().map_or(f64::NAN, |i| i.train_rmse);
    let last = model.iterations.last().map_or(f64::NAN, |i| i.train_rmse);
    report.push(
        "recommender: training error fell",
        last.is_finite() && last <= first,
        format!(
            "training RMSE {first:.4} -> {last:.4} over {} alternations",
            model.iterations.len()
        ),
    );
    match model.validation_rmse {
        Some(v) => report.push(
            "recommender: validation RMSE",
            v.is_finite() && v < 2.0,
            format!("{v:.4} on {} held-out ratings", model.validation_pairs),
        ),
        None => report.warn("recommender: validation RMSE", "no held-out rating was scored"),
    }
    Ok(())
}

/// The ledger of an ingest stage over the committed tables: one check per
/// raw file, `read = written + rejected` (see [`crate::ledger`]).
async fn check_ledger(
    ctx: &SessionContext,
    root: &StorageRoot,
    report: &mut Report,
    stage: &crate::stages::Stage,
    vars: &std::collections::BTreeMap<String, String>,
    ledgers: &RunLedgers,
) -> Result<()> {
    let Some(job) = stage.job() else { return Ok(()) };
    let job = job.map_err(|e| datafusion::error::DataFusionError::Plan(e.to_string()))?;
    let known = ledgers.get(&stage.id()).map_or(&[][..], Vec::as_slice);
    let accounts = match crate::ledger::account(ctx, &job, root, "curated", vars, known).await {
        Ok(a) => a,
        Err(e) => {
            report.push(format!("ledger of stage {}", stage.id()), false, e.to_string());
            return Ok(());
        }
    };
    for account in accounts {
        let problems = account.problems();
        for (file, line) in account.summary() {
            let name = file.rsplit('/').next().unwrap_or(&file).to_string();
            report.push(format!("ledger {name} -> {}", account.table), problems.is_empty(), line);
        }
        for p in problems {
            report.push(format!("ledger of {}", account.table), false, p);
        }
    }
    Ok(())
}

/// Stages 07-09, when the root holds Netflix Prize files: the tables, the
/// rejects, the bridge's match rate and one-to-one-ness, and that
/// `unified_ratings` is exactly the MovieLens ratings plus the bridged
/// Netflix ratings.
async fn check_netflix(
    ctx: &SessionContext,
    root: &StorageRoot,
    report: &mut Report,
    ledgers: &RunLedgers,
) -> Result<()> {
    match crate::stages::netflix_inputs(ctx, root).await {
        Ok(Some(inputs)) => {
            let (_, vars) = crate::stages::run_plan(Some(&inputs));
            for stage in crate::stages::NETFLIX_STAGES {
                check_ledger(ctx, root, report, stage, &vars, ledgers).await?;
            }
        }
        Ok(None) => return Ok(()),
        Err(e) => {
            report.push("Netflix Prize inputs", false, e.to_string());
            return Ok(());
        }
    }
    let present = check_tables(ctx, root, report, true).await?;
    let needed = ["netflix_ratings", "nf_movies_meta", "title_bridge", "unified_ratings"];
    if needed.iter().any(|t| !present.contains(*t))
        || !register(ctx, root, "ml_movies", "curated/movielens_movies").await
    {
        return Ok(());
    }
    let titles = scalar(ctx, "SELECT count(*) FROM nf_movies_meta").await?;
    let bridged = scalar(ctx, "SELECT count(DISTINCT nf_movie_id) FROM title_bridge").await?;
    let mut kinds = Vec::new();
    for kind in ["exact", "year_pm1", "title_only"] {
        let n = scalar(ctx, &format!("SELECT count(*) FROM title_bridge WHERE kind = '{kind}'")).await?;
        kinds.push(format!("{kind} {n}"));
    }
    report.push(
        "bridge match rate",
        bridged > 0,
        format!(
            "{bridged} of {titles} Netflix titles ({:.1}%): {}",
            100.0 * bridged as f64 / titles.max(1) as f64,
            kinds.join(", ")
        ),
    );
    let doubled = scalar(
        ctx,
        "SELECT count(*) FROM (SELECT nf_movie_id FROM title_bridge GROUP BY nf_movie_id HAVING count(*) > 1)",
    )
    .await?;
    report.push(
        "bridge: one MovieLens id per Netflix id",
        doubled == 0,
        format!("{doubled} Netflix ids with several"),
    );
    let dangling = scalar(
        ctx,
        "SELECT count(*) FROM title_bridge b \
         WHERE b.\"movieId\" NOT IN (SELECT \"movieId\" FROM ml_movies) \
            OR b.nf_movie_id NOT IN (SELECT movie_id FROM nf_movies_meta)",
    )
    .await?;
    report.push(
        "bridge: both ids exist",
        dangling == 0,
        format!("{dangling} rows naming an unknown id"),
    );
    let untitled = scalar(
        ctx,
        "SELECT count(*) FROM netflix_ratings WHERE movie_id NOT IN (SELECT movie_id FROM nf_movies_meta)",
    )
    .await?;
    if untitled > 0 {
        report.warn(
            "Netflix ratings have a title",
            format!("{untitled} ratings of movie ids missing from the titles file (kept, never bridged)"),
        );
    } else {
        report.push("Netflix ratings have a title", true, "all");
    }
    if register(ctx, root, "ml_ratings", "curated/movielens_ratings").await {
        let unified = scalar(ctx, "SELECT count(*) FROM unified_ratings").await?;
        let ml = scalar(ctx, "SELECT count(*) FROM ml_ratings").await?;
        let nf = scalar(
            ctx,
            "SELECT count(*) FROM netflix_ratings r JOIN title_bridge b ON r.movie_id = b.nf_movie_id",
        )
        .await?;
        report.push(
            "unified = MovieLens + bridged Netflix ratings",
            unified == ml + nf,
            format!("{unified} = {ml} + {nf}"),
        );
        let bad = scalar(
            ctx,
            "SELECT count(*) FROM unified_ratings WHERE rating IS NULL OR rating < 0.5 OR rating > 5 \
             OR \"userId\" IS NULL OR \"movieId\" IS NULL OR \"timestamp\" IS NULL \
             OR NOT (starts_with(\"userId\", 'ml:') AND source = 'movielens' \
                  OR starts_with(\"userId\", 'nf:') AND source = 'netflix')",
        )
        .await?;
        report.push(
            "unified: one scale, namespaced users, no nulls",
            bad == 0,
            format!("{bad} rows off"),
        );
    }
    Ok(())
}

fn check_model(report: &mut Report, m: &Model) {
    let [lo, hi] = m.k_range;
    report.push(
        "k within the k range",
        lo <= m.k && m.k <= hi,
        format!("k = {} of {lo}..{hi}", m.k),
    );
    let tried: BTreeSet<usize> = m
        .per_k
        .iter()
        .filter(|p| p.silhouette.is_finite())
        .map(|p| p.k)
        .collect();
    let wanted: BTreeSet<usize> = (lo..=hi).collect();
    report.push(
        "silhouette for every k of the range",
        tried == wanted,
        format!("{} of {} values", tried.len(), wanted.len()),
    );
    report.push(
        "one centroid and one mood per cluster",
        m.centroids.len() == m.k && m.moods.len() == m.k,
        format!("{} centroids, {} moods", m.centroids.len(), m.moods.len()),
    );
    let labels: BTreeSet<&str> = m.moods.iter().map(|x| x.label.as_str()).collect();
    report.push(
        "mood labels unique",
        labels.len() == m.moods.len(),
        labels.iter().copied().collect::<Vec<_>>().join(" | "),
    );
    let (ok, detail) = moods_differ(m);
    report.push("moods differ in feeling", ok, detail);
}

/// Whether the moods are moods: more than one feeling among their labels,
/// and mood centres whose valences spread over at least half a standard
/// deviation of the films' valences (closer than that, two "different"
/// moods are nearer to each other than a typical film is to the average).
pub fn moods_differ(m: &Model) -> (bool, String) {
    let tones: BTreeSet<&str> = m.moods.iter().map(|x| x.tone.as_str()).collect();
    let Some(v) = m.features.iter().find(|f| f.name == "valence") else {
        return (false, "model.json has no valence feature".into());
    };
    let (lo, hi) = m.moods.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
        (lo.min(x.valence), hi.max(x.valence))
    });
    let spread = hi - lo;
    let ok = tones.len() > 1 && spread >= 0.5 * v.std && v.std > 0.0;
    (
        ok,
        format!(
            "{} feelings ({}); mood valences spread {spread:.3} (needs >= {:.3}, half the films' std)",
            tones.len(),
            tones.iter().copied().collect::<Vec<_>>().join(", "),
            0.5 * v.std
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use moodflow_ml::kmeans::model::{Mood, Projection, Scaling};

    fn model(moods: &[(&str, f64)]) -> Model {
        Model {
            k: moods.len(),
            selection: String::new(),
            k_range: [2, 8],
            seed: 1,
            max_iter: 1,
            tolerance: 0.0,
            iterations: 1,
            points: 10,
            jobs: 1,
            features: vec![Scaling {
                name: "valence".into(),
                mean: 0.0,
                std: 0.2,
                weight: 2.0,
            }],
            centroids: vec![vec![0.0]; moods.len()],
            moods: moods
                .iter()
                .enumerate()
                .map(|(cluster, (tone, valence))| Mood {
                    cluster,
                    label: format!("{tone} {cluster}"),
                    tone: (*tone).into(),
                    valence: *valence,
                    energy: 0.0,
                    genres: vec![],
                    size: 1,
                })
                .collect(),
            per_k: vec![],
            projection: Projection {
                mean: vec![],
                components: vec![],
                variance: vec![],
            },
            trained_at: 0,
        }
    }

    #[test]
    fn moods_that_share_one_feeling_or_one_valence_fail() {
        // The old failure: every label "Neutral …".
        assert!(!moods_differ(&model(&[("Bittersweet", -0.3), ("Bittersweet", 0.3)])).0);
        // Two feelings, but centres 0.05 apart: less than half of 0.2.
        assert!(!moods_differ(&model(&[("Dark & Tense", 0.0), ("Warm & Gentle", 0.05)])).0);
        assert!(moods_differ(&model(&[("Dark & Tense", -0.2), ("Warm & Gentle", 0.2)])).0);
    }
}
