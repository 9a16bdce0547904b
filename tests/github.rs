//! The GitHub reporter against a mock GitHub (wiremock): the exact requests octocrab sends for
//! each operation, comment upserts that never duplicate, retries, and App authentication.

use amagent::report::github::GitHub;
use amagent::report::{ReportError, Reporter, Status};
use amagent::secret::Secret;
use serde_json::{Value, json};
use std::time::Duration;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "ghp_test_token_do_not_print";
const SHA: &str = "3e1a9d7c5b2f4e6a8c0b1d3f5e7a9c2b4d6f8e0a";
const MARKER: &str = "<!-- amagent:env=staging -->";

fn reporter(server: &MockServer) -> GitHub {
    GitHub::from_token(&server.uri(), "o", "r", Secret::new(TOKEN))
        .expect("client")
        .with_retry_base(Duration::from_millis(1))
}

fn user(login: &str, kind: &str) -> Value {
    let u = format!("https://api.github.com/users/{login}");
    json!({
        "login": login, "id": 1, "node_id": "U_1", "avatar_url": "https://avatars.example/1",
        "gravatar_id": "", "url": u, "html_url": u, "followers_url": u, "following_url": u,
        "gists_url": u, "starred_url": u, "subscriptions_url": u, "organizations_url": u,
        "repos_url": u, "events_url": u, "received_events_url": u, "type": kind,
        "site_admin": false, "name": null, "patch_url": null
    })
}

fn comment(id: u64, body: &str, login: &str, kind: &str) -> Value {
    let url = format!("https://api.github.com/repos/o/r/issues/comments/{id}");
    json!({
        "id": id, "node_id": format!("IC_{id}"), "url": url,
        "html_url": format!("https://github.com/o/r/pull/7#issuecomment-{id}"),
        "body": body, "user": user(login, kind), "created_at": "2026-01-01T00:00:00Z"
    })
}

fn ours(id: u64, body: &str) -> Value {
    comment(id, body, "amagent[bot]", "Bot")
}

fn pull(number: u64, merged: bool) -> Value {
    json!({
        "id": number * 1000, "number": number,
        "url": format!("https://api.github.com/repos/o/r/pulls/{number}"),
        "head": {"ref": "feature", "sha": SHA}, "base": {"ref": "main", "sha": SHA},
        "merged_at": if merged { json!("2026-01-01T00:00:00Z") } else { Value::Null }
    })
}

/// Every request the server got, as "METHOD /path" (no query), in order.
async fn calls(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .expect("recording is on")
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect()
}

/// Every request carried the token as octocrab sends it.
async fn assert_all_authenticated(server: &MockServer, expected: &str) {
    for r in server.received_requests().await.unwrap() {
        let auth = r.headers.get("authorization").map(|v| v.to_str().unwrap());
        assert_eq!(auth, Some(expected), "{} {}", r.method, r.url);
    }
}

