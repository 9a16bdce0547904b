//! Streaming, resumable push against a real registry (Debian's docker-registry, CNCF
//! distribution 2.8) through a proxy that breaks one PATCH of a chunked upload mid-way. The
//! push must ask the registry where the upload stands and go on from there — or, when the
//! registry has dropped the session (distribution does after a partly received PATCH), start
//! the blob over in a new one — and end with the layout's digest in the registry.

mod support;

use amagent::secret::Secret;
use amagent::stages::image::layout::Layout;
use amagent::stages::image::push::{Destination, PushOptions, push_with};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use futures_util::StreamExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use support::oci_images::digest_of;
use support::registry::Registry;

const CHUNK: u64 = 1 << 20;
/// The PATCH that breaks is the first one starting at this offset (a blob's third chunk)...
const BREAK_AT: u64 = 2 * CHUNK;
/// ...after this many bytes of its body reached the proxy.
const BREAK_AFTER: usize = 300 << 10;

#[derive(Clone, Copy, PartialEq)]
enum Cut {
    /// The registry never sees the broken request (a load balancer's failure).
    BeforeTheRegistry,
    /// The registry receives part of the body, then the connection drops.
    PartlyForwarded,
}

/// One request through the proxy, as the client sent it and the registry answered.
#[derive(Clone, Debug)]
struct Exchange {
    method: Method,
    /// The upload session's path (no query), or whatever else was asked.
    path: String,
    content_range: Option<String>,
    status: u16,
    /// The registry's `Range` answer.
    range: Option<String>,
}

struct Proxy {
    upstream: String,
    addr: String,
    http: reqwest::Client,
    cut: Cut,
    broken: AtomicBool,
    log: Mutex<Vec<Exchange>>,
}

fn header_of(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers.get(name)?.to_str().ok().map(String::from)
}

/// Up to `n` bytes of the body (then it is dropped, unread).
async fn prefix(body: Body, n: usize) -> bytes::Bytes {
    let mut stream = body.into_data_stream();
    let mut got = Vec::new();
    while got.len() < n {
        match stream.next().await {
            Some(Ok(bytes)) => got.extend_from_slice(&bytes),
            _ => break,
        }
    }
    got.truncate(n);
    got.into()
}

async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path_and_query = parts.uri.path_and_query().unwrap().as_str().to_string();
    let mut exchange = Exchange {
        method: parts.method.clone(),
        path: parts.uri.path().to_string(),
        content_range: header_of(&parts.headers, header::CONTENT_RANGE),
        status: 0,
        range: None,
    };
    let url = format!("http://{}{path_and_query}", proxy.upstream);
    let mut headers = parts.headers.clone();
    headers.remove(header::HOST);
    let breaks = parts.method == Method::PATCH
        && exchange
            .content_range
            .as_deref()
            .is_some_and(|r| r.starts_with(&format!("{BREAK_AT}-")))
        && !proxy.broken.swap(true, Ordering::SeqCst);
    if breaks {
        let sent = prefix(body, BREAK_AFTER).await;
        if proxy.cut == Cut::PartlyForwarded {
            // The body ends in an error: the registry gets `sent` and then a dropped connection
            // (the pause lets `sent` leave before the abort).
            let cut = futures_util::stream::once(async { Ok(sent) }).chain(
                futures_util::stream::once(async {
                    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                    Err(std::io::Error::other("cut"))
                }),
            );
            let request = proxy.http.request(parts.method.clone(), &url);
            let _ = request
                .headers(headers)
                .body(reqwest::Body::wrap_stream(cut))
                .send()
                .await;
        }
        exchange.status = 502;
        proxy.log.lock().unwrap().push(exchange);
        return Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .header(header::CONNECTION, "close")
            .body(Body::empty())
            .unwrap();
    }
    let answer = proxy
        .http
        .request(parts.method.clone(), &url)
        .headers(headers)
        .body(reqwest::Body::wrap_stream(body.into_data_stream()))
        .send()
        .await
        .unwrap();
    exchange.status = answer.status().as_u16();
    exchange.range = header_of(answer.headers(), header::RANGE);
    proxy.log.lock().unwrap().push(exchange);
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        // The registry's absolute upload URLs name itself; the client must come back here.
        let value = value.to_str().unwrap_or_default();
        response = response.header(name, value.replace(&proxy.upstream, &proxy.addr));
    }
    response
        .body(Body::from(answer.bytes().await.unwrap()))
        .unwrap()
}

