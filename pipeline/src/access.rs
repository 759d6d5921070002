//! What each statement of a job reads and writes, so that statements that
//! do not touch each other's data run at the same time.
//!
//! A job file is written as a list, and most of its `COPY`s are
//! independent: stage 02 cleans five raw files, each into its table and
//! its rejects, before anything joins them. Run one after the other, each
//! small statement pays a Ballista job's round trips (planning, stage
//! hand-offs, a single-task tail) while the other core idles. The job
//! runner ([`crate::job`]) starts a statement as soon as no running
//! statement writes what it reads, reads what it writes, or writes where
//! it writes; results are taken in file order as before.
//!
//! An [`Access`] is found from the statement's logical plan: each
//! `TableScan` names a table or view the job created, whose locations
//! (and, for a raw table, its `side_outputs` folder, written by every scan
//! of it) the [`Catalog`] remembers; a `COPY` writes its target. A
//! statement whose effect is not known this way (a `SET`, a `DROP`, a scan
//! of a table the job did not create) is a barrier: it waits for every
//! running statement, and every later one waits for it.

use std::collections::HashMap;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};

/// The locations a statement reads and writes, each normalised to a URL
/// prefix ending in `/`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// Folders and files read (a glob's fixed prefix).
    pub reads: Vec<String>,
    /// Folders written.
    pub writes: Vec<String>,
    /// Not known: runs alone.
    pub barrier: bool,
}

impl Access {
    /// An access that runs alone.
    pub fn barrier() -> Self {
        Self {
            barrier: true,
            ..Self::default()
        }
    }

    /// True when the two cannot run at the same time: either is a barrier,
    /// or one writes a location the other reads or writes.
    pub fn conflicts(&self, other: &Access) -> bool {
        let overlap = |a: &[String], b: &[String]| a.iter().any(|x| b.iter().any(|y| nested(x, y)));
        self.barrier
            || other.barrier
            || overlap(&self.writes, &other.reads)
            || overlap(&self.reads, &other.writes)
            || overlap(&self.writes, &other.writes)
    }

    fn extend(&mut self, other: &Access) {
        self.reads.extend(other.reads.iter().cloned());
        self.writes.extend(other.writes.iter().cloned());
        self.barrier |= other.barrier;
    }
}

/// True when one location is the other or lies below it.
fn nested(a: &str, b: &str) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// A location as a URL prefix ending in `/` (a file's own name included,
/// so `a/x.csv` and `a/x.csv.bak` stay apart; a glob's folder for a
/// glob); `None` when it cannot be parsed.
pub fn normalise(location: &str) -> Option<String> {
    let location = match location.find(['*', '?', '[']) {
        Some(glob) => &location[..=location[..glob].rfind('/')?],
        None => location,
    };
    let url = ListingTableUrl::parse(location).ok()?;
    let mut s = url.as_str().to_string();
    if !s.ends_with('/') {
        s.push('/');
    }
    Some(s)
}

/// The tables and views a job created, with what a scan of each touches.
#[derive(Debug, Default)]
pub struct Catalog {
    tables: HashMap<String, Access>,
}

impl Catalog {
    /// What running `plan` touches. A `CREATE VIEW` reads nothing when it
    /// runs (its scans happen in the statements that use it); a `CREATE
    /// EXTERNAL TABLE` reads its location (a table without a schema reads
    /// its files' footers).
    pub fn access(&self, plan: &LogicalPlan) -> Access {
        match plan {
            LogicalPlan::Ddl(DdlStatement::CreateView(_)) => Access::default(),
            LogicalPlan::Ddl(DdlStatement::CreateExternalTable(t)) => Access {
                reads: t.locations.iter().filter_map(|l| normalise(l)).collect(),
                writes: Vec::new(),
                barrier: t.locations.iter().any(|l| normalise(l).is_none()),
            },
            LogicalPlan::Ddl(_) | LogicalPlan::Statement(_) => Access::barrier(),
            _ => self.scans_and_writes(plan),
        }
    }

