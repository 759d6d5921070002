//! The distributed training: ALS half-steps as Ballista jobs (see the
//! plan shapes in [`super`]), driven from the client.
//!
//! The client keeps only numbers between jobs: the global mean, the Gram
//! matrices and each iteration's training error. Every factor table is
//! Parquet in a work folder below the storage root, written by the
//! executors and read by the next half-step's join.

use std::time::Instant;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use serde::{Deserialize, Serialize};

use moodflow_engine::session::Cluster;

/// How to train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Factors per user and per item (both models).
    pub rank: usize,
    /// λ of the explicit model, scaled by each key's rating count.
    pub reg: f64,
    /// Alternations (a user half-step then an item half-step).
    pub iters: usize,
    /// Seed of the starting vectors and the validation split.
    pub seed: i64,
    /// λ of the implicit model (not count-scaled, as in Hu et al.).
    pub implicit_reg: f64,
    /// Confidence of an observed rating in the implicit model: `1 + α`.
    pub alpha: f64,
    /// Share of the ratings held out to measure the validation RMSE.
    pub validation: f64,
}

impl Default for Params {
    fn default() -> Self {
        // Chosen on a seeded 80/20 split of ml-latest-small (README):
        // rank 20 and λ 0.15 give RMSE 0.843 where λ 0.1 gives 0.848;
        // implicit λ 10 and α 10 give precision@10 0.17 where α 40 gives 0.11.
        Self {
            rank: 20,
            reg: 0.15,
            iters: 10,
            seed: 42,
            implicit_reg: 10.0,
            alpha: 10.0,
            validation: 0.05,
        }
    }
}

impl Params {
    /// Refuses settings that cannot train.
    pub fn check(&self) -> Result<()> {
        let bad = |what: String| Err(DataFusionError::Plan(format!("recommender: {what}")));
        if self.rank == 0 || self.rank > 200 {
            return bad(format!("rank {} must be 1..200", self.rank));
        }
        let positive = |v: f64| v > 0.0 && v.is_finite();
        if !positive(self.reg) || !positive(self.implicit_reg) {
            return bad(format!(
                "reg {} and implicit reg {} must be > 0",
                self.reg, self.implicit_reg
            ));
        }
        if !positive(self.alpha) {
            return bad(format!("alpha {} must be > 0", self.alpha));
        }
        if self.iters == 0 {
            return bad("iterations must be at least 1".into());
        }
        if !(0.0..0.9).contains(&self.validation) {
            return bad(format!("validation share {} must be in [0, 0.9)", self.validation));
        }
        Ok(())
    }
}

/// One alternation as the cluster ran it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IterationReport {
    /// 1-based.
    pub iteration: usize,
    /// RMSE of the explicit model on the training ratings after the item
    /// half-step.
    pub train_rmse: f64,
    /// Wall time of the alternation, seconds.
    pub seconds: f64,
}

/// What a training run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// Mean training rating.
    pub global_mean: f64,
    /// Training ratings, users and items.
    pub counts: (u64, u64, u64),
    /// One report per alternation.
    pub history: Vec<IterationReport>,
    /// Work folder (relative to the root) of the final user factors.
    pub users_dir: String,
    /// Work folder of the final item factors.
    pub items_dir: String,
    /// Ballista jobs submitted.
    pub jobs: usize,
}

/// Trains over Parquet ratings with columns `"userId"` (string),
/// `"movieId"` (bigint) and `rating` (double), in folders below `work`
/// (a location URL with no trailing slash, on the cluster's storage).
pub struct Trainer<'a> {
    cluster: &'a Cluster,
    work: String,
    jobs: std::sync::atomic::AtomicUsize,
}

/// Which factors a half-step solves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Every user's, against the item factors.
    Users,
    /// Every film's, against the user factors.
    Items,
}

/// The registered name of a work table.
fn table(name: &str) -> String {
    format!("als_{name}")
}

/// A double in SQL text, exactly (Rust's shortest round-trip form).
pub fn sql_f64(v: f64) -> String {
    let s = format!("{v:?}");
    if s.contains(['.', 'e', 'E']) || s.contains("inf") || s.contains("NaN") {
        format!("CAST({s} AS DOUBLE)")
    } else {
        format!("CAST({s}.0 AS DOUBLE)")
    }
}

impl<'a> Trainer<'a> {
    /// A trainer writing below `work`.
    pub fn new(cluster: &'a Cluster, work: impl Into<String>) -> Self {
        Self {
            cluster,
            work: work.into(),
            jobs: Default::default(),
        }
    }

    fn ctx(&self) -> &SessionContext {
        &self.cluster.ctx
    }

