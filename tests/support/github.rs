//! A fake GitHub (axum) that keeps state the way GitHub does — comments it creates are listed
//! back, edits change them — and records every request, so tests can assert the exact calls
//! across agent restarts. Serves the REST paths octocrab uses for comments, statuses and the
//! pull requests of a commit (none known: the agent falls back to the commit message), and
//! opening a pull request (answered with the pull request object GitHub documents,
//! `tests/fixtures/github/pull_request.opened.json`; a second one from the same branch: 422),
//! and deployments with their statuses (answered with the objects of GitHub's published
//! `deployment_status` delivery, `tests/fixtures/github/deployment_status.created.json`).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::routing::{get, post};
use axum::{Json, middleware};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub struct Comment {
    pub id: u64,
    pub pr: u64,
    pub body: String,
    /// Bodies in order: the created one, then each edit.
    pub versions: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct StatusCall {
    pub sha: String,
    pub state: String,
    pub context: String,
    pub description: String,
}

#[derive(Clone, Debug)]
pub struct PullCall {
    pub number: u64,
    pub head: String,
    pub base: String,
    pub title: String,
    pub body: String,
}

/// A deployment created, or a status of one: the request's JSON body as sent.
#[derive(Clone, Debug)]
pub struct DeploymentCall {
    /// The deployment's id (assigned by the fake, from 7001).
    pub id: u64,
    /// None: the deployment's creation; Some(state): a status.
    pub status: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    deployments: Vec<DeploymentCall>,
    pulls: Vec<PullCall>,
    comments: Vec<Comment>,
    statuses: Vec<StatusCall>,
    /// "METHOD /path", in order.
    requests: Vec<String>,
    /// Authorization headers seen.
    auth: Vec<String>,
    next_id: u64,
}

#[derive(Clone, Default)]
pub struct FakeGitHub {
    inner: Arc<Mutex<Inner>>,
    pub url: String,
}

fn user() -> Value {
    let u = "https://api.github.com/users/amagent%5Bbot%5D";
    json!({
        "login": "amagent[bot]", "id": 1, "node_id": "U_1", "avatar_url": u,
        "gravatar_id": "", "url": u, "html_url": u, "followers_url": u, "following_url": u,
        "gists_url": u, "starred_url": u, "subscriptions_url": u, "organizations_url": u,
        "repos_url": u, "events_url": u, "received_events_url": u, "type": "Bot",
        "site_admin": false
    })
}

fn comment_json(c: &Comment) -> Value {
    json!({
        "id": c.id, "node_id": format!("IC_{}", c.id),
        "url": format!("https://api.github.com/repos/o/r/issues/comments/{}", c.id),
        "html_url": format!("https://github.com/o/r/pull/{}#issuecomment-{}", c.pr, c.id),
        "body": c.body, "user": user(), "created_at": "2026-11-25T09:00:00Z"
    })
}

impl FakeGitHub {
    /// Serve on a free loopback port, on a runtime of its own (tests may block their thread).
    pub fn start() -> FakeGitHub {
        let mut fake = FakeGitHub::default();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        fake.url = format!("http://{}", listener.local_addr().unwrap());
        let state = fake.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = Router::new()
                    .route(
                        "/repos/{o}/{r}/commits/{sha}/pulls",
                        get(|| async { Json(json!([])) }),
                    )
                    .route(
                        "/repos/{o}/{r}/issues/{n}/comments",
                        get(list_comments).post(create_comment),
                    )
                    .route(
                        "/repos/{o}/{r}/issues/comments/{id}",
                        post(update_comment).patch(update_comment),
                    )
                    .route("/repos/{o}/{r}/statuses/{sha}", post(create_status))
                    .route("/repos/{o}/{r}/pulls", post(create_pull))
                    .route("/repos/{o}/{r}/deployments", post(create_deployment))
                    .route(
                        "/repos/{o}/{r}/deployments/{id}/statuses",
                        post(create_deployment_status),
                    )
                    .layer(middleware::from_fn_with_state(state.clone(), record))
                    .with_state(state);
                axum::serve(listener, app).await.unwrap();
            });
        });
        fake
    }

    pub fn comments(&self) -> Vec<Comment> {
        self.inner.lock().unwrap().comments.clone()
    }

    pub fn statuses(&self) -> Vec<StatusCall> {
        self.inner.lock().unwrap().statuses.clone()
    }

    /// Pull requests opened, in order.
    pub fn pulls(&self) -> Vec<PullCall> {
        self.inner.lock().unwrap().pulls.clone()
    }

    /// Deployments created and their statuses, in order.
    pub fn deployments(&self) -> Vec<DeploymentCall> {
        self.inner.lock().unwrap().deployments.clone()
    }

    pub fn requests(&self) -> Vec<String> {
        self.inner.lock().unwrap().requests.clone()
    }

    pub fn authorization_headers(&self) -> Vec<String> {
        self.inner.lock().unwrap().auth.clone()
    }

    /// Everything GitHub was sent (comment bodies, status descriptions), for secret checks.
    pub fn everything_posted(&self) -> String {
        let inner = self.inner.lock().unwrap();
        let mut out = String::new();
        for c in &inner.comments {
            for v in &c.versions {
                out.push_str(v);
            }
        }
        for s in &inner.statuses {
            out.push_str(&s.description);
        }
        out
    }
}