#[tokio::test]
async fn first_upsert_creates_the_comment_then_edits_it_in_place() {
    let server = MockServer::start().await;
    let (first, second) = (format!("{MARKER}\nrolling"), format!("{MARKER}\ndone"));
    Mock::given(method("GET"))
        .and(path("/repos/o/r/issues/7/comments"))
        .and(query_param("per_page", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/o/r/issues/7/comments"))
        .and(body_json(json!({ "body": first })))
        .respond_with(ResponseTemplate::new(201).set_body_json(ours(100, &first)))
        .expect(1)
        .mount(&server)
        .await;
    // octocrab 0.54.9 edits a comment with POST (GitHub's docs say PATCH; both are accepted).
    Mock::given(method("POST"))
        .and(path("/repos/o/r/issues/comments/100"))
        .and(body_json(json!({ "body": second })))
        .respond_with(ResponseTemplate::new(200).set_body_json(ours(100, &second)))
        .expect(1)
        .mount(&server)
        .await;

    let gh = reporter(&server);
    gh.upsert_comment(7, MARKER, &first).await.unwrap();
    gh.upsert_comment(7, MARKER, &second).await.unwrap();

    assert_eq!(
        calls(&server).await,
        [
            "GET /repos/o/r/issues/7/comments",
            "POST /repos/o/r/issues/7/comments",
            "POST /repos/o/r/issues/comments/100",
        ]
    );
    assert_all_authenticated(&server, &format!("Bearer {TOKEN}")).await;
}

#[tokio::test]
async fn after_a_restart_the_existing_comment_is_found_and_edited() {
    let server = MockServer::start().await;
    let body = format!("{MARKER}\nnew run");
    Mock::given(method("GET"))
        .and(path("/repos/o/r/issues/7/comments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            comment(50, "LGTM, ship it", "alice", "User"),
            // A human quoting our marker: the bot's own comment is preferred.
            comment(
                51,
                &format!("> {MARKER}\nwhy did staging fail?"),
                "bob",
                "User"
            ),
            ours(55, "<!-- amagent:env=production -->\nprod"),
            ours(56, &format!("{MARKER}\nold run")),
        ])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/o/r/issues/comments/56"))
        .and(body_json(json!({ "body": body })))
        .respond_with(ResponseTemplate::new(200).set_body_json(ours(56, &body)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/o/r/issues/7/comments"))
        .respond_with(ResponseTemplate::new(201).set_body_json(ours(999, &body)))
        .expect(0)
        .mount(&server)
        .await;

    reporter(&server)
        .upsert_comment(7, MARKER, &body)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_search_follows_pagination() {
    let server = MockServer::start().await;
    let body = format!("{MARKER}\nnew run");
    // GitHub's Link header holds an absolute URL to another path.
    let next = format!("{}/repositories/1/issues/7/comments?page=2", server.uri());
    Mock::given(method("GET"))
        .and(path("/repos/o/r/issues/7/comments"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([comment(50, "first!", "alice", "User")]))
                .insert_header("link", format!("<{next}>; rel=\"next\"").as_str()),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repositories/1/issues/7/comments"))
        .and(query_param("page", "2"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([ours(99, &format!("{MARKER}\nold"))])),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/o/r/issues/comments/99"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ours(99, &body)))
        .expect(1)
        .mount(&server)
        .await;

    reporter(&server)
        .upsert_comment(7, MARKER, &body)
        .await
        .unwrap();
    assert_all_authenticated(&server, &format!("Bearer {TOKEN}")).await;
}

#[tokio::test]
async fn a_deleted_comment_is_posted_anew_once() {
    let server = MockServer::start().await;
    let (first, second) = (format!("{MARKER}\none"), format!("{MARKER}\ntwo"));
    Mock::given(method("GET"))
        .and(path("/repos/o/r/issues/7/comments"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([ours(56, &format!("{MARKER}\nold"))])),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/o/r/issues/comments/56"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/o/r/issues/7/comments"))
        .and(body_json(json!({ "body": first })))
        .respond_with(ResponseTemplate::new(201).set_body_json(ours(200, &first)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/o/r/issues/comments/200"))
        .and(body_json(json!({ "body": second })))
        .respond_with(ResponseTemplate::new(200).set_body_json(ours(200, &second)))
        .expect(1)
        .mount(&server)
        .await;

    let gh = reporter(&server);
    gh.upsert_comment(7, MARKER, &first).await.unwrap();
    gh.upsert_comment(7, MARKER, &second).await.unwrap();
    assert_eq!(
        calls(&server).await,
        [
            "GET /repos/o/r/issues/7/comments",
            "POST /repos/o/r/issues/comments/56",
            "POST /repos/o/r/issues/7/comments",
            "POST /repos/o/r/issues/comments/200",
        ]
    );
}

#[tokio::test]
async fn commit_status_is_posted_with_the_env_context() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/repos/o/r/statuses/{SHA}")))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(body_json(json!({
            "state": "pending",
            "context": "amagent/staging",
            "description": "deploying api",
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"state": "pending"})))
        .expect(1)
        .mount(&server)
        .await;

    reporter(&server)
        .commit_status(SHA, "staging", Status::Pending, "deploying api")
        .await
        .unwrap();
}

#[tokio::test]
async fn commit_status_description_is_cut_to_140_and_links_the_agent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/repos/o/r/statuses/{SHA}")))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"state": "failure"})))
        .expect(1)
        .mount(&server)
        .await;

    reporter(&server)
        .with_target_url(Some("https://amagent.example.com/runs".into()))
        .commit_status(SHA, "production", Status::Failure, &"x".repeat(300))
        .await
        .unwrap();
    let sent: Value = server.received_requests().await.unwrap()[0]
        .body_json()
        .unwrap();
    assert_eq!(sent["state"], "failure");
    assert_eq!(sent["context"], "amagent/production");
    assert_eq!(sent["target_url"], "https://amagent.example.com/runs");
    let description = sent["description"].as_str().unwrap();
    assert_eq!(description.chars().count(), 140);
    assert!(description.starts_with("xxx") && description.ends_with('…'));
}

async fn status_server(responses: Vec<ResponseTemplate>) -> MockServer {
    let server = MockServer::start().await;
    // Each response is served once, in order.
    for response in responses {
        Mock::given(method("POST"))
            .and(path(format!("/repos/o/r/statuses/{SHA}")))
            .respond_with(response)
            .up_to_n_times(1)
            .mount(&server)
            .await;
    }
    server
}

fn status_ok() -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({"state": "success"}))
}

