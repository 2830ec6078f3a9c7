//! The webhook backend against a real HTTP server on 127.0.0.1, started by the test: a
//! small tokio server that answers each request with the next scripted status, and
//! records what it got.

use qm_backend::{Applied, Backend, BackendError, Effect, Verb};
use qm_webhook::body::verify;
use qm_webhook::{WebhookBackend, WebhookConfig};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A request as the receiver saw it.
#[derive(Clone, Debug)]
struct Seen {
    head: String,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| l.split_once(": ").filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.to_owned()))
    }
}

/// Starts a receiver answering with `script` in turn (the last entry repeats); `None`
/// in the script means "say nothing" (for the timeout case).
async fn receiver(script: Vec<Option<u16>>) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        let mut turn = 0;
        while let Ok((mut socket, _)) = listener.accept().await {
            let answer = script[turn.min(script.len() - 1)];
            turn += 1;
            let mut raw = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the head, then Content-Length bytes of body.
            let (head, body) = loop {
                let n = socket.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break (String::new(), Vec::new());
                }
                raw.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&raw).into_owned();
                if let Some(end) = text.find("\r\n\r\n") {
                    let head = text[..end].to_owned();
                    let length: usize = head.lines().find_map(|l| l.strip_prefix("Content-Length: ")).and_then(|v| v.parse().ok()).unwrap_or(0);
                    if raw.len() >= end + 4 + length {
                        break (head, raw[end + 4..end + 4 + length].to_vec());
                    }
                }
            };
            log.lock().expect("log").push(Seen { head, body });
            match answer {
                Some(status) => {
                    let reply = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n\r\nstatus {status} from the receiver");
                    let _ = socket.write_all(reply.as_bytes()).await;
                }
                None => tokio::time::sleep(Duration::from_secs(5)).await,
            }
        }
    });
    (url, seen)
}

fn effect() -> Effect {
    Effect {
        decision_id: uuid::Uuid::from_u128(42),
        workload: "w1".into(),
        team: "ml".into(),
        pool: "use-h100".into(),
        chips: 4,
        verb: Verb::Drain,
        grace_s: 30,
        deadline_ms: 9_000,
        reason: "owner reclaim".into(),
    }
}

fn backend(url: String) -> WebhookBackend {
    let config = WebhookConfig {
        url,
        secret: b"s3cret".to_vec(),
        timeout: Duration::from_millis(300),
        attempts_max: 3,
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(40),
    };
    WebhookBackend::new(config).expect("valid config")
}

/// Given a receiver that fails twice with 503 then accepts, the decision is applied on
/// the third attempt; every attempt carries the same body, the decision id as
/// idempotency key, and a signature the receiver can verify with the shared secret.
#[tokio::test]
async fn retries_until_accepted_with_signed_body_and_idempotency_key() {
    let (url, seen) = receiver(vec![Some(503), Some(503), Some(200)]).await;
    assert_eq!(backend(url).apply(&effect()).await, Ok(Applied::AsAsked));
    let seen = seen.lock().expect("log").clone();
    assert_eq!(seen.len(), 3);
    for request in &seen {
        assert!(request.head.starts_with("POST /hook HTTP/1.1"), "{}", request.head);
        assert_eq!(request.header("Idempotency-Key").as_deref(), Some("00000000-0000-0000-0000-00000000002a"));
        let signature = request.header("X-Qm-Signature").expect("signed");
        assert!(verify(b"s3cret", &request.body, &signature), "signature verifies");
        assert!(!verify(b"wrong", &request.body, &signature));
        assert_eq!(request.body, seen[0].body, "the same body every time");
    }
    let json: serde_json::Value = serde_json::from_slice(&seen[0].body).expect("json");
    assert_eq!(json["action"], "drain");
    assert_eq!(json["chips"], 4);
    assert_eq!(json["grace_s"], 30);
    assert_eq!(json["workload"], "w1");
}

/// A 4xx is a refusal: no retry, the receiver's words in the error.
#[tokio::test]
async fn a_refusal_is_not_retried() {
    let (url, seen) = receiver(vec![Some(422)]).await;
    let outcome = backend(url).apply(&effect()).await;
    assert!(matches!(&outcome, Err(BackendError::Rejected { message }) if message.contains("422") && message.contains("from the receiver")), "{outcome:?}");
    assert_eq!(seen.lock().expect("log").len(), 1);
}

/// Failures that may pass are retried a bounded number of times, then typed.
#[tokio::test]
async fn bounded_retries_then_a_typed_failure() {
    let (url, seen) = receiver(vec![Some(500)]).await;
    let outcome = backend(url).apply(&effect()).await;
    assert!(matches!(&outcome, Err(BackendError::Unavailable { message }) if message.contains("500")), "{outcome:?}");
    assert_eq!(seen.lock().expect("log").len(), 3, "attempts_max");

    let (url, _) = receiver(vec![None]).await;
    let outcome = backend(url).apply(&effect()).await;
    assert!(matches!(outcome, Err(BackendError::TimedOut { .. })), "{outcome:?}");

    // Nobody listening: connection refused, unavailable.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let outcome = backend(format!("http://127.0.0.1:{port}/hook")).apply(&effect()).await;
    assert!(matches!(outcome, Err(BackendError::Unavailable { .. })), "{outcome:?}");
}

#[test]
fn refuses_unusable_configs() {
    assert!(WebhookBackend::new(WebhookConfig { url: "https://x/".into(), secret: b"k".to_vec(), ..Default::default() }).is_err());
    assert!(WebhookBackend::new(WebhookConfig { url: "http://x/".into(), secret: vec![], ..Default::default() }).is_err());
}
