//! The JSON API: one endpoint behind every view (see the README's table).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, Problem};
use crate::feel::{feel, Feeling};
use crate::foryou::{self, OnboardingFilm, PersonalList, Together};
use crate::params::{movie_id, Params, PlaylistFilter};
use crate::snapshot::{MoodEntry, Movie, Snapshot};
use crate::state::AppState;
use crate::views::{self, Histograms, MoodSummary, MovieDetail, Neighbour, Playlist, Point, SearchHit, Status};

/// The largest request body accepted (`POST /api/mood-from-text`).
pub const MAX_BODY: usize = 16 * 1024;
/// The longest text scored.
pub const MAX_TEXT_CHARS: usize = 2000;

type ApiResult<T> = Result<Json<T>, ApiError>;

/// The mood named in a path, or a 404 naming it.
pub fn find_mood<'a>(s: &'a Snapshot, name: &str) -> Result<&'a MoodEntry, Problem> {
    s.mood(name).ok_or_else(|| {
        let known: Vec<&str> = s.moods.iter().map(|m| m.slug.as_str()).collect();
        Problem::NotFound(format!("no mood '{name}' (moods: {})", known.join(", ")))
    })
}

/// The movie named in a path, or a 400 (not an id) or 404 (no such movie).
pub fn find_movie<'a>(s: &'a Snapshot, raw: &str) -> Result<&'a Movie, Problem> {
    let id = movie_id(raw)?;
    s.movie(id)
        .ok_or_else(|| Problem::NotFound(format!("no clustered movie with movieId {id}")))
}

