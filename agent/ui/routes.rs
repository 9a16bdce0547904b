//! The status page's handlers: `GET /`, `GET /services/{env}/{service}`, `GET /events`
//! (server-sent events), `GET|POST /login`. Each asks [`Access`] first; all only read the
//! [`Board`].

use super::auth::{Access, Verdict};
use super::live::LiveEvent;
use super::{Board, model, page};
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use futures_util::stream::{self, Stream};
use maud::Markup;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// Open `/events` streams at most: each holds a connection, and the webhook needs room too.
pub const MAX_EVENT_STREAMS: usize = 64;
/// A comment line this often keeps proxies from closing a quiet stream (and finds closed ones).
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub struct UiState {
    pub board: Arc<Board>,
    pub access: Access,
    streams: Arc<AtomicUsize>,
}

impl UiState {
    pub fn new(board: Arc<Board>, access: Access) -> Self {
        UiState {
            board,
            access,
            streams: Arc::default(),
        }
    }
}

pub fn router(state: Arc<UiState>) -> Router {
    Router::new()
        .route("/", get(overview))
        .route("/services/{env}/{service}", get(service))
        .route("/events", get(events))
        .route("/login", get(login_form).post(login))
        .with_state(state)
}

/// The page, or why not: a sign-in form (401) or the refusal (403).
fn html(
    state: &UiState,
    headers: &HeaderMap,
    page: impl FnOnce() -> (StatusCode, Markup),
) -> Response {
    let (status, markup) = match state.access.check(headers) {
        Verdict::Allowed => page(),
        Verdict::SignIn => (StatusCode::UNAUTHORIZED, page::login(false)),
        Verdict::Refused(why) => (StatusCode::FORBIDDEN, page::refused(&why)),
    };
    let mut response = (status, Html(markup.into_string())).into_response();
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

async fn overview(State(state): State<Arc<UiState>>, headers: HeaderMap) -> Response {
    html(&state, &headers, || {
        let live = state.board.live.latest();
        let page = match state.board.snapshot() {
            Some(s) => page::overview(&model::overview(&s), &live),
            None => page::not_ready(&live),
        };
        (StatusCode::OK, page)
    })
}

async fn service(
    State(state): State<Arc<UiState>>,
    Path((env, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    html(&state, &headers, || {
        let snapshot = state.board.snapshot().unwrap_or_default();
        let known = snapshot
            .environments
            .iter()
            .any(|e| e.name == env && e.services.iter().any(|s| s.status.service == name));
        if !known {
            let what = format!("No service {name} in environment {env} at the agent's last look.");
            return (StatusCode::NOT_FOUND, page::not_found(&what));
        }
        let live: Vec<_> = state
            .board
            .live
            .latest()
            .into_iter()
            .filter(|s| s.env == env && s.service == name)
            .collect();
        let rows = model::history(&snapshot, &env, &name);
        (StatusCode::OK, page::history(&env, &name, &rows, &live))
    })
}

async fn events(State(state): State<Arc<UiState>>, headers: HeaderMap) -> Response {
    match state.access.check(&headers) {
        Verdict::Allowed => {}
        Verdict::SignIn => return (StatusCode::UNAUTHORIZED, "sign in first\n").into_response(),
        Verdict::Refused(why) => {
            return (StatusCode::FORBIDDEN, format!("{why}\n")).into_response();
        }
    }
    let Some(slot) = StreamSlot::take(&state.streams) else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "more than {MAX_EVENT_STREAMS} pages are following the agent; try again later\n"
            ),
        )
            .into_response();
    };
    let receiver = state.board.live.subscribe();
    Sse::new(event_stream(receiver, slot))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

/// The feed as SSE events, `service` (the card's id and HTML) or `snapshot`. A subscriber that
/// fell behind skips what it missed: each state is whole.
fn event_stream(
    receiver: tokio::sync::broadcast::Receiver<LiveEvent>,
    slot: StreamSlot,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold((receiver, slot), |(mut receiver, slot)| async move {
        loop {
            match receiver.recv().await {
                Ok(event) => return Some((Ok(sse_event(&event)), (receiver, slot))),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    })
}

/// One feed event as SSE: its name, and JSON data.
pub fn sse_event(event: &LiveEvent) -> Event {
    let data = match event {
        LiveEvent::Service(s) => serde_json::json!({
            "id": page::live_id(s),
            "html": page::live_card(s).into_string(),
            "finished": s.finished,
            "sent_ms": s.sent_ms,
        }),
        LiveEvent::Snapshot { at } => serde_json::json!({ "at": at }),
    };
    Event::default().event(event.name()).data(data.to_string())
}

/// One of the [`MAX_EVENT_STREAMS`], given back when the stream ends.
struct StreamSlot(Arc<AtomicUsize>);

impl StreamSlot {
    fn take(count: &Arc<AtomicUsize>) -> Option<StreamSlot> {
        let taken = count
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < MAX_EVENT_STREAMS).then_some(n + 1)
            })
            .is_ok();
        taken.then(|| StreamSlot(count.clone()))
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn login_form(State(state): State<Arc<UiState>>, headers: HeaderMap) -> Response {
    match state.access.check(&headers) {
        Verdict::Allowed => Redirect::to("/").into_response(),
        _ => html(&state, &headers, || (StatusCode::OK, page::login(false))),
    }
}

#[derive(serde::Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(
    State(state): State<Arc<UiState>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let https = headers
        .get("x-forwarded-proto")
        .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"));
    match state.access.sign_in(&form.token, https) {
        Some(cookie) => {
            tracing::info!("status page: signed in");
            let mut response = Redirect::to("/").into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        None => {
            // Never the posted value: it may be a real token mistyped.
            tracing::warn!("status page: sign-in with a wrong token");
            let (status, page) = match state.access.check(&HeaderMap::new()) {
                Verdict::Refused(why) => (StatusCode::FORBIDDEN, page::refused(&why)),
                _ => (StatusCode::UNAUTHORIZED, page::login(true)),
            };
            (status, Html(page.into_string())).into_response()
        }
    }
}
