//! Mood Explorer: moodflow's web dashboard over a pipeline run's outputs.
//!
//! `moodflow dashboard --root ROOT` reads the curated tables and the model
//! with DataFusion (from any root the pipeline supports), holds them in
//! memory ([`snapshot`]) and swaps in a newer run when one lands
//! ([`state`]). Every view is server-rendered HTML ([`pages`]) with inline
//! SVG charts ([`svg`]), so it works offline and without JavaScript, and
//! has a JSON twin under `/api` ([`api`]); both are computed by [`views`],
//! and the personal recommendations by [`foryou`].

pub mod api;
pub mod bench;
pub mod error;
pub mod feel;
pub mod files;
pub mod foryou;
pub mod html;
pub mod pages;
pub mod params;
pub mod snapshot;
pub mod state;
pub mod svg;
pub mod views;

use std::net::SocketAddr;

use axum::extract::DefaultBodyLimit;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

pub use state::{AppState, Settings};

/// Every route of the dashboard.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/moods/{mood}", get(pages::mood))
        .route("/moods/{mood}/playlist.csv", get(pages::playlist_csv))
        .route("/movies/{id}", get(pages::movie))
        .route("/charts", get(pages::charts))
        .route("/feel", get(pages::feel_page))
        .route("/for-you", get(pages::for_you))
        .route("/new", get(pages::new_user))
        .route("/search", get(pages::search))
        .route("/status", get(pages::status))
        .route("/health", get(|| async { "ok\n" }))
        .route("/api/moods", get(api::moods))
        .route("/api/moods/{mood}", get(api::mood))
        .route("/api/moods/{mood}/playlist", get(api::playlist))
        .route("/api/movies", get(api::search))
        .route("/api/movies/{id}", get(api::movie))
        .route("/api/movies/{id}/similar", get(api::similar))
        .route("/api/movies/{id}/together", get(api::together))
        .route("/api/users/{id}/recommendations", get(api::user_recommendations))
        .route("/api/recommendations", post(api::new_user_recommendations))
        .route("/api/onboarding", get(api::onboarding))
        .route("/api/status", get(api::status))
        .route("/api/charts/scatter", get(api::scatter))
        .route("/api/charts/histograms", get(api::histograms))
        .route("/api/mood-from-text", post(api::mood_from_text))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(api::MAX_BODY))
        .with_state(state)
}

async fn not_found(uri: Uri) -> Response {
    if uri.path() == "/api" || uri.path().starts_with("/api/") {
        api::not_found().await.into_response()
    } else {
        pages::not_found().await.into_response()
    }
}

/// How many connections the dashboard holds open, and how long a client
/// may take to send a request's headers (also the longest an idle
/// keep-alive connection stays open).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections served at once; the next waits in the listen backlog
    /// until one closes.
    pub max_connections: usize,
    /// From the moment the server waits for a request (a new connection,
    /// or the next request on a kept-alive one) to the end of its headers.
    pub header_timeout: std::time::Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 256,
            header_timeout: std::time::Duration::from_secs(10),
        }
    }
}

/// Serves the dashboard on `listener` until the process ends, checking for
/// newer pipeline runs in the background.
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    serve_with(state, listener, ConnectionLimits::default()).await
}

/// [`serve`] with other connection limits. Each connection is served by
/// hyper's HTTP/1 server with a header-read timeout (so a client that
/// opens connections and sends nothing, or sends headers a byte a minute,
/// cannot hold them), and a semaphore caps the open connections.
pub async fn serve_with(
    state: AppState,
    listener: tokio::net::TcpListener,
    limits: ConnectionLimits,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let watcher = state.spawn_watcher();
    let app = router(state);
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let result = loop {
        let Ok(permit) = std::sync::Arc::clone(&slots).acquire_owned().await else {
            break Ok(());
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of file descriptors and the like: wait, then go on.
            Err(e) => {
                tracing::warn!("dashboard: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = connection.await {
                tracing::debug!("dashboard: connection closed: {e}");
            }
            drop(permit);
        });
    };
    watcher.abort();
    result
}

/// Binds `addr` (port 0 picks a free port) and returns the listener and
/// the address it got.
pub async fn bind(addr: &str) -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}
