//! What can go wrong with a request, answered as JSON under `/api` and as
//! an HTML page everywhere else, with the same status and message.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::html;

/// A request that cannot be answered, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    /// No such mood, movie or page.
    #[error("{0}")]
    NotFound(String),
    /// A parameter is malformed or out of range; names the parameter.
    #[error("parameter '{param}': {reason}")]
    BadParam {
        /// The parameter's name as the request spells it.
        param: String,
        /// What is wrong with its value.
        reason: String,
    },
    /// The request body is not what the endpoint accepts.
    #[error("request body: {0}")]
    BadBody(String),
    /// The request body is larger than the endpoint accepts.
    #[error("request body larger than {0} bytes")]
    TooLarge(usize),
    /// There are no pipeline outputs to answer from yet.
    #[error("{0}")]
    NoData(String),
}

impl Problem {
    /// A malformed parameter.
    pub fn param(param: &str, reason: impl Into<String>) -> Self {
        Self::BadParam {
            param: param.to_string(),
            reason: reason.into(),
        }
    }

    /// The HTTP status of the problem.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadParam { .. } | Self::BadBody(_) => StatusCode::BAD_REQUEST,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NoData(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// The JSON body of an API error.
#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    error: String,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    param: Option<&'a str>,
}

/// A problem answered as JSON (`{"error", "status", "param"}`).
#[derive(Debug)]
pub struct ApiError(pub Problem);

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        Self(p)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let param = match &self.0 {
            Problem::BadParam { param, .. } => Some(param.as_str()),
            _ => None,
        };
        let body = ErrorBody {
            error: self.0.to_string(),
            status: status.as_u16(),
            param,
        };
        (status, Json(body)).into_response()
    }
}

/// A problem answered as an HTML page.
#[derive(Debug)]
pub struct PageError(pub Problem);

impl From<Problem> for PageError {
    fn from(p: Problem) -> Self {
        Self(p)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let heading = match &self.0 {
            Problem::NotFound(_) => "Not found",
            Problem::NoData(_) => "Nothing to show yet",
            _ => "Bad request",
        };
        let body = maud::html! {
            h1 { (heading) }
            p.problem { (self.0.to_string()) }
            p { a href="/" { "Back to the moods" } }
        };
        (status, Html(html::page(heading, "", body))).into_response()
    }
}