    /// Remembers what a table or view created by `plan` touches when
    /// scanned (call after the statement ran).
    pub fn record(&mut self, plan: &LogicalPlan) {
        match plan {
            LogicalPlan::Ddl(DdlStatement::CreateExternalTable(t)) => {
                let mut access = Access::default();
                for location in &t.locations {
                    match normalise(location) {
                        Some(l) => access.reads.push(l),
                        None => access.barrier = true,
                    }
                }
                for (key, dir) in &t.options {
                    if moodflow_engine::formats::table::is_side_outputs_option(key) {
                        match normalise(dir) {
                            Some(d) => access.writes.push(d),
                            None => access.barrier = true,
                        }
                    }
                }
                self.tables.insert(t.name.table().to_string(), access);
            }
            LogicalPlan::Ddl(DdlStatement::CreateView(v)) => {
                let access = self.scans_and_writes(&v.input);
                self.tables.insert(v.name.table().to_string(), access);
            }
            LogicalPlan::Ddl(DdlStatement::DropTable(d)) => {
                self.tables.remove(d.name.table());
            }
            LogicalPlan::Ddl(DdlStatement::DropView(d)) => {
                self.tables.remove(d.name.table());
            }
            _ => {}
        }
    }

    /// The scans of `plan` (subqueries included) and what it writes.
    fn scans_and_writes(&self, plan: &LogicalPlan) -> Access {
        let mut access = Access::default();
        let _ = plan.apply_with_subqueries(|node| {
            match node {
                LogicalPlan::TableScan(scan) => match self.tables.get(scan.table_name.table()) {
                    Some(a) if scan.table_name.schema().is_none() => access.extend(a),
                    // A table the job did not create: who writes it is unknown.
                    _ => access.barrier = true,
                },
                LogicalPlan::Copy(copy) => {
                    let mut targets = vec![Some(copy.output_url.clone())];
                    // A COPY that splits off its rejects writes them beside
                    // its table (rejects it cannot place: a barrier; the
                    // statement then fails on its confinement).
                    if moodflow_engine::sink::rejects_option(copy).is_some() {
                        targets.push(moodflow_engine::sink::rejects_url(&copy.output_url).ok());
                    }
                    for target in targets {
                        match target.as_deref().and_then(normalise) {
                            Some(w) => access.writes.push(w),
                            None => access.barrier = true,
                        }
                    }
                }
                // An INSERT, DELETE, UPDATE or DDL inside a plan: run alone.
                LogicalPlan::Dml(_) | LogicalPlan::Ddl(_) | LogicalPlan::Statement(_) => access.barrier = true,
                _ => {}
            }
            Ok(TreeNodeRecursion::Continue)
        });
        access
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    /// Plans `sql` in `ctx` (creating what DDL creates) and returns its access.
    async fn step(ctx: &SessionContext, catalog: &mut Catalog, sql: &str) -> Access {
        let plan = ctx.state().create_logical_plan(sql).await.expect("plans");
        let access = catalog.access(&plan);
        ctx.execute_logical_plan(plan.clone()).await.expect("runs");
        catalog.record(&plan);
        access
    }

    #[tokio::test]
    async fn statements_conflict_only_through_shared_locations() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().to_str().expect("utf-8 path");
        std::fs::write(format!("{d}/a.csv"), "x\n1\n").expect("write");
        std::fs::write(format!("{d}/b.csv"), "x\n2\n").expect("write");
        let ctx = SessionContext::new();
        let mut cat = Catalog::default();
        let create_a = step(
            &ctx,
            &mut cat,
            &format!("CREATE EXTERNAL TABLE a (x BIGINT) STORED AS CSV LOCATION '{d}/a.csv' OPTIONS ('format.has_header' 'true')"),
        )
        .await;
        step(
            &ctx,
            &mut cat,
            &format!("CREATE EXTERNAL TABLE b (x BIGINT) STORED AS CSV LOCATION '{d}/b.csv' OPTIONS ('format.has_header' 'true')"),
        )
        .await;
        let view = step(&ctx, &mut cat, "CREATE VIEW va AS SELECT x FROM a WHERE x > 0").await;
        let plan = |sql: String| {
            let ctx = ctx.clone();
            async move { ctx.state().create_logical_plan(&sql).await.expect("plans") }
        };
        let copy_a = cat.access(&plan(format!("COPY (SELECT x FROM va) TO '{d}/out_a/' STORED AS PARQUET")).await);
        let copy_b = cat.access(&plan(format!("COPY (SELECT x FROM b) TO '{d}/out_b/' STORED AS PARQUET")).await);
        let copy_b_again = cat.access(&plan(format!("COPY (SELECT x FROM b) TO '{d}/out_b/' STORED AS PARQUET")).await);
        let read_out_a = cat.access(
            &plan(format!(
                "CREATE EXTERNAL TABLE oa (x BIGINT) STORED AS PARQUET LOCATION '{d}/out_a/'"
            ))
            .await,
        );
        let sub = cat.access(
            &plan(format!(
                "COPY (SELECT x FROM b WHERE x IN (SELECT x FROM va)) TO '{d}/out_c/' STORED AS PARQUET"
            ))
            .await,
        );
        let set = cat.access(&plan("SET datafusion.execution.batch_size = 1024".into()).await);

        // Reading the file and viewing it read nothing a COPY writes.
        assert!(!create_a.barrier && !view.barrier && view.reads.is_empty());
        // Two COPYs of different files into different folders: at once.
        assert!(!copy_a.conflicts(&copy_b), "{copy_a:?} vs {copy_b:?}");
        // Into the same folder: one after the other.
        assert!(copy_b.conflicts(&copy_b_again));
        // A table over a folder a running COPY writes waits for it.
        assert!(read_out_a.conflicts(&copy_a) && !read_out_a.conflicts(&copy_b));
        // A view is followed through to its file, in a subquery too.
        assert!(copy_a.reads.iter().any(|r| r.ends_with("a.csv/")), "{copy_a:?}");
        assert!(sub.reads.iter().any(|r| r.ends_with("a.csv/")) && sub.reads.iter().any(|r| r.ends_with("b.csv/")));
        // A SET runs alone.
        assert!(set.barrier && set.conflicts(&copy_b));
        // A table the job did not create is a barrier.
        ctx.register_batch(
            "outside",
            datafusion::arrow::array::RecordBatch::new_empty(std::sync::Arc::new(
                datafusion::arrow::datatypes::Schema::empty(),
            )),
        )
        .expect("register");
        assert!(cat.access(&plan("SELECT count(*) FROM outside".into()).await).barrier);
    }

