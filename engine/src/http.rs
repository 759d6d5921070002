//! A minimal HTTP/1.1 GET for health checks and the scheduler's REST API
//! (`moodflow-scheduler --health`, `moodflow health URL`, job progress):
//! loopback or a private network, no TLS, no redirects, so no HTTP client
//! library is needed.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response: status code and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Body as text (lossy UTF-8).
    pub body: String,
}

fn invalid(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.into())
}

/// `GET url` (`http://host:port/path?query`), the whole exchange bounded by `timeout`.
pub async fn get(url: &str, timeout: Duration) -> std::io::Result<Response> {
    request("GET", url, timeout).await
}

/// `method url` without a body (`PATCH /api/job/{id}` cancels a Ballista job).
pub async fn request(method: &str, url: &str, timeout: Duration) -> std::io::Result<Response> {
    let parsed = url::Url::parse(url).map_err(|e| invalid(format!("{url}: {e}")))?;
    if parsed.scheme() != "http" {
        return Err(invalid(format!("{url}: only http:// is supported")));
    }
    let host = parsed.host_str().ok_or_else(|| invalid(format!("{url}: no host")))?;
    let port = parsed.port_or_known_default().unwrap_or(80);
    let path = match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_string(),
    };
    let exchange = async {
        let mut stream = TcpStream::connect((host, port)).await?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        parse(&raw)
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, format!("{url}: no answer in {timeout:?}")))?
}

fn parse(raw: &[u8]) -> std::io::Result<Response> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("response without a header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid("response without a status line"))?;
    let chunked = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding") && v.trim().eq_ignore_ascii_case("chunked")
        })
    });
    let body = &raw[split + 4..];
    let body = if chunked { dechunk(body)? } else { body.to_vec() };
    Ok(Response {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| invalid("truncated chunk size"))?;
        let size_text = String::from_utf8_lossy(&body[..end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| invalid(format!("bad chunk size '{size_text}'")))?;
        body = &body[end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size {
            return Err(invalid("truncated chunk"));
        }
        out.extend_from_slice(&body[..size]);
        body = body.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_bodies() {
        let plain = parse(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").expect("valid");
        assert_eq!(
            plain,
            Response {
                status: 200,
                body: "ok".into()
            }
        );
        let chunked = parse(
            b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .expect("valid");
        assert_eq!(
            chunked,
            Response {
                status: 503,
                body: "abcde".into()
            }
        );
        assert!(parse(b"garbage").is_err());
    }

    #[tokio::test]
    async fn refuses_other_schemes_and_reports_refused_connections() {
        assert!(get("https://example.invalid/", Duration::from_secs(1)).await.is_err());
        // Port 1 on loopback: nothing listens there.
        let e = get("http://127.0.0.1:1/health", Duration::from_secs(2))
            .await
            .expect_err("refused");
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
    }
}
