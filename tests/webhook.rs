//! The webhook server over real HTTP: only correctly signed, first-time deliveries wake the
//! agent; everything else is rejected or ignored and triggers nothing. Hostile clients (slow
//! headers, slow bodies, connection floods, oversized delivery ids) are cut off within the
//! server's limits while /healthz and GitHub still get through.

use amagent::metrics::Metrics;
use amagent::secret::Secret;
use amagent::watch::queue::DeliveryQueue;
use amagent::watch::serve::{self as bounded, Connections, ServerLimits, fd_limit};
use amagent::watch::webhook::{Event, MAX_DELIVERY_ID, WebhookState, router, sign};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PUSH: &str = include_str!("fixtures/github-push-event.json");
const PULL: &str = include_str!("fixtures/github-pull-request-event.json");
const SECRET: &str = "webhook-s3cret";

struct Server {
    url: String,
    events: Arc<DeliveryQueue>,
    client: reqwest::Client,
}

async fn serve() -> Server {
    serve_within(ServerLimits::for_fd_limit(fd_limit())).await.0
}

/// The server as `amagent run` starts it, within `limits`; `Connections` counts what is open.
async fn serve_within(limits: ServerLimits) -> (Server, Connections) {
    let queue = Arc::new(DeliveryQueue::default());
    let metrics = Arc::new(Metrics::default());
    let state = Arc::new(WebhookState::new(
        Secret::new(SECRET),
        queue.clone(),
        metrics.clone(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Connections::default();
    tokio::spawn(bounded::serve(
        listener,
        router(state),
        limits,
        connections.clone(),
        metrics,
    ));
    let server = Server {
        url,
        events: queue,
        client: reqwest::Client::new(),
    };
    (server, connections)
}

impl Server {
    async fn deliver(
        &self,
        event: &str,
        delivery: &str,
        body: &str,
        signature: Option<String>,
    ) -> u16 {
        self.deliver_as("application/json", event, delivery, body, signature)
            .await
    }

    async fn deliver_as(
        &self,
        content_type: &str,
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
            .header("Content-Type", content_type)
            .body(body.to_string());
        if let Some(sig) = signature {
            req = req.header("X-Hub-Signature-256", sig);
        }
        req.send().await.unwrap().status().as_u16()
    }

    fn triggered(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(d) = self.events.take() {
            events.push(d.event);
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

/// GitHub offers `application/x-www-form-urlencoded` deliveries: the JSON is the form's
/// `payload` field and the signature covers the form body as sent.
#[tokio::test]
async fn a_form_encoded_pull_request_delivery_is_read_like_a_json_one() {
    let mut s = serve().await;
    let form: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", PULL)
        .finish();
    let status = s
        .deliver_as(
            "application/x-www-form-urlencoded",
            "pull_request",
            "d-form",
            &form,
            Some(sign(SECRET, form.as_bytes())),
        )
        .await;
    assert_eq!(status, 202);
    let fixture: serde_json::Value = serde_json::from_str(PULL).unwrap();
    match s.triggered().as_slice() {
        [Event::PullRequest { number, .. }] => {
            assert_eq!(*number, fixture["number"].as_u64().unwrap())
        }
        other => panic!("the form's payload was not read: {other:?}"),
    }
    // Signed over the JSON instead of the form as sent: refused.
    let status = s
        .deliver_as(
            "application/x-www-form-urlencoded",
            "pull_request",
            "d-form-2",
            &form,
            Some(sign(SECRET, PULL.as_bytes())),
        )
        .await;
    assert_eq!(status, 401);
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

fn limits(max_connections: usize, timeout: Duration) -> ServerLimits {
    ServerLimits {
        header_read_timeout: timeout,
        body_read_timeout: timeout,
        idle_timeout: timeout,
        max_connections,
    }
}

/// Sends `first` at once, then `trickled` one byte per second — at most `MAX_TRICKLE` bytes, far
/// more seconds than the server's timeout — and waits a while for the server to close the
/// connection. Returns the bytes trickled before it did and what it answered; panics if it
/// never closed.
async fn trickle(url: &str, first: &[u8], trickled: &[u8]) -> (usize, String) {
    const MAX_TRICKLE: usize = 10;
    let stream = tokio::net::TcpStream::connect(url.trim_start_matches("http://"))
        .await
        .unwrap();
    let (mut read, mut write) = stream.into_split();
    write.write_all(first).await.unwrap();
    let reader = tokio::spawn(async move {
        let mut answer = Vec::new();
        let _ = read.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer).into_owned()
    });
    let mut sent = 0;
    for b in trickled.iter().take(MAX_TRICKLE) {
        if reader.is_finished() || write.write_all(&[*b]).await.is_err() {
            break;
        }
        sent += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let answer = tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .unwrap_or_else(|_| panic!("still open after {sent} slow bytes"))
        .unwrap();
    assert!(
        sent < MAX_TRICKLE,
        "the server waited for {sent} slow bytes"
    );
    (sent, answer)
}

#[tokio::test]
async fn a_slowloris_client_is_disconnected_after_the_header_timeout() {
    let (s, connections) = serve_within(limits(8, Duration::from_secs(2))).await;
    let head = b"POST /webhooks/github HTTP/1.1\r\nHost: agent\r\nX-GitHub-Event: push\r\n\r\n";
    let (_, answer) = trickle(&s.url, b"", head).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    // The server's side goes a moment after the client saw it close.
    for _ in 0..500 {
        if connections.open() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(connections.open(), 0);
}

#[tokio::test]
async fn a_slow_body_is_cut_off_after_the_body_timeout() {
    let (mut s, _) = serve_within(limits(8, Duration::from_secs(2))).await;
    let body = PUSH.as_bytes();
    let head = format!(
        "POST /webhooks/github HTTP/1.1\r\nHost: agent\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: slow\r\nX-Hub-Signature-256: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        sign(SECRET, body),
        body.len()
    );
    let (_, answer) = trickle(&s.url, head.as_bytes(), body).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(s.triggered().is_empty());
}

#[tokio::test]
async fn a_connection_flood_beyond_the_cap_leaves_health_and_github_working() {
    const CAP: usize = 8;
    // Timeouts far longer than the test: only the cap can keep the flood out.
    let (mut s, connections) = serve_within(limits(CAP, Duration::from_secs(300))).await;
    let addr = s.url.trim_start_matches("http://").to_string();
    let mut flood = Vec::new();
    for _ in 0..5 * CAP {
        flood.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    // Each connection beyond the cap closes the oldest idle one.
    let mut closed = 0;
    for stream in flood.iter_mut().take(4 * CAP) {
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf))
            .await
            .expect("a flood connection beyond the cap was kept open");
        if matches!(n, Ok(0) | Err(_)) {
            closed += 1;
        }
    }
    assert_eq!(closed, 4 * CAP);
    assert!(connections.open() <= CAP, "{} open", connections.open());

    let health = s
        .client
        .get(format!("{}/healthz", s.url))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(
        s.deliver("push", "d-flood", PUSH, Some(sign(SECRET, PUSH.as_bytes())))
            .await,
        202
    );
    assert_eq!(s.triggered().len(), 1);
    assert!(connections.open() <= CAP, "{} open", connections.open());
}

#[tokio::test]
async fn an_oversized_or_unprintable_delivery_id_is_refused_before_anything_remembers_it() {
    let mut s = serve().await;
    let signed = || Some(sign(SECRET, PUSH.as_bytes()));
    let long = "d".repeat(MAX_DELIVERY_ID + 1);
    assert_eq!(s.deliver("push", &long, PUSH, signed()).await, 400);
    assert_eq!(s.deliver("push", "two words", PUSH, signed()).await, 400);
    assert!(s.triggered().is_empty());
    // Not remembered: the longest allowed id (its first 128 characters) is a new delivery.
    let longest = "d".repeat(MAX_DELIVERY_ID);
    assert_eq!(s.deliver("push", &longest, PUSH, signed()).await, 202);
    assert_eq!(s.triggered().len(), 1);
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
        metrics.contains("amagent_webhook_rejections_total{reason=\"bad-delivery-id\"} 2"),
        "{metrics}"
    );
}

/// GitHub's published `issue_comment` delivery: a command on a pull request wakes the agent
/// with who said it; the same comment on an issue, or chatter, triggers nothing.
#[tokio::test]
async fn a_command_comment_on_a_pull_request_is_an_event_and_chatter_is_not() {
    let published: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/github/issue_comment.created.json")).unwrap();
    let mut s = serve().await;
    let send = |v: &serde_json::Value, id: &str| {
        let body = v.to_string();
        let sig = sign(SECRET, body.as_bytes());
        let s = &s;
        let id = id.to_string();
        async move { s.deliver("issue_comment", &id, &body, Some(sig)).await }
    };
    // As published: a comment on an issue, not a command.
    assert_eq!(send(&published, "c-1").await, 202);
    let mut on_pr = published.clone();
    on_pr["issue"]["pull_request"] =
        serde_json::json!({ "url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/1" });
    assert_eq!(send(&on_pr, "c-2").await, 202);
    on_pr["comment"]["body"] = "/amagent approve ship it".into();
    let mut on_issue = on_pr.clone();
    on_issue["issue"]
        .as_object_mut()
        .unwrap()
        .remove("pull_request");
    assert_eq!(send(&on_issue, "c-3").await, 202);
    assert_eq!(send(&on_pr, "c-4").await, 202);
    assert_eq!(
        s.triggered(),
        [Event::Command {
            number: published["issue"]["number"].as_u64().unwrap(),
            author: published["comment"]["user"]["login"]
                .as_str()
                .unwrap()
                .into(),
            body: "/amagent approve ship it".into(),
        }]
    );
}