/// `GET /api/moods`
pub async fn moods(State(state): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Vec<MoodSummary>> {
    Params::parse(q.as_deref(), &[])?;
    let s = state.snapshot()?;
    Ok(Json(views::moods(&s)))
}

/// `GET /api/moods/{mood}`
pub async fn mood(
    State(state): State<AppState>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<MoodSummary> {
    Params::parse(q.as_deref(), &[])?;
    let s = state.snapshot()?;
    Ok(Json(views::mood_summary(&s, find_mood(&s, &name)?)))
}

/// `GET /api/moods/{mood}/playlist?genre=&year_min=&year_max=&min_ratings=&q=&limit=`
pub async fn playlist(
    State(state): State<AppState>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Playlist> {
    let s = state.snapshot()?;
    let entry = find_mood(&s, &name)?;
    let filter = PlaylistFilter::parse(&Params::parse(q.as_deref(), PlaylistFilter::NAMES)?, &s.genres)?;
    Ok(Json(views::playlist(&s, entry, &filter)))
}

/// `GET /api/movies/{movieId}`
pub async fn movie(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<MovieDetail> {
    Params::parse(q.as_deref(), &[])?;
    let s = state.snapshot()?;
    Ok(Json(views::movie_detail(&s, find_movie(&s, &raw)?)))
}

/// `GET /api/movies/{movieId}/similar?limit=`
pub async fn similar(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Vec<Neighbour>> {
    let params = Params::parse(q.as_deref(), &["limit"])?;
    let limit = params.int("limit", 1, 100)?.unwrap_or(10) as usize;
    let s = state.snapshot()?;
    Ok(Json(views::similar(&s, find_movie(&s, &raw)?, limit)))
}

/// The answer of a title search.
#[derive(Debug, Serialize)]
pub struct SearchResult {
    /// The words searched.
    pub q: String,
    /// Movies matching.
    pub total: usize,
    /// The most rated of them.
    pub hits: Vec<SearchHit>,
}

/// `GET /api/movies?q=&limit=`
pub async fn search(State(state): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<SearchResult> {
    let params = Params::parse(q.as_deref(), &["q", "limit"])?;
    let words = params
        .words("q", 200)?
        .ok_or_else(|| Problem::param("q", "is required (words of a title)"))?;
    let limit = params.int("limit", 1, 1000)?.unwrap_or(50) as usize;
    let s = state.snapshot()?;
    let (total, hits) = views::search(&s, &words, limit);
    Ok(Json(SearchResult { q: words, total, hits }))
}

/// `GET /api/status`
pub async fn status(State(state): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Status> {
    Params::parse(q.as_deref(), &[])?;
    let s = state.snapshot()?;
    Ok(Json(views::status(&s, state.reload_error())))
}

/// `GET /api/charts/scatter`
pub async fn scatter(State(state): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Vec<Point>> {
    Params::parse(q.as_deref(), &[])?;
    let s = state.snapshot()?;
    Ok(Json(views::points(&s)))
}

/// `GET /api/charts/histograms`
pub async fn histograms(State(state): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Histograms> {
    Params::parse(q.as_deref(), &[])?;
    let s = state.snapshot()?;
    Ok(Json(views::histograms(&s)))
}

/// The body of `POST /api/mood-from-text`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeelRequest {
    text: String,
}

/// Checks a text to score.
pub fn check_text(text: &str) -> Result<(), Problem> {
    if text.trim().is_empty() {
        return Err(Problem::param("text", "is empty: say how you feel"));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(Problem::param(
            "text",
            format!("longer than {MAX_TEXT_CHARS} characters"),
        ));
    }
    Ok(())
}

/// A body axum could not read: too large (413) or otherwise bad (400).
fn body_problem(e: BytesRejection) -> Problem {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::TooLarge(MAX_BODY)
    } else {
        Problem::BadBody(e.body_text())
    }
}

/// `POST /api/mood-from-text` with `{"text": "..."}`
pub async fn mood_from_text(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> ApiResult<Feeling> {
    let body = body.map_err(body_problem)?;
    let req: FeelRequest = serde_json::from_slice(&body)
        .map_err(|e| Problem::BadBody(format!("expected JSON {{\"text\": \"...\"}}: {e}")))?;
    check_text(&req.text)?;
    let s = state.snapshot()?;
    Ok(Json(feel(&s, &req.text)))
}

/// Any other path under `/api`.
pub async fn not_found() -> ApiError {
    ApiError(Problem::NotFound(
        "no such API endpoint (see the README's API table)".to_string(),
    ))
}

/// `GET /api/users/{id}/recommendations?mood=&limit=`
pub async fn user_recommendations(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<PersonalList> {
    let params = Params::parse(q.as_deref(), &["mood", "limit"])?;
    let s = state.snapshot()?;
    let mood = foryou::mood_param(&s, params.text("mood", 200)?.as_deref())?;
    let limit = params.int("limit", 1, foryou::MAX_LIMIT)?.unwrap_or(10) as usize;
    Ok(Json(foryou::for_user(&s, &id, mood, limit).await?))
}

/// One rating of a newcomer.
#[derive(Debug, Deserialize)]
struct RatingIn {
    #[serde(rename = "movieId")]
    movie_id: i64,
    rating: f64,
}

/// The body of `POST /api/recommendations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUserRequest {
    ratings: Vec<RatingIn>,
    #[serde(default)]
    mood: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
}

/// `POST /api/recommendations` with `{"ratings": [{"movieId": 1, "rating": 4.5}, …], "mood": "…", "limit": 10}`:
/// a newcomer's list, folded in from their ratings.
pub async fn new_user_recommendations(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<PersonalList> {
    let body = body.map_err(body_problem)?;
    let req: NewUserRequest = serde_json::from_slice(&body).map_err(|e| {
        Problem::BadBody(format!(
            "expected JSON {{\"ratings\": [{{\"movieId\": 1, \"rating\": 4.5}}], \"mood\": \"…\", \"limit\": 10}}: {e}"
        ))
    })?;
    let limit = match req.limit {
        None => 10,
        Some(l) if (1..=foryou::MAX_LIMIT).contains(&l) => l as usize,
        Some(l) => return Err(Problem::param("limit", format!("{l} is not in 1..{}", foryou::MAX_LIMIT)).into()),
    };
    let s = state.snapshot()?;
    let mood = foryou::mood_param(&s, req.mood.as_deref().filter(|m| !m.is_empty()))?;
    let ratings: Vec<(i64, f64)> = req.ratings.iter().map(|r| (r.movie_id, r.rating)).collect();
    Ok(Json(foryou::for_new_user(&s, &ratings, mood, limit)?))
}

/// `GET /api/onboarding`: the films a newcomer is asked to rate.
pub async fn onboarding(State(state): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Vec<OnboardingFilm>> {
    Params::parse(q.as_deref(), &[])?;
    let s = state.snapshot()?;
    Ok(Json(foryou::onboarding(&s)))
}

/// `GET /api/movies/{id}/together`: films watched with this one.
pub async fn together(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Vec<Together>> {
    let params = Params::parse(q.as_deref(), &["limit"])?;
    let limit = params.int("limit", 1, foryou::MAX_LIMIT)?.unwrap_or(10) as usize;
    let s = state.snapshot()?;
    let m = find_movie(&s, &raw)?;
    Ok(Json(foryou::watched_together(&s, m.id, limit)))
}