async fn record(
    State(fake): State<FakeGitHub>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    {
        let mut inner = fake.inner.lock().unwrap();
        inner.requests.push(format!("{method} {}", uri.path()));
        if let Some(a) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
            inner.auth.push(a.to_string());
        }
    }
    next.run(request).await
}

async fn list_comments(
    State(fake): State<FakeGitHub>,
    Path((_, _, n)): Path<(String, String, u64)>,
) -> Json<Value> {
    let inner = fake.inner.lock().unwrap();
    Json(Value::Array(
        inner
            .comments
            .iter()
            .filter(|c| c.pr == n)
            .map(comment_json)
            .collect(),
    ))
}

async fn create_comment(
    State(fake): State<FakeGitHub>,
    Path((_, _, n)): Path<(String, String, u64)>,
    Json(body): Json<Value>,
) -> (axum::http::StatusCode, Json<Value>) {
    let mut inner = fake.inner.lock().unwrap();
    inner.next_id += 1;
    let text = body["body"].as_str().unwrap_or_default().to_string();
    let c = Comment {
        id: 1000 + inner.next_id,
        pr: n,
        body: text.clone(),
        versions: vec![text],
    };
    let out = comment_json(&c);
    inner.comments.push(c);
    (axum::http::StatusCode::CREATED, Json(out))
}

