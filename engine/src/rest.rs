//! HTTP on reqwest: a typed client of the Ballista scheduler's REST API
//! (the job and stage shapes are `ballista-api-types`' own; the executor
//! list, which that crate does not describe, has the few fields moodflow
//! reads), and plain GETs for health checks (`moodflow health URL`,
//! `moodflow-scheduler --health`).

use std::time::Duration;

pub use ballista_api_types::dto::{JobResponse, QueryStageSummary, QueryStagesResponse};
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// What went wrong talking to a server.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// No answer, or not HTTP.
    #[error("{url}: {source}")]
    Transport {
        /// The URL.
        url: String,
        /// reqwest's error.
        source: reqwest::Error,
    },
    /// An answer other than 2xx.
    #[error("{url} answered {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// A body that is not the expected JSON.
    #[error("{url}: unexpected answer: {source}")]
    Body {
        /// The URL.
        url: String,
        /// serde's error.
        source: serde_json::Error,
    },
}

/// An answer: its status and its body as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Body (lossy UTF-8).
    pub body: String,
}

fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder().timeout(timeout).no_proxy().build()
}

/// `GET url`, whatever the status, the whole exchange within `timeout`.
pub async fn get(url: &str, timeout: Duration) -> Result<Response, RestError> {
    let transport = |source| RestError::Transport {
        url: url.to_string(),
        source,
    };
    let answer = client(timeout)
        .map_err(transport)?
        .get(url)
        .send()
        .await
        .map_err(transport)?;
    let status = answer.status().as_u16();
    let bytes = answer.bytes().await.map_err(transport)?;
    Ok(Response {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

/// An executor as the scheduler lists it (`GET /api/executors`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ExecutorSummary {
    /// Ballista's executor id.
    pub id: String,
    /// The host of its Flight service.
    pub host: String,
    /// The port of its Flight service.
    pub port: u16,
}

/// The scheduler's REST API at `http://host:port`.
#[derive(Debug, Clone)]
pub struct SchedulerRest {
    base: String,
    client: reqwest::Client,
}

impl SchedulerRest {
    /// A client of the scheduler at `base` (`http://host:port`); every
    /// request within `timeout`.
    pub fn new(base: &str, timeout: Duration) -> Result<Self, RestError> {
        let client = client(timeout).map_err(|source| RestError::Transport {
            url: base.to_string(),
            source,
        })?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            client,
        })
    }

    async fn json<T: DeserializeOwned>(&self, path: &str) -> Result<T, RestError> {
        let url = format!("{}{path}", self.base);
        let transport = |source| RestError::Transport {
            url: url.clone(),
            source,
        };
        let answer = self.client.get(&url).send().await.map_err(transport)?;
        if !answer.status().is_success() {
            return Err(RestError::Status {
                url: url.clone(),
                status: answer.status().as_u16(),
            });
        }
        let bytes = answer.bytes().await.map_err(transport)?;
        serde_json::from_slice(&bytes).map_err(|source| RestError::Body { url, source })
    }

    /// The registered executors.
    pub async fn executors(&self) -> Result<Vec<ExecutorSummary>, RestError> {
        self.json("/api/executors").await
    }

    /// Every job the scheduler knows.
    pub async fn jobs(&self) -> Result<Vec<JobResponse>, RestError> {
        self.json("/api/jobs").await
    }

    /// A job's stages with their tasks.
    pub async fn stages(&self, job_id: &str) -> Result<QueryStagesResponse, RestError> {
        self.json(&format!("/api/job/{job_id}/stages")).await
    }

    /// Cancels a job (`PATCH /api/job/{id}`); the status of the answer.
    pub async fn cancel(&self, job_id: &str) -> Result<u16, RestError> {
        let url = format!("{}/api/job/{job_id}", self.base);
        let answer = self
            .client
            .patch(&url)
            .send()
            .await
            .map_err(|source| RestError::Transport { url, source })?;
        Ok(answer.status().as_u16())
    }
}
