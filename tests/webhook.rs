//! The webhook server over real HTTP: only correctly signed, first-time deliveries wake the
//! agent; everything else is rejected or ignored and triggers nothing.

use amagent::metrics::Metrics;
use amagent::secret::Secret;
use amagent::watch::webhook::{Event, WebhookState, router, sign};
use std::sync::Arc;
use tokio::sync::mpsc;

const PUSH: &str = include_str!("fixtures/github-push-event.json");
const PULL: &str = include_str!("fixtures/github-pull-request-event.json");
const SECRET: &str = "webhook-s3cret";

struct Server {
    url: String,
    events: mpsc::Receiver<Event>,
    client: reqwest::Client,
}

async fn serve() -> Server {
    let (tx, rx) = mpsc::channel(16);
    let state = Arc::new(WebhookState::new(
        Secret::new(SECRET),
        tx,
        Arc::new(Metrics::default()),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(state)).await.unwrap() });
    Server {
        url,
        events: rx,
        client: reqwest::Client::new(),
    }
}

impl Server {
    async fn deliver(
        &self,
        event: &str,
        delivery: &str,
        body: &str,
        signature: Option<String>,
    ) -> u16 {
        let mut req = self
            .client
            .post(format!("{}/webhooks/github", self.url))
            .header("X-GitHub-Event", event)
            .header("X-GitHub-Delivery", delivery)
            .header("Content-Type", "application/json")
            .body(body.to_string());
        if let Some(sig) = signature {
            req = req.header("X-Hub-Signature-256", sig);
        }
        req.send().await.unwrap().status().as_u16()
    }

    fn triggered(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            events.push(e);
        }
        events
    }
}

#[tokio::test]
async fn a_signed_push_wakes_the_agent_once() {
    let mut s = serve().await;
    let code = s
        .deliver("push", "d-1", PUSH, Some(sign(SECRET, PUSH.as_bytes())))
        .await;
    assert_eq!(code, 202);
    let fixture: serde_json::Value = serde_json::from_str(PUSH).unwrap();
    assert_eq!(
        s.triggered(),
        [Event::Push {
            git_ref: fixture["ref"].as_str().unwrap().into(),
            after: fixture["after"].as_str().unwrap().into()
        }]
    );
    // GitHub redelivers with the same id: acknowledged, not acted on.
    assert_eq!(
        s.deliver("push", "d-1", PUSH, Some(sign(SECRET, PUSH.as_bytes())))
            .await,
        200
    );
    assert!(s.triggered().is_empty());
}

#[tokio::test]
async fn forged_missing_stale_and_oversized_deliveries_trigger_nothing() {
    let mut s = serve().await;
    let forged = PUSH.replace("\"ref\"", "\"ref\" ");
    assert_eq!(
        s.deliver("push", "d-2", &forged, Some(sign(SECRET, PUSH.as_bytes())))
            .await,
        401
    );
    assert_eq!(s.deliver("push", "d-3", PUSH, None).await, 401);
    assert_eq!(
        s.deliver(
            "push",
            "d-4",
            PUSH,
            Some(sign("rotated-away", PUSH.as_bytes()))
        )
        .await,
        401
    );
    assert_eq!(
        s.deliver("push", "d-5", PUSH, Some("sha256=not-hex".into()))
            .await,
        401
    );
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    assert_eq!(
        s.deliver("push", "d-6", &huge, Some(sign(SECRET, huge.as_bytes())))
            .await,
        413
    );
    assert!(s.triggered().is_empty());
    let metrics = s
        .client
        .get(format!("{}/metrics", s.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("amagent_webhook_rejections_total{reason=\"bad-signature\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("amagent_webhook_rejections_total{reason=\"missing-signature\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn pull_request_events_ask_for_a_plan_preview() {
    let mut s = serve().await;
    assert_eq!(
        s.deliver(
            "pull_request",
            "d-7",
            PULL,
            Some(sign(SECRET, PULL.as_bytes()))
        )
        .await,
        202
    );
    let fixture: serde_json::Value = serde_json::from_str(PULL).unwrap();
    match s.triggered().as_slice() {
        [
            Event::PullRequest {
                number, head_sha, ..
            },
        ] => {
            assert_eq!(*number, fixture["number"].as_u64().unwrap());
            assert_eq!(
                head_sha,
                fixture["pull_request"]["head"]["sha"].as_str().unwrap()
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn health_and_metrics_endpoints() {
    let s = serve().await;
    let health = s
        .client
        .get(format!("{}/healthz", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let metrics = s
        .client
        .get(format!("{}/metrics", s.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("# TYPE amagent_webhook_deliveries counter"),
        "{metrics}"
    );
    assert!(
        metrics.contains("amagent_webhook_deliveries_total 0"),
        "{metrics}"
    );
    assert!(metrics.ends_with("# EOF\n"));
}