    /// Runs one statement as a Ballista job and returns its batches.
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        self.jobs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.ctx().sql(sql).await?.collect().await
    }

    /// Registers the Parquet folder `work/<dir>` as `als_<name>`.
    pub async fn register(&self, name: &str, dir: &str) -> Result<()> {
        self.register_location(name, &format!("{}/{dir}/", self.work)).await
    }

    /// Registers the Parquet folder at `location` (a URL ending in `/`) as
    /// `als_<name>`.
    pub async fn register_location(&self, name: &str, location: &str) -> Result<()> {
        let name = table(name);
        self.ctx().deregister_table(&name)?;
        self.ctx()
            .register_parquet(&name, location, ParquetReadOptions::default())
            .await
    }

    /// Rows of the Parquet folder `work/<dir>`.
    pub async fn count(&self, dir: &str) -> Result<u64> {
        self.register("counted", dir).await?;
        let batches = self
            .query(&format!("SELECT count(*) FROM {}", table("counted")))
            .await?;
        Ok(batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .and_then(|b| b.column(0).as_primitive_opt::<Int64Type>().map(|a| a.value(0)))
            .unwrap_or(0) as u64)
    }

    /// Writes a query's rows to `work/<dir>` and registers them as
    /// `als_<dir>`.
    pub async fn materialize(&self, dir: &str, select: &str) -> Result<()> {
        self.query(&format!("COPY ({select}) TO '{}/{dir}/' STORED AS PARQUET", self.work))
            .await?;
        self.register(dir, dir).await
    }

    /// The Gram matrix of a factor table's implicit vectors, as a SQL
    /// array literal.
    async fn gram(&self, name: &str) -> Result<String> {
        let batches = self
            .query(&format!("SELECT als_gram(pref) AS g FROM {}", table(name)))
            .await?;
        let values = batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .and_then(|b| {
                let list = b.column(0).as_list_opt::<i32>()?;
                (!list.is_null(0)).then(|| list.value(0).as_primitive::<Float64Type>().values().to_vec())
            })
            .ok_or_else(|| DataFusionError::Execution(format!("recommender: {name} has no factors")))?;
        let items: Vec<String> = values.iter().map(|v| sql_f64(*v)).collect();
        Ok(format!("make_array({})", items.join(", ")))
    }

    /// One half-step: solves every key of `side` against the other side's
    /// factors in the registered work table `als_<other_table>` (columns
    /// key, `factors`, `bias`, `pref`), writing `work/<out>` (key,
    /// `factors`, `bias`, `pref`, `ratings`, `sse`).
    pub async fn half_step(&self, side: Side, other_table: &str, out: &str, mu: f64, p: &Params) -> Result<()> {
        let (solved, other_key) = match side {
            Side::Users => ("\"userId\"", "\"movieId\""),
            Side::Items => ("\"movieId\"", "\"userId\""),
        };
        let gram = self.gram(other_table).await?;
        let (reg, ireg, alpha) = (sql_f64(p.reg), sql_f64(p.implicit_reg), sql_f64(p.alpha));
        let conf = sql_f64(1.0 + p.alpha);
        let select = format!(
            "SELECT {solved}, array_slice(e['w'], 1, {rank}) AS factors, array_element(e['w'], {bias}) AS bias, \
                    i['w'] AS pref, e['n'] AS ratings, e['sse'] AS sse \
             FROM (SELECT r.{solved}, \
                     als_solve(array_append(f.factors, CAST(1.0 AS DOUBLE)), CAST(1.0 AS DOUBLE), \
                               r.rating - {mu} - f.bias, {reg}, true) AS e, \
                     als_solve(f.pref, {alpha}, {conf}, {ireg}, false, {gram}) AS i \
                   FROM {ratings} r JOIN {other} f ON r.{other_key} = f.{other_key} \
                   GROUP BY r.{solved})",
            rank = p.rank,
            bias = p.rank + 1,
            mu = sql_f64(mu),
            ratings = table("train"),
            other = table(other_table),
        );
        self.materialize(out, &select).await
    }

    /// Writes `work/train` and `work/holdout` from `source` (a query with
    /// `"userId"`, `"movieId"` and `rating`): a share `holdout` of the
    /// ratings, chosen by `split_unit(seed, user, film)`. With
    /// `per_user`, exactly `round(holdout × n)` of each user's `n` ratings
    /// are held out (the evaluation's split); otherwise each rating is held
    /// out with that probability (stage 12's validation).
    pub async fn split(&self, source: &str, holdout: f64, seed: i64, per_user: bool) -> Result<()> {
        let h = sql_f64(holdout);
        let draw = format!("split_unit(CAST({seed} AS BIGINT), \"userId\", \"movieId\")");
        let (inner, held, kept) = if per_user {
            (
                format!(
                    "SELECT \"userId\", \"movieId\", rating, \
                            row_number() OVER (PARTITION BY \"userId\" ORDER BY {draw}, \"movieId\") AS rn, \
                            count(*) OVER (PARTITION BY \"userId\") AS n FROM ({source})"
                ),
                format!("rn <= round({h} * n)"),
                format!("rn > round({h} * n)"),
            )
        } else {
            (
                format!("SELECT \"userId\", \"movieId\", rating, {draw} AS u FROM ({source})"),
                format!("u < {h}"),
                format!("u >= {h}"),
            )
        };
        let pick = |cond: &str| format!("SELECT \"userId\", \"movieId\", rating FROM ({inner}) WHERE {cond}");
        self.materialize("train", &pick(&kept)).await?;
        self.materialize("holdout", &pick(&held)).await
    }

    /// Trains on the Parquet ratings in `work/train` (see [`Trainer`]).
    pub async fn fit(&self, p: &Params) -> Result<Fit> {
        p.check()?;
        self.register("train", "train").await?;
        let stats = self
            .query(&format!(
                "SELECT avg(rating), count(*), count(DISTINCT \"userId\"), count(DISTINCT \"movieId\") FROM {}",
                table("train")
            ))
            .await?;
        let number = |c: usize| -> Option<f64> {
            let b = stats.iter().find(|b| b.num_rows() > 0)?;
            let a = cast(b.column(c), &DataType::Float64).ok()?;
            let a = a.as_primitive::<Float64Type>();
            (!a.is_null(0)).then(|| a.value(0))
        };
        let (Some(mu), Some(n)) = (number(0), number(1)) else {
            return Err(DataFusionError::Execution(
                "recommender: there are no training ratings".into(),
            ));
        };
        let counts = (
            n as u64,
            number(2).unwrap_or(0.0) as u64,
            number(3).unwrap_or(0.0) as u64,
        );
        self.materialize(
            "items_0",
            &format!(
                "SELECT \"movieId\", als_init(\"movieId\", CAST({seed} AS BIGINT), CAST({rank} AS BIGINT), {s}) AS factors, \
                        CAST(0.0 AS DOUBLE) AS bias, \
                        als_init(\"movieId\", CAST({seed2} AS BIGINT), CAST({rank} AS BIGINT), {si}) AS pref, \
                        count(*) AS ratings, CAST(0.0 AS DOUBLE) AS sse \
                 FROM {train} GROUP BY \"movieId\"",
                seed = p.seed,
                seed2 = p.seed.wrapping_add(1),
                rank = p.rank,
                s = sql_f64(0.1),
                si = sql_f64(0.01),
                train = table("train"),
            ),
        )
        .await?;
        let mut history = Vec::with_capacity(p.iters);
        for it in 1..=p.iters {
            let started = Instant::now();
            let (users, items, prev) = (
                format!("users_{it}"),
                format!("items_{it}"),
                format!("items_{}", it - 1),
            );
            self.half_step(Side::Users, &prev, &users, mu, p).await?;
            self.half_step(Side::Items, &users, &items, mu, p).await?;
            let sse = self
                .query(&format!("SELECT sum(sse) FROM {}", table(&items)))
                .await?
                .iter()
                .find(|b| b.num_rows() > 0)
                .and_then(|b| {
                    let a = b.column(0).as_primitive_opt::<Float64Type>()?;
                    (!a.is_null(0)).then(|| a.value(0))
                })
                .unwrap_or(f64::NAN);
            history.push(IterationReport {
                iteration: it,
                train_rmse: (sse / n).sqrt(),
                seconds: started.elapsed().as_secs_f64(),
            });
        }
        Ok(Fit {
            global_mean: mu,
            counts,
            history,
            users_dir: format!("users_{}", p.iters),
            items_dir: format!("items_{}", p.iters),
            jobs: self.jobs.load(std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// RMSE of the explicit model (clamped to 0.5..5) on the Parquet
    /// ratings in `work/<dir>`, over the pairs whose user and film were
    /// trained, and how many pairs that is.
    pub async fn rmse(&self, dir: &str, fit: &Fit) -> Result<(f64, u64)> {
        self.register("users", &fit.users_dir).await?;
        self.register("items", &fit.items_dir).await?;
        self.register("scored", dir).await?;
        let batches = self
            .query(&format!(
                "SELECT sqrt(avg(power(least(greatest({mu} + u.bias + i.bias + als_dot(u.factors, i.factors), 0.5), 5.0) - h.rating, 2))), \
                        count(*) \
                 FROM {h} h JOIN {u} u ON h.\"userId\" = u.\"userId\" JOIN {i} i ON h.\"movieId\" = i.\"movieId\"",
                mu = sql_f64(fit.global_mean),
                h = table("scored"),
                u = table("users"),
                i = table("items"),
            ))
            .await?;
        let b = batches.iter().find(|b| b.num_rows() > 0);
        let rmse = b
            .and_then(|b| {
                let a = b.column(0).as_primitive_opt::<Float64Type>()?;
                (!a.is_null(0)).then(|| a.value(0))
            })
            .unwrap_or(f64::NAN);
        let pairs = b
            .and_then(|b| b.column(1).as_primitive_opt::<Int64Type>().map(|a| a.value(0)))
            .unwrap_or(0);
        Ok((rmse, pairs as u64))
    }
}