    #[tokio::test]
    async fn a_raw_tables_side_outputs_are_written_by_each_scan() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().to_str().expect("utf-8 path");
        let ctx = SessionContext::new();
        let mut cat = Catalog::default();
        let create = LogicalPlan::Ddl(DdlStatement::CreateExternalTable(
            datafusion::logical_expr::CreateExternalTable::builder(
                "raw",
                format!("{d}/raw.csv"),
                "MOODFLOW_CSV",
                std::sync::Arc::new(datafusion::common::DFSchema::empty()),
            )
            .with_options([("side_outputs".to_string(), format!("{d}/_scan/raw/"))].into())
            .build()
            .into(),
        ));
        cat.record(&create);
        // A stand-in scan of `raw` (the real table needs moodflow's format).
        ctx.register_batch(
            "raw",
            datafusion::arrow::array::RecordBatch::new_empty(std::sync::Arc::new(
                datafusion::arrow::datatypes::Schema::empty(),
            )),
        )
        .expect("register");
        let scan = cat.access(
            &ctx.state()
                .create_logical_plan("SELECT count(*) FROM raw")
                .await
                .expect("plans"),
        );
        let reader = cat.access(&LogicalPlan::Ddl(DdlStatement::CreateExternalTable(
            datafusion::logical_expr::CreateExternalTable::builder(
                "splits",
                format!("{d}/_scan/raw/splits/"),
                "PARQUET",
                std::sync::Arc::new(datafusion::common::DFSchema::empty()),
            )
            .build()
            .into(),
        )));
        assert!(!scan.barrier, "{scan:?}");
        assert!(scan.writes.iter().any(|w| w.ends_with("_scan/raw/")), "{scan:?}");
        // What reads the side outputs waits for the scan that writes them.
        assert!(reader.conflicts(&scan));
        // Two scans of the same raw table write the same side outputs.
        assert!(scan.conflicts(&scan.clone()));
    }
}
