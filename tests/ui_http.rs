//! The status page over plain HTTP, against `amagent run --sim` (issue 18): who may look (open
//! on loopback; beyond it a token — bearer or the login form's cookie — or a trusted proxy
//! header; refused with how to configure when neither is set; the webhook and /healthz keep
//! their rules), and `/events` as server-sent events carrying a merge's rollout.

mod support;

use reqwest::StatusCode;
use reqwest::redirect::Policy;
use std::time::{Duration, Instant};
use support::ui::{UiAgent, UiFixture, eventually};

const TOKEN: &str = "ui-token-for-tests-0123456789";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

async fn get(agent: &UiAgent, path: &str, headers: &[(&str, &str)]) -> (StatusCode, String) {
    let mut req = client().get(agent.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = req.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn beyond_loopback_the_page_needs_the_token_as_bearer_or_login_cookie() {
    let f = UiFixture::new();
    let agent = f.start("healthy", "0.0.0.0", &[("AMAGENT_UI_TOKEN", TOKEN)]);
    let (status, body) = get(&agent, "/", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body.contains(r#"<form method="post" action="/login">"#),
        "{body}"
    );
    assert_eq!(
        get(&agent, "/events", &[]).await.0,
        StatusCode::UNAUTHORIZED
    );
    let wrong = [("authorization", "Bearer not-the-token-at-all")];
    assert_eq!(get(&agent, "/", &wrong).await.0, StatusCode::UNAUTHORIZED);
    let bearer = format!("Bearer {TOKEN}");
    let (status, body) = get(&agent, "/", &[("authorization", &bearer)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Health and metrics keep their own (open) rules.
    assert_eq!(get(&agent, "/healthz", &[]).await.0, StatusCode::OK);
    assert_eq!(get(&agent, "/metrics", &[]).await.0, StatusCode::OK);

    let login = |token: &str| {
        client()
            .post(agent.url("/login"))
            .form(&[("token", token)])
            .send()
    };
    let refused = login("a-wrong-token-0123456789").await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(refused.headers().get("set-cookie").is_none());
    let signed_in = login(TOKEN).await.unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let set_cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"));
    assert!(!set_cookie.contains(TOKEN), "the cookie is not the token");
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let (status, body) = get(&agent, "/", &[("cookie", &cookie)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let events = client()
        .get(agent.url("/events"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    drop(events);
    assert!(!agent.stderr().contains(TOKEN), "the token is never logged");
}

#[tokio::test]
async fn beyond_loopback_with_nothing_configured_the_page_is_refused_saying_how() {
    let f = UiFixture::new();
    let agent = f.start("healthy", "0.0.0.0", &[]);
    let (status, body) = get(&agent, "/", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body.contains("AMAGENT_UI_TOKEN") && body.contains("AMAGENT_UI_TRUSTED_HEADER"),
        "{body}"
    );
    assert_eq!(get(&agent, "/events", &[]).await.0, StatusCode::FORBIDDEN);
    assert_eq!(get(&agent, "/healthz", &[]).await.0, StatusCode::OK);
    // The webhook still wants its signature, not a UI token.
    let unsigned = client()
        .post(agent.url("/webhooks/github"))
        .header("X-GitHub-Event", "push")
        .header("X-GitHub-Delivery", "d-1")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_trusted_proxy_header_lets_the_proxys_users_in() {
    let f = UiFixture::new();
    let agent = f.start(
        "healthy",
        "0.0.0.0",
        &[("AMAGENT_UI_TRUSTED_HEADER", "X-Forwarded-User")],
    );
    assert_eq!(
        get(&agent, "/", &[("x-forwarded-user", "ada")]).await.0,
        StatusCode::OK
    );
    assert_eq!(get(&agent, "/", &[]).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_short_token_stops_the_agent_before_it_listens() {
    let f = UiFixture::new();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_amagent"))
        .args([
            "run",
            "--once",
            "--sim",
            "healthy",
            "--repo",
            f.remote.to_str().unwrap(),
        ])
        .args(["--listen", "0.0.0.0:1"])
        .env("AMAGENT_WEBHOOK_SECRET", support::ui::SECRET)
        .env("AMAGENT_UI_TOKEN", "short")
        .env("AMAGENT_CACHE", f.tmp.path().join("cache"))
        .env("AMAGENT_JOURNAL", f.tmp.path().join("journal"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("AMAGENT_UI_TOKEN must be at least 16"),
        "{stderr}"
    );
    assert!(!stderr.contains("short\""), "{stderr}");
}

/// Read the SSE stream until `done` holds for the text so far (or fail after two minutes).
async fn read_until(
    events: &mut reqwest::Response,
    text: &mut String,
    done: impl Fn(&str) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done(text) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("the event stream ended or stalled ({other:?}); so far:\n{text}"),
        }
    }
}

#[tokio::test]
async fn events_stream_a_merges_rollout_as_server_sent_events() {
    let f = UiFixture::new();
    // An open stream is a request in progress, never an idle connection to close.
    let agent = f.start(
        "healthy",
        "127.0.0.1",
        &[("AMAGENT_WEBHOOK_IDLE_TIMEOUT", "1")],
    );
    eventually("adoption", || f.journal("staging").contains("\"adopted\""));
    let mut events = client().get(agent.url("/events")).send().await.unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    f.merge(31, "api-31.example.com");
    let mut text = String::new();
    read_until(&mut events, &mut text, |t| {
        t.contains("event: snapshot") && t.contains(r#""finished":true"#)
    })
    .await;
    // Each event is `event: NAME` then one `data: JSON` line, then a blank line.
    let frames: Vec<&str> = text
        .split("\n\n")
        .filter(|f| f.starts_with("event: "))
        .collect();
    let mut services = Vec::new();
    for frame in &frames {
        let mut lines = frame.lines();
        let name = lines.next().unwrap().strip_prefix("event: ").unwrap();
        let data = lines.next().and_then(|l| l.strip_prefix("data: ")).unwrap();
        assert_eq!(lines.next(), None, "one data line: {frame}");
        let json: serde_json::Value = serde_json::from_str(data).unwrap();
        if name == "service" {
            services.push(json);
        }
    }
    let api: Vec<_> = services
        .iter()
        .filter(|s| s["id"] == "live-staging-api")
        .collect();
    assert!(
        api.len() >= 3,
        "a step, the rollout's polls and the end: {text}"
    );
    assert!(
        api.iter()
            .any(|s| s["html"].as_str().unwrap().contains(" running, ")),
        "the rollout's counts: {text}"
    );
    let last = api.last().unwrap();
    assert_eq!(last["finished"], true);
    assert!(
        last["html"].as_str().unwrap().contains("verified healthy"),
        "{last}"
    );
}

#[tokio::test]
async fn a_failed_deploy_shows_its_reason_on_the_overview_and_the_service_page() {
    let f = UiFixture::new();
    let agent = f.start("access-denied", "127.0.0.1", &[]);
    eventually("adoption", || f.journal("staging").contains("\"adopted\""));
    f.merge(32, "api-32.example.com");
    eventually("the failed apply", || {
        f.journal("staging")
            .lines()
            .any(|l| l.contains("\"apply\"") && l.contains("\"failed\""))
    });
    let mut overview = String::new();
    for _ in 0..100 {
        overview = get(&agent, "/", &[]).await.1;
        if overview.contains("deploy failed") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(overview.contains("deploy failed"), "{overview}");
    assert!(
        overview.contains("ecs:UpdateService"),
        "the reason: {overview}"
    );
    let (status, page) = get(&agent, "/services/staging/api", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("✗ deploy failed") && page.contains("ecs:UpdateService"),
        "{page}"
    );
    assert!(
        page.contains("#32"),
        "the pull request: {page}\n{}",
        f.journal("staging")
    );
    assert_eq!(
        get(&agent, "/services/staging/nope", &[]).await.0,
        StatusCode::NOT_FOUND
    );
}
