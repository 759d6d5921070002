//! The one catalogue of the pipeline: its stages (from [`crate::stages`]),
//! the tables each writes and their rejects tables (read from the job
//! files' `COPY` targets, and stages 05's and 12's own outputs), and the job
//! variables (the files' `-- @var` lines). The runner, `verify`, the
//! dashboard's status page and the tests all read it, so a table added to
//! a job file appears everywhere without another list to keep in step.
//!
//! A table is expected to have rows after a run unless its job file says
//! `-- @may_be_empty <table>` (an optional input's table, the titles the
//! bridge could not match).

use std::collections::BTreeMap;

use crate::stages::{Stage, NETFLIX_STAGES, RECOMMENDER_STAGES, STAGES};

/// One table the pipeline writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// `movielens_ratings`.
    pub name: String,
    /// The stage that writes it (`01_etl_movielens`).
    pub stage: String,
    /// Written by the Netflix Prize stages (07-09), which run only when
    /// the root has Netflix files.
    pub netflix: bool,
    /// Written by stage 12, the recommender (checked by `verify` once it
    /// has trained: `moodflow train-recommender` can run it on its own).
    pub recommender: bool,
    /// The job also writes `_rejects/<name>`.
    pub has_rejects: bool,
    /// No rows is a valid outcome (see the module docs).
    pub may_be_empty: bool,
}

/// The tables stage 05 writes besides its model.
pub const KMEANS_TABLES: &[&str] = &["clustered_movies"];

/// Every stage, in run order: 01-06, then the Netflix stages 07-09, then
/// the recommender, 12.
pub fn all_stages() -> impl Iterator<Item = &'static Stage> {
    STAGES.iter().chain(NETFLIX_STAGES).chain(RECOMMENDER_STAGES)
}

/// Every table of the pipeline, in the order the stages write them.
pub fn tables() -> Vec<TableInfo> {
    let mut out = Vec::new();
    for stage in all_stages() {
        let netflix = NETFLIX_STAGES.iter().any(|s| s.number == stage.number);
        let recommender = RECOMMENDER_STAGES.iter().any(|s| s.number == stage.number);
        let outputs = stage.writes();
        let may_be_empty = match stage.job() {
            Some(Ok(job)) => job.may_be_empty,
            _ => Vec::new(),
        };
        for table in outputs.iter().filter(|t| !t.starts_with("_rejects/")) {
            out.push(TableInfo {
                name: table.clone(),
                stage: stage.id(),
                netflix,
                recommender,
                has_rejects: outputs.iter().any(|o| o == &format!("_rejects/{table}")),
                may_be_empty: may_be_empty.contains(table),
            });
        }
    }
    out
}

/// The job variables of every stage with their defaults, as the job files
/// declare them; `--conf` overrides.
pub fn job_variables() -> BTreeMap<String, String> {
    all_stages()
        .filter_map(Stage::job)
        .flatten()
        .flat_map(|job| job.defaults())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_file_parses_and_names_its_tables() {
        for stage in all_stages() {
            if let Some(job) = stage.job() {
                let job = job.unwrap_or_else(|e| panic!("{}: {e}", stage.id()));
                assert!(!job.outputs().is_empty(), "{} writes no table", stage.id());
            }
        }
        let names: Vec<String> = tables().into_iter().map(|t| t.name).collect();
        for expected in [
            "movielens_ratings",
            "movie_text",
            "nf_features",
            "clustered_movies",
            "mood_playlists",
            "netflix_ratings",
            "title_bridge",
            "unified_ratings",
            "user_factors",
            "item_factors",
        ] {
            assert!(names.iter().any(|n| n == expected), "{expected} in {names:?}");
        }
        let unique: std::collections::BTreeSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "one stage per table: {names:?}");
        let t = |n: &str| tables().into_iter().find(|t| t.name == n).expect("table");
        assert!(t("movielens_ratings").has_rejects && !t("movielens_ratings").may_be_empty);
        assert!(t("title_bridge_unmatched").may_be_empty && t("title_bridge_unmatched").netflix);
        assert_eq!(t("clustered_movies").stage, "05_train_kmeans");
        assert_eq!(t("item_factors").stage, "12_train_recommender");
        assert!(!t("user_factors").netflix && t("user_factors").recommender);
        assert_eq!(job_variables()["playlist_size"], "20");
    }
}