async fn update_comment(
    State(fake): State<FakeGitHub>,
    Path((_, _, id)): Path<(String, String, u64)>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, axum::http::StatusCode> {
    let mut inner = fake.inner.lock().unwrap();
    let text = body["body"].as_str().unwrap_or_default().to_string();
    let c = inner
        .comments
        .iter_mut()
        .find(|c| c.id == id)
        .ok_or(axum::http::StatusCode::NOT_FOUND)?;
    c.body = text.clone();
    c.versions.push(text);
    Ok(Json(comment_json(c)))
}

async fn create_status(
    State(fake): State<FakeGitHub>,
    Path((_, _, sha)): Path<(String, String, String)>,
    Json(body): Json<Value>,
) -> (axum::http::StatusCode, Json<Value>) {
    let call = StatusCall {
        sha,
        state: body["state"].as_str().unwrap_or_default().into(),
        context: body["context"].as_str().unwrap_or_default().into(),
        description: body["description"].as_str().unwrap_or_default().into(),
    };
    fake.inner.lock().unwrap().statuses.push(call.clone());
    (
        axum::http::StatusCode::CREATED,
        Json(json!({
            "id": 1, "node_id": "S_1", "state": call.state, "context": call.context,
            "description": call.description, "url": "https://api.github.com/statuses/x",
            "created_at": "2026-11-25T09:00:00Z", "updated_at": "2026-11-25T09:00:00Z"
        })),
    )
}

async fn create_pull(
    State(fake): State<FakeGitHub>,
    Json(body): Json<Value>,
) -> (axum::http::StatusCode, Json<Value>) {
    let field = |k: &str| body[k].as_str().unwrap_or_default().to_string();
    let mut inner = fake.inner.lock().unwrap();
    if inner.pulls.iter().any(|p| p.head == field("head")) {
        return (
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            Json(
                json!({ "message": "Validation Failed", "errors": [{ "message": format!("A pull request already exists for o:{}.", field("head")) }] }),
            ),
        );
    }
    let call = PullCall {
        number: 100 + inner.pulls.len() as u64,
        head: field("head"),
        base: field("base"),
        title: field("title"),
        body: field("body"),
    };
    let published: Value =
        serde_json::from_str(include_str!("../fixtures/github/pull_request.opened.json")).unwrap();
    let mut pr = published["pull_request"].clone();
    pr["number"] = call.number.into();
    pr["title"] = call.title.clone().into();
    pr["body"] = call.body.clone().into();
    pr["head"]["ref"] = call.head.clone().into();
    pr["base"]["ref"] = call.base.clone().into();
    inner.pulls.push(call);
    (axum::http::StatusCode::CREATED, Json(pr))
}

fn published_deployment_status() -> Value {
    serde_json::from_str(include_str!(
        "../fixtures/github/deployment_status.created.json"
    ))
    .unwrap()
}

async fn create_deployment(
    State(fake): State<FakeGitHub>,
    Json(body): Json<Value>,
) -> (axum::http::StatusCode, Json<Value>) {
    let mut inner = fake.inner.lock().unwrap();
    let id = 7001
        + inner
            .deployments
            .iter()
            .filter(|d| d.status.is_none())
            .count() as u64;
    let mut deployment = published_deployment_status()["deployment"].clone();
    deployment["id"] = id.into();
    deployment["url"] = format!("https://api.github.com/repos/o/r/deployments/{id}").into();
    deployment["statuses_url"] =
        format!("https://api.github.com/repos/o/r/deployments/{id}/statuses").into();
    for field in ["ref", "environment", "description", "payload"] {
        deployment[field] = body[field].clone();
    }
    deployment["sha"] = body["ref"].clone();
    deployment["transient_environment"] = body["transient_environment"].clone();
    deployment["production_environment"] = body["production_environment"].clone();
    inner.deployments.push(DeploymentCall {
        id,
        status: None,
        body,
    });
    (axum::http::StatusCode::CREATED, Json(deployment))
}

async fn create_deployment_status(
    State(fake): State<FakeGitHub>,
    Path((_, _, id)): Path<(String, String, u64)>,
    Json(body): Json<Value>,
) -> Result<(axum::http::StatusCode, Json<Value>), axum::http::StatusCode> {
    let mut inner = fake.inner.lock().unwrap();
    if !inner.deployments.iter().any(|d| d.id == id) {
        return Err(axum::http::StatusCode::NOT_FOUND);
    }
    let state = body["state"].as_str().unwrap_or_default().to_string();
    let mut status = published_deployment_status()["deployment_status"].clone();
    status["state"] = state.clone().into();
    status["description"] = body["description"].clone();
    status["environment_url"] = body["environment_url"].clone();
    status["log_url"] = body["log_url"].clone();
    status["deployment_url"] = format!("https://api.github.com/repos/o/r/deployments/{id}").into();
    inner.deployments.push(DeploymentCall {
        id,
        status: Some(state),
        body,
    });
    Ok((axum::http::StatusCode::CREATED, Json(status)))
}
