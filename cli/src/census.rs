//! Which executors a scheduler has, from its REST API, and which of them
//! are gone: when a stage fails on a cluster, the error names the executors
//! that were lost during it (Ballista's own error often only says that a
//! fetch or a task failed).

use std::time::Duration;

/// An executor as the scheduler lists it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Executor {
    /// Ballista's executor id.
    pub id: String,
    /// `host:port` of its Flight service.
    pub addr: String,
}

/// The executors registered with the scheduler at `rest` (`http://HOST:PORT`);
/// `None` when the scheduler does not answer.
pub async fn executors(rest: &str) -> Option<Vec<Executor>> {
    let url = format!("{}/api/executors", rest.trim_end_matches('/'));
    let r = moodflow_udfs::http::get(&url, Duration::from_secs(3)).await.ok()?;
    let list: Vec<serde_json::Value> = serde_json::from_str(&r.body).ok()?;
    let mut out: Vec<Executor> = list
        .iter()
        .map(|e| Executor {
            id: e["id"].as_str().unwrap_or("").to_string(),
            addr: format!("{}:{}", e["host"].as_str().unwrap_or(""), e["port"]),
        })
        .collect();
    out.sort();
    Some(out)
}

/// Of the executors `before` a stage, those that are no longer registered
/// or no longer accept connections.
pub async fn lost(rest: &str, before: &[Executor]) -> Vec<Executor> {
    let now = executors(rest).await.unwrap_or_default();
    let mut gone = Vec::new();
    for e in before {
        let registered = now.iter().any(|n| n.id == e.id);
        let reachable = registered
            && tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(&e.addr))
                .await
                .is_ok_and(|c| c.is_ok());
        if !reachable {
            gone.push(e.clone());
        }
    }
    gone
}