fn error(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "message": message,
        "documentation_url": "https://docs.github.com/rest"
    }))
}

async fn set_status(server: &MockServer) -> Result<(), ReportError> {
    reporter(server)
        .commit_status(SHA, "staging", Status::Success, "ok")
        .await
}

#[tokio::test]
async fn secondary_rate_limits_and_server_errors_are_retried() {
    let limited = error(
        403,
        "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
    );
    let server = status_server(vec![limited, status_ok()]).await;
    set_status(&server).await.unwrap();
    assert_eq!(server.received_requests().await.unwrap().len(), 2);

    let too_many = error(429, "API rate limit exceeded");
    let server = status_server(vec![too_many, error(502, "Bad Gateway"), status_ok()]).await;
    set_status(&server).await.unwrap();
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn retries_give_up_after_four_attempts() {
    let server = status_server((0..5).map(|_| error(500, "boom")).collect()).await;
    let e = set_status(&server).await.unwrap_err();
    assert_eq!(server.received_requests().await.unwrap().len(), 4);
    assert!(e.to_string().contains("boom (HTTP 500)"), "{e}");
}

#[tokio::test]
async fn other_client_errors_fail_at_once_without_the_token() {
    let server = status_server(vec![error(422, "Validation Failed"), status_ok()]).await;
    let e = set_status(&server).await.unwrap_err();
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    let ReportError::GitHub { operation, message } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(operation, &format!("status amagent/staging on {SHA}"));
    assert_eq!(message, "Validation Failed (HTTP 422)");
    assert!(!format!("{e} {e:?}").contains(TOKEN));

    // A 403 that is not a rate limit is a permission problem: asking again will not help.
    let server = status_server(vec![
        error(403, "Resource not accessible by integration"),
        status_ok(),
    ])
    .await;
    let e = set_status(&server).await.unwrap_err();
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    assert!(e.to_string().contains("Resource not accessible"), "{e}");
}

#[tokio::test]
async fn pull_requests_come_from_the_api() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/repos/o/r/commits/{SHA}/pulls")))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            pull(12, true),
            pull(30, false),
            pull(15, true),
            pull(12, true),
        ])))
        .expect(1)
        .mount(&server)
        .await;

    // Only the merged ones, each once; the message is not consulted when the API answers.
    let prs = reporter(&server)
        .pull_requests(SHA, "Merge pull request #99 from x/y")
        .await;
    assert_eq!(prs, [12, 15]);
}

