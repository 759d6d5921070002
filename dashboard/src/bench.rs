//! `moodflow bench dashboard`: a load generator on reqwest. N clients on
//! keep-alive connections send the same GET for a fixed time; it reports
//! requests per second and latency percentiles.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use moodflow_engine::StorageRoot;
use moodflow_pipeline::output::group;

/// What a load run measured.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Requests answered 200.
    pub ok: u64,
    /// Requests answered otherwise, or failed.
    pub errors: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Slowest request.
    pub max: Duration,
    /// Bytes of the last response body.
    pub body_bytes: usize,
}

impl LoadReport {
    /// Answered requests per second.
    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs `clients` clients, each on its own keep-alive connection (a
/// reqwest client with one pooled connection), against `http://addr{path}`
/// for `duration`.
pub async fn load(addr: SocketAddr, path: &str, clients: usize, duration: Duration) -> std::io::Result<LoadReport> {
    let url = format!("http://{addr}{path}");
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let url = url.clone();
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .no_proxy()
            .build()
            .map_err(std::io::Error::other)?;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut body = 0usize;
            while Instant::now() < deadline {
                let t = Instant::now();
                let answer = client.get(&url).header("accept", "application/json").send().await;
                match answer {
                    Ok(r) if r.status() == reqwest::StatusCode::OK => match r.bytes().await {
                        Ok(bytes) => {
                            latencies.push(t.elapsed());
                            body = bytes.len();
                        }
                        Err(_) => errors += 1,
                    },
                    Ok(_) | Err(_) => errors += 1,
                }
            }
            Ok::<_, std::io::Error>((latencies, errors, body))
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    let mut body_bytes = 0;
    for t in tasks {
        let (l, e, b) = t.await.map_err(std::io::Error::other)??;
        all.extend(l);
        errors += e;
        body_bytes = body_bytes.max(b);
    }
    let elapsed = start.elapsed();
    all.sort();
    let pct = |p: f64| {
        if all.is_empty() {
            Duration::ZERO
        } else {
            all[((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1]
        }
    };
    Ok(LoadReport {
        ok: all.len() as u64,
        errors,
        elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
        max: all.last().copied().unwrap_or_default(),
        body_bytes,
    })
}

/// Prints requests/s and latency percentiles of the dashboard's API under
/// `clients` concurrent keep-alive connections on loopback, for `seconds`
/// per endpoint, against the pipeline outputs under `root`.
pub async fn run(root: &StorageRoot, clients: usize, seconds: u64) -> anyhow::Result<()> {
    use anyhow::Context;

    use crate::{bind, serve, AppState, Settings};
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
