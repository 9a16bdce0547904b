//! `POST /webhooks/github`, `GET /healthz`, `GET /metrics` (axum).
//!
//! A delivery is accepted only with a valid `X-Hub-Signature-256` (HMAC-SHA256 of the raw body
//! with the shared secret, compared in constant time); bodies over 1 MiB get 413; a repeated
//! `X-GitHub-Delivery` id is acknowledged but ignored, so a redelivery never deploys twice (an id
//! over `MAX_DELIVERY_ID` characters is refused with 400 first). The
//! answer (202) goes out before any work: accepted events wait for the agent in a
//! [`DeliveryQueue`] that folds but never drops.

use super::queue::{DeliveryQueue, Queued};
use crate::metrics::Metrics;
use crate::secret::Secret;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

/// GitHub sends at most 25 MB, but our events are small: anything over this is refused.
pub const MAX_BODY: usize = 1024 * 1024;
/// Delivery ids remembered for de-duplication.
pub const REMEMBERED_DELIVERIES: usize = 4096;
/// GitHub's delivery ids are UUIDs (36 characters); anything longer than this, or with other
/// than printable ASCII, is refused before it reaches the de-dup cache or a log line.
pub const MAX_DELIVERY_ID: usize = 128;

/// What an accepted delivery asks the agent to do.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A push to `git_ref` (e.g. `refs/heads/main`, `refs/tags/v1.4.0`) with head `after`.
    Push { git_ref: String, after: String },
    /// A pull request was opened or updated: preview the plan of `head_sha` against `base_sha`.
    PullRequest {
        number: u64,
        action: String,
        head_sha: String,
        base_sha: String,
        /// The branch the pull request would merge into (`main`); empty in deliveries handed
        /// over by an older agent.
        #[serde(default)]
        base_ref: String,
    },
    /// `/amagent approve|reject …` commented on pull request `number` by `author`.
    Command {
        number: u64,
        author: String,
        body: String,
    },
}

/// An accepted delivery: GitHub's `X-GitHub-Delivery` id and what it asks.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Delivery {
    pub id: String,
    pub event: Event,
}

/// The delivery ids seen lately (the newest [`REMEMBERED_DELIVERIES`]). Cloning shares them:
/// the webhook server and the hand-over from a standby (`daemon::handoff`) de-duplicate
/// against the same ids.
#[derive(Clone)]
pub struct SeenDeliveries(Arc<Mutex<lru::LruCache<String, ()>>>);

impl Default for SeenDeliveries {
    fn default() -> Self {
        SeenDeliveries(Arc::new(Mutex::new(lru::LruCache::new(
            NonZeroUsize::new(REMEMBERED_DELIVERIES).expect("non-zero"),
        ))))
    }
}

impl SeenDeliveries {
    /// Remember `id`; false when it was seen before (a redelivery).
    pub fn first_time(&self, id: &str) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        seen.put(id.to_string(), ()).is_none()
    }

    /// Forget `id`; whether it was remembered.
    pub fn forget(&self, id: &str) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        seen.pop(id).is_some()
    }
}

pub struct WebhookState {
    secret: Secret,
    seen: SeenDeliveries,
    events: Arc<DeliveryQueue>,
    pub metrics: Arc<Metrics>,
}

impl WebhookState {
    pub fn new(secret: Secret, events: Arc<DeliveryQueue>, metrics: Arc<Metrics>) -> Self {
        WebhookState {
            secret,
            seen: SeenDeliveries::default(),
            events,
            metrics,
        }
    }

    /// The ids this server has seen, shared (see [`SeenDeliveries`]).
    pub fn seen(&self) -> SeenDeliveries {
        self.seen.clone()
    }
}

