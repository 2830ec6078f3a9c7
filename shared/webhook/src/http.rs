//! One HTTP/1.1 POST per connection over plain TCP: enough for a webhook, without an
//! HTTP client crate in the tree.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Response bytes read, at most (a receiver's answer is a status and a short message).
pub const RESPONSE_BYTES_MAX: usize = 64 * 1024;

/// A parsed `http://host:port/path` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub host: String,
    pub port: u16,
    pub path: String,
}

/// Why a URL cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("webhook URL {url:?}: {why}")]
pub struct UrlError {
    pub url: String,
    pub why: &'static str,
}

impl Url {
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let error = |why| UrlError { url: url.to_owned(), why };
        let rest = url.strip_prefix("http://").ok_or_else(|| error("only http:// is supported"))?;
        let (authority, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().map_err(|_| error("bad port"))?),
            None => (authority, 80),
        };
        if host.is_empty() || host.contains(['@', ' ']) || path.contains([' ', '\r', '\n']) {
            return Err(error("bad host or path"));
        }
        Ok(Self { host: host.to_owned(), port, path })
    }
}

/// What came back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// Why no response came.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("connecting to {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("talking to {0}: {1}")]
    Io(String, std::io::Error),
    #[error("no answer from {0} within {1:?}")]
    TimedOut(String, Duration),
    #[error("unreadable answer from {0}")]
    Malformed(String),
}

/// POSTs `body` with `headers`, all within `timeout`.
pub async fn post(url: &Url, headers: &[(&str, &str)], body: &[u8], timeout: Duration) -> Result<Response, HttpError> {
    let target = format!("{}:{}", url.host, url.port);
    tokio::time::timeout(timeout, exchange(url, &target, headers, body))
        .await
        .map_err(|_| HttpError::TimedOut(target.clone(), timeout))?
}

async fn exchange(url: &Url, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Response, HttpError> {
    let mut stream = tokio::net::TcpStream::connect(target).await.map_err(|e| HttpError::Connect(target.to_owned(), e))?;
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        url.path,
        url.host,
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let io = |e| HttpError::Io(target.to_owned(), e);
    stream.write_all(head.as_bytes()).await.map_err(io)?;
    stream.write_all(body).await.map_err(io)?;
    let mut raw = Vec::new();
    stream.take(RESPONSE_BYTES_MAX as u64).read_to_end(&mut raw).await.map_err(io)?;
    parse_response(&raw).ok_or_else(|| HttpError::Malformed(target.to_owned()))
}

/// Status and body of a raw HTTP/1.x response (`Connection: close`, so the body runs to
/// the end; chunked bodies are shown as sent, which is fine for a message).
pub fn parse_response(raw: &[u8]) -> Option<Response> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status_line = head.lines().next()?;
    let mut parts = status_line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status = parts.next()?.parse().ok()?;
    Some(Response { status, body: body.trim().to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        assert_eq!(Url::parse("http://127.0.0.1:8080/qm/hook"), Ok(Url { host: "127.0.0.1".into(), port: 8080, path: "/qm/hook".into() }));
        assert_eq!(Url::parse("http://example").map(|u| (u.port, u.path)), Ok((80, "/".into())));
        for bad in ["https://x/", "ftp://x", "http://:80/", "http://x:port/", "http://a b/"] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_responses() {
        assert_eq!(parse_response(b"HTTP/1.1 503 Service Unavailable\r\nA: b\r\n\r\nbusy\n"), Some(Response { status: 503, body: "busy".into() }));
        assert_eq!(parse_response(b"HTTP/1.0 200 OK\r\n\r\n").map(|r| r.status), Some(200));
        assert_eq!(parse_response(b"garbage"), None);
    }
}
