//! A local HTTP receiver (axum) for notifications: records every request (path, headers, body)
//! and answers by path — `/flaky…` 500 on every odd request and 200 on the even ones,
//! `/refuse…` 400, Slack's Web API (`/api/chat.postMessage`, `/api/chat.update`) as Slack
//! documents it (`ok`, `channel`, `ts`; channel `#refused`: `ok: false`), anything else 200 `ok`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Clone, Default)]
pub struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    pub url: String,
}

/// The `ts` the fake Slack gives the first message.
pub const SLACK_TS: &str = "1733119200.000100";

impl Receiver {
    /// Serve on a free loopback port, on a runtime of its own.
    pub fn start() -> Receiver {
        let mut receiver = Receiver::default();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        receiver.url = format!("http://{}", listener.local_addr().unwrap());
        let state = receiver.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = Router::new().fallback(answer).with_state(state);
                axum::serve(listener, app).await.unwrap();
            });
        });
        receiver
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Requests to paths starting with `prefix`, in order.
    pub fn to(&self, prefix: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.path.starts_with(prefix))
            .collect()
    }
}

async fn answer(
    State(receiver): State<Receiver>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let path = uri.path().to_string();
    let mut all = receiver.received.lock().unwrap();
    all.push(Received {
        path: path.clone(),
        headers,
        body: body.to_vec(),
    });
    let seen = all.iter().filter(|r| r.path == path).count();
    if path.starts_with("/flaky") {
        return match seen % 2 {
            1 => (StatusCode::INTERNAL_SERVER_ERROR, "try again".into()),
            _ => (StatusCode::OK, "ok".into()),
        };
    }
    if path.starts_with("/refuse") {
        return (StatusCode::BAD_REQUEST, "no such hook".into());
    }
    if path.starts_with("/api/chat.") {
        let sent: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if sent["channel"] == "#refused" {
            // Slack refuses with 200 and `ok: false`.
            let answer = serde_json::json!({ "ok": false, "error": "channel_not_found" });
            return (StatusCode::OK, answer.to_string());
        }
        let answer = serde_json::json!({ "ok": true, "channel": sent["channel"], "ts": SLACK_TS });
        return (StatusCode::OK, answer.to_string());
    }
    (StatusCode::OK, "ok".into())
}