async fn start_proxy(registry: &Registry, cut: Cut) -> Arc<Proxy> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = Arc::new(Proxy {
        upstream: registry.addr.clone(),
        addr: listener.local_addr().unwrap().to_string(),
        http: reqwest::Client::new(),
        cut,
        broken: AtomicBool::new(false),
        log: Mutex::new(Vec::new()),
    });
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(proxy.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    proxy
}

/// Pushes a three-layer layout (each layer several chunks) through a proxy that cuts as told;
/// checks the image arrived whole and returns the proxy's log.
async fn push_through_a_cut(cut: Cut) -> Vec<Exchange> {
    let registry = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let digest = support::oci_layout::write(work.path(), &[5 << 20, 3 << 20, 4 << 20], 7);
    let layout = Layout::read(work.path()).unwrap();
    let proxy = start_proxy(&registry, cut).await;
    let dest = Destination {
        registry: proxy.addr.clone(),
        repository: "resume/api".into(),
        insecure: true,
        mount_from: None,
    };
    let options = PushOptions {
        chunk_bytes: CHUNK,
        ..PushOptions::default()
    };
    let password = Secret::new(registry.password.clone());
    let report = push_with(
        &layout,
        &dest,
        &["v1".into()],
        (&registry.user, &password),
        &options,
    )
    .await
    .unwrap();
    assert!(proxy.broken.load(Ordering::SeqCst), "one PATCH was broken");
    assert_eq!(
        (report.blobs_pushed, report.digest.clone()),
        (4, digest.clone())
    );
    // Read back from the registry itself: the manifest by tag, and every blob whole.
    let manifest = registry
        .get(
            "/v2/resume/api/manifests/v1",
            "application/vnd.oci.image.manifest.v1+json",
        )
        .await;
    assert_eq!(digest_of(&manifest.bytes().await.unwrap()), digest);
    for blob in layout.layers.iter().chain([&layout.config]) {
        let served = registry
            .get(&format!("/v2/resume/api/blobs/{}", blob.digest), "*/*")
            .await;
        assert_eq!(digest_of(&served.bytes().await.unwrap()), blob.digest);
    }
    proxy.log.lock().unwrap().clone()
}

fn starts_at(exchange: &Exchange) -> Option<u64> {
    exchange
        .content_range
        .as_deref()?
        .split('-')
        .next()?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_chunk_resumes_where_the_registry_says_not_from_zero() {
    let log = push_through_a_cut(Cut::BeforeTheRegistry).await;
    let broken = log.iter().position(|e| e.status == 502).unwrap();
    let session = &log[broken].path;
    let after: Vec<&Exchange> = log[broken + 1..]
        .iter()
        .filter(|e| &e.path == session)
        .collect();
    // The client asked where the session stands; the registry held the first two chunks.
    assert_eq!(after[0].method, Method::GET, "{after:?}");
    assert_eq!(
        after[0].range.as_deref(),
        Some(&*format!("0-{}", BREAK_AT - 1))
    );
    // The next PATCH starts where the registry said, in the same session.
    assert_eq!(after[1].method, Method::PATCH, "{after:?}");
    assert_eq!(starts_at(after[1]), Some(BREAK_AT));
    assert_eq!(after[1].status, 202);
    let sessions = log.iter().filter(|e| e.method == Method::POST).count();
    assert_eq!(
        sessions, 4,
        "one upload session per blob: nothing started over"
    );
    // Every PATCH streamed one chunk at most.
    for patch in log.iter().filter(|e| e.method == Method::PATCH) {
        let (start, end) = patch
            .content_range
            .as_deref()
            .unwrap()
            .split_once('-')
            .unwrap();
        let len = end.parse::<u64>().unwrap() + 1 - start.parse::<u64>().unwrap();
        assert!(len <= CHUNK, "{patch:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_the_registry_dropped_starts_the_blob_over() {
    let log = push_through_a_cut(Cut::PartlyForwarded).await;
    let broken = log.iter().position(|e| e.status == 502).unwrap();
    let session = &log[broken].path;
    // distribution refuses a session whose data outran its last confirmed offset...
    let status = log[broken + 1..]
        .iter()
        .find(|e| &e.path == session)
        .unwrap();
    assert_eq!((status.method.clone(), status.status), (Method::GET, 404));
    // ...so a new session carries that blob from byte 0.
    let sessions = log.iter().filter(|e| e.method == Method::POST).count();
    assert_eq!(sessions, 5, "the broken blob got a second session");
    let restarted = log[broken + 1..]
        .iter()
        .filter(|e| e.method == Method::PATCH && &e.path != session)
        .any(|e| starts_at(e) == Some(0));
    assert!(restarted, "{log:?}");
}
