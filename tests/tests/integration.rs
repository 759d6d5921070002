//! Integration tests that need more than SQL: VADER against the Python
//! reference, whole pipeline runs on generated data checked against values
//! computed independently from the raw files, and the real
//! `ml-latest-small` data set when the shared data folder is present; the
//! Mood Explorer's routes and a headless browser over it; the recommender
//! against independent solves, baselines and real data.
//! One test binary, because each links all of DataFusion and Ballista.

mod browser;
mod dashboard;
mod hdfs;
mod kmeans;
mod moods;
mod netflix_pipeline;
mod netflix_real;
mod pipeline_generated;
mod real_movielens;
mod recommender;
mod safety;
mod scheduler;
mod vader_reference;