pub fn router(state: Arc<WebhookState>) -> Router {
    Router::new()
        .route("/webhooks/github", post(github))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

async fn metrics(State(state): State<Arc<WebhookState>>) -> impl IntoResponse {
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

/// `sha256=<hex>` over `body` with `secret`, checked in constant time.
pub fn signature_valid(secret: &Secret, body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// `sha256=<hex>` for `body` (what GitHub sends; tests and tools sign with it).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The JSON a delivery carries: the body itself, or — for a webhook GitHub sends as
/// `application/x-www-form-urlencoded` (an option in its settings) — the `payload` field of
/// the form. The signature is over the raw body either way.
fn payload(content_type: Option<&str>, body: &[u8]) -> Option<Vec<u8>> {
    let form = content_type.is_some_and(|t| {
        t.split(';').next().is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    });
    if !form {
        return Some(body.to_vec());
    }
    url::form_urlencoded::parse(body)
        .find(|(key, _)| key == "payload")
        .map(|(_, value)| value.into_owned().into_bytes())
}

fn parse(kind: &str, body: &[u8]) -> Option<Event> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    match kind {
        "push" => Some(Event::Push {
            git_ref: v["ref"].as_str()?.to_string(),
            after: v["after"].as_str()?.to_string(),
        }),
        "pull_request" => Some(Event::PullRequest {
            number: v["number"].as_u64()?,
            action: v["action"].as_str()?.to_string(),
            head_sha: v["pull_request"]["head"]["sha"].as_str()?.to_string(),
            base_sha: v["pull_request"]["base"]["sha"].as_str()?.to_string(),
            base_ref: v["pull_request"]["base"]["ref"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        }),
        // Only new comments on pull requests that start with a command; the rest are chatter.
        "issue_comment" if v["action"] == "created" && v["issue"]["pull_request"].is_object() => {
            let body = v["comment"]["body"].as_str()?;
            crate::state::journal::approvals::command(body)?;
            Some(Event::Command {
                number: v["issue"]["number"].as_u64()?,
                author: v["comment"]["user"]["login"].as_str()?.to_string(),
                body: body.to_string(),
            })
        }
        _ => None,
    }
}

async fn github(
    State(state): State<Arc<WebhookState>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // Checked first: every later step may log the id or remember it.
    if let Some(id) = headers.get("x-github-delivery")
        && (id.len() > MAX_DELIVERY_ID || !id.as_bytes().iter().all(u8::is_ascii_graphic))
    {
        state.metrics.rejected("bad-delivery-id");
        tracing::warn!(
            length = id.len(),
            "webhook rejected: X-GitHub-Delivery is not a short printable id"
        );
        return (
            StatusCode::BAD_REQUEST,
            "X-GitHub-Delivery must be at most 128 printable ASCII characters\n",
        );
    }
    if !signature_valid(&state.secret, &body, header("x-hub-signature-256")) {
        state
            .metrics
            .rejected(if header("x-hub-signature-256").is_none() {
                "missing-signature"
            } else {
                "bad-signature"
            });
        tracing::warn!(delivery = ?header("x-github-delivery"), "webhook rejected: invalid signature");
        return (StatusCode::UNAUTHORIZED, "invalid signature\n");
    }
    let Some(delivery) = header("x-github-delivery").map(String::from) else {
        state.metrics.rejected("missing-delivery-id");
        return (StatusCode::BAD_REQUEST, "missing X-GitHub-Delivery\n");
    };
    if !state.seen.first_time(&delivery) {
        state.metrics.rejected("duplicate-delivery");
        tracing::info!(%delivery, "webhook redelivery ignored");
        return (StatusCode::OK, "duplicate delivery ignored\n");
    }
    let kind = header("x-github-event").unwrap_or_default();
    if kind == "ping" {
        return (StatusCode::OK, "pong\n");
    }
    let json = payload(header("content-type"), &body);
    let Some(event) = json.and_then(|json| parse(kind, &json)) else {
        state.metrics.rejected("unhandled-event");
        return (StatusCode::ACCEPTED, "event ignored\n");
    };
    state.metrics.webhook_deliveries.inc();
    tracing::info!(%delivery, ?event, "webhook accepted");
    // Answer first; the agent does the work.
    match state.events.push(Delivery {
        id: delivery,
        event,
    }) {
        Queued::Added => (StatusCode::ACCEPTED, "accepted\n"),
        Queued::Replaced => (
            StatusCode::ACCEPTED,
            "accepted (replaces a pending delivery)\n",
        ),
        Queued::Ignored => (StatusCode::ACCEPTED, "event ignored\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures() {
        let secret = Secret::new("It's a Secret to Everybody");
        // GitHub's documented example.
        let body = b"Hello, World!";
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(signature_valid(&secret, body, Some(sig)));
        assert_eq!(sign("It's a Secret to Everybody", body), sig);
        assert!(!signature_valid(&secret, b"Hello, World?", Some(sig)));
        assert!(!signature_valid(&secret, body, None));
        assert!(!signature_valid(&secret, body, Some("sha256=zz")));
        assert!(!signature_valid(
            &Secret::new("old secret"),
            body,
            Some(sig)
        ));
    }
}