#[tokio::test]
async fn pull_requests_fall_back_to_the_commit_message() {
    for response in [
        ResponseTemplate::new(200).set_body_json(json!([])),
        error(404, "Not Found"),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(format!("/repos/o/r/commits/{SHA}/pulls")))
            .respond_with(response)
            .expect(1)
            .mount(&server)
            .await;
        let gh = reporter(&server);
        let prs = gh
            .pull_requests(SHA, "Merge pull request #12 from x/y\n\nAdd things")
            .await;
        assert_eq!(prs, [12]);
    }
}

/// A fresh RSA key as PKCS#8 PEM, and its public half (PKCS#1 DER) to check signatures with.
fn app_key() -> (String, Vec<u8>) {
    use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use aws_lc_rs::signature::KeyPair as _;
    use base64::Engine;
    let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let der: Pkcs8V1Der = key.as_der().unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    );
    (pem, key.public_key().as_ref().to_vec())
}

/// The claims of an RS256 JWT whose signature `public_key` verifies.
fn verified_claims(jwt: &str, public_key: &[u8]) -> Value {
    use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (signed, signature) = jwt.rsplit_once('.').expect("a JWT");
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key)
        .verify(signed.as_bytes(), &b64.decode(signature).unwrap())
        .expect("signed with the App's key");
    let payload = signed.split_once('.').unwrap().1;
    serde_json::from_slice(&b64.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn a_github_app_works_through_its_installation_token() {
    let server = MockServer::start().await;
    let (pem, public_key) = app_key();
    Mock::given(method("GET"))
        .and(path("/repos/o/r/installation"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 42, "account": user("o", "Organization"), "app_id": 123,
            "permissions": {"statuses": "write", "pull_requests": "write"}, "events": []
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/app/installations/42/access_tokens"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "token": "ghs_x", "expires_at": "2030-01-01T00:00:00Z", "permissions": {}
        })))
        // Minted once, then cached for both statuses.
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/repos/o/r/statuses/{SHA}")))
        .and(header("authorization", "Bearer ghs_x"))
        .respond_with(status_ok())
        .expect(2)
        .mount(&server)
        .await;

    // The second page of comments, linked absolutely: octocrab would send an installation
    // token only to api.github.com or a host-less URI, so the reporter follows it by path.
    let next = format!("{}/repositories/1/issues/7/comments?page=2", server.uri());
    Mock::given(method("GET"))
        .and(path("/repos/o/r/issues/7/comments"))
        .and(header("authorization", "Bearer ghs_x"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([]))
                .insert_header("link", format!("<{next}>; rel=\"next\"").as_str()),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repositories/1/issues/7/comments"))
        .and(header("authorization", "Bearer ghs_x"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([ours(99, MARKER)])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/o/r/issues/comments/99"))
        .and(header("authorization", "Bearer ghs_x"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ours(99, MARKER)))
        .expect(1)
        .mount(&server)
        .await;

    let gh = GitHub::from_app(&server.uri(), "o", "r", 123, Secret::new(pem.clone()))
        .await
        .unwrap();
    assert!(!format!("{gh:?}").contains(&pem[30..80]));
    for state in [Status::Pending, Status::Success] {
        gh.commit_status(SHA, "staging", state, "deploying")
            .await
            .unwrap();
    }
    gh.upsert_comment(7, MARKER, MARKER).await.unwrap();

    let requests = server.received_requests().await.unwrap();
    let seen: Vec<String> = requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    assert_eq!(
        seen,
        [
            "GET /repos/o/r/installation",
            "POST /app/installations/42/access_tokens",
            format!("POST /repos/o/r/statuses/{SHA}").as_str(),
            format!("POST /repos/o/r/statuses/{SHA}").as_str(),
            "GET /repos/o/r/issues/7/comments",
            "GET /repositories/1/issues/7/comments",
            "POST /repos/o/r/issues/comments/99",
        ]
    );
    // The App's own calls carry a JWT signed with its key, issued by its id.
    for r in &requests[..2] {
        let auth = r.headers.get("authorization").unwrap().to_str().unwrap();
        let jwt = auth.strip_prefix("Bearer ").expect("Bearer");
        let claims = verified_claims(jwt, &public_key);
        assert_eq!(claims["iss"], json!(123), "{claims}");
    }
}
