//! Mood Explorer: moodflow's web dashboard over a pipeline run's outputs.
//!
//! `moodflow dashboard --root ROOT` reads the curated tables and the model
//! with DataFusion (from any root the pipeline supports), holds them in
//! memory ([`snapshot`]) and swaps in a newer run when one lands
//! ([`state`]). Every view is server-rendered HTML ([`pages`]) with inline
//! SVG charts ([`svg`]), so it works offline and without JavaScript, and
//! has a JSON twin under `/api` ([`api`]); both are computed by [`views`].

pub mod api;
pub mod bench;
pub mod error;
pub mod feel;
pub mod files;
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
        .route("/search", get(pages::search))
        .route("/status", get(pages::status))
        .route("/health", get(|| async { "ok\n" }))
        .route("/api/moods", get(api::moods))
        .route("/api/moods/{mood}", get(api::mood))
        .route("/api/moods/{mood}/playlist", get(api::playlist))
        .route("/api/movies", get(api::search))
        .route("/api/movies/{id}", get(api::movie))
        .route("/api/movies/{id}/similar", get(api::similar))
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

/// Serves the dashboard on `listener` until the process ends, checking for
/// newer pipeline runs in the background.
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let watcher = state.spawn_watcher();
    let result = axum::serve(listener, router(state)).await;
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
