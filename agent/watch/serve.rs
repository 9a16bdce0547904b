//! The webhook server's connections, bounded. `axum::serve` accepts every connection and keeps
//! it as long as the client likes, so 21,000 idle sockets once took every fd the process had
//! (the repo fetch and AWS calls then failed with "Too many open files"). Here:
//!
//! - **at most `max_connections` open**, well below RLIMIT_NOFILE (`FD_RESERVE` fds stay for
//!   the agent's own work: git, AWS clients, the journal, builds). A connection beyond the cap
//!   closes the oldest one that has no request in progress — a flood of idle sockets cannot
//!   lock out `/healthz` or GitHub; when every one is busy the new one is closed at once;
//! - **header-read timeout** (hyper's: the whole request head must arrive within it; hyper
//!   restarts it while a kept-alive connection waits for its next request);
//! - **body-read timeout**: from the head to the answer, 408 after it;
//! - **idle timeout**: a kept-alive connection with no request in progress is closed;
//! - HTTP/1.1 only, request heads at most `MAX_HEAD_BYTES`.

use crate::metrics::Metrics;
use axum::Router;
use axum::http::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::Instant;
use tower::ServiceExt;
use tower_http::timeout::TimeoutLayer;

/// File descriptors kept for the agent itself, whatever the connection cap.
pub const FD_RESERVE: u64 = 256;
/// The cap when the fd limit allows more: GitHub and a load balancer need a handful.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// The cap never goes below this, even under a tiny fd limit (then a warning says so).
pub const MIN_CONNECTIONS: usize = 16;
/// Request line and headers (GitHub's are about 2 KiB); hyper's minimum is 8 KiB.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl ServerLimits {
    /// Defaults for a process whose soft RLIMIT_NOFILE is `fd_limit`.
    pub fn for_fd_limit(fd_limit: u64) -> Self {
        let room = usize::try_from(fd_limit.saturating_sub(FD_RESERVE)).unwrap_or(usize::MAX);
        ServerLimits {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(5),
            max_connections: room.clamp(MIN_CONNECTIONS, DEFAULT_MAX_CONNECTIONS),
        }
    }

    /// The defaults for this process's fd limit, overridden by `AMAGENT_WEBHOOK_MAX_CONNECTIONS`
    /// and `AMAGENT_WEBHOOK_{HEADER,BODY,IDLE}_TIMEOUT` (seconds).
    pub fn from_env() -> Result<Self, String> {
        let fd_limit = fd_limit();
        let mut limits = Self::for_fd_limit(fd_limit);
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let number = |name: &str, value: String| {
            value
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{name}={value:?}: expected a whole number above 0"))
        };
        for (name, field) in [
            (
                "AMAGENT_WEBHOOK_HEADER_TIMEOUT",
                &mut limits.header_read_timeout,
            ),
            (
                "AMAGENT_WEBHOOK_BODY_TIMEOUT",
                &mut limits.body_read_timeout,
            ),
            ("AMAGENT_WEBHOOK_IDLE_TIMEOUT", &mut limits.idle_timeout),
        ] {
            if let Some(v) = var(name) {
                *field = Duration::from_secs(number(name, v)?);
            }
        }
        if let Some(v) = var("AMAGENT_WEBHOOK_MAX_CONNECTIONS") {
            limits.max_connections = number("AMAGENT_WEBHOOK_MAX_CONNECTIONS", v)? as usize;
        }
        if limits.max_connections as u64 + FD_RESERVE > fd_limit {
            tracing::warn!(
                max_connections = limits.max_connections,
                fd_limit,
                reserve = FD_RESERVE,
                "the webhook connection cap leaves fewer fds than the reserve: raise `ulimit -n`"
            );
        }
        Ok(limits)
    }
}

/// The soft RLIMIT_NOFILE (1024 when it cannot be read: the common default).
pub fn fd_limit() -> u64 {
    rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
}

/// One open connection: whether a request is in progress, and how to close it from outside.
struct Conn {
    in_flight: AtomicUsize,
    served: AtomicU64,
    idle_since: Mutex<Instant>,
    close: Notify,
}

/// The open connections by id (ids increase, so oldest first), and the last id given.
#[derive(Default)]
struct Open {
    last_id: u64,
    by_id: BTreeMap<u64, Arc<Conn>>,
}

/// The open connections. Cloning shares them.
#[derive(Clone, Default)]
pub struct Connections(Arc<Mutex<Open>>);

impl Connections {
    /// How many connections are open now.
    pub fn open(&self) -> usize {
        self.lock().by_id.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Room for one more: below the cap, or by closing the oldest connection with no request
    /// in progress. `None` when all `cap` are busy.
    fn admit(&self, cap: usize) -> Option<(u64, Arc<Conn>)> {
        let mut guard = self.lock();
        let Open {
            last_id,
            by_id: open,
        } = &mut *guard;
        if open.len() >= cap {
            let idle = open
                .iter()
                .find(|(_, c)| c.in_flight.load(Ordering::SeqCst) == 0)
                .map(|(id, _)| *id)?;
            if let Some(victim) = open.remove(&idle) {
                victim.close.notify_one();
            }
        }
        *last_id += 1;
        let conn = Arc::new(Conn {
            in_flight: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            idle_since: Mutex::new(Instant::now()),
            close: Notify::new(),
        });
        open.insert(*last_id, conn.clone());
        Some((*last_id, conn))
    }

    fn remove(&self, id: u64) {
        self.lock().by_id.remove(&id);
    }
}

/// Serve `router` on `listener` within `limits` until the listener fails for good.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    connections: Connections,
    metrics: Arc<Metrics>,
) {
    let router = router.layer(TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        limits.body_read_timeout,
    ));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of fds (or a connection reset before accept): back off instead of spinning;
                // the cap makes this rare.
                tracing::warn!(error = %e, "webhook server cannot accept");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some((id, conn)) = connections.admit(limits.max_connections) else {
            metrics.rejected("connection-limit");
            continue; // dropping the stream closes it
        };
        let (router, limits, connections) = (router.clone(), limits.clone(), connections.clone());
        tokio::spawn(async move {
            serve_connection(stream, router, &limits, &conn).await;
            connections.remove(id);
        });
    }
}

async fn serve_connection(
    stream: TcpStream,
    router: Router,
    limits: &ServerLimits,
    conn: &Arc<Conn>,
) {
    let tracked = conn.clone();
    let service =
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let (router, conn) = (router.clone(), tracked.clone());
            conn.in_flight.fetch_add(1, Ordering::SeqCst);
            async move {
                let response = router.oneshot(request.map(axum::body::Body::new)).await;
                conn.served.fetch_add(1, Ordering::SeqCst);
                // In progress until the body is sent: a status page's event stream lasts as
                // long as the page is open and must not be closed as idle.
                let done = Done(conn);
                response.map(|r| r.map(|body| axum::body::Body::new(Tracked { body, _done: done })))
            }
        });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    let connection = http.serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = connection => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "webhook connection ended");
            }
        }
        () = conn.close.notified() => tracing::debug!("webhook connection closed to make room"),
        () = idle_expired(conn, limits.idle_timeout) => tracing::debug!("webhook connection idle"),
    }
}

/// A request's end: its response body sent (or dropped with the connection).
struct Done(Arc<Conn>);

impl Drop for Done {
    fn drop(&mut self) {
        *self.0.idle_since.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A response body that marks its request done when it is dropped.
struct Tracked {
    body: axum::body::Body,
    _done: Done,
}

impl http_body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Resolves once a connection that has answered a request has had none in progress for `idle`
/// (before its first request, hyper's header-read timeout applies).
async fn idle_expired(conn: &Conn, idle: Duration) {
    loop {
        let since = *conn.idle_since.lock().unwrap_or_else(|p| p.into_inner());
        let waiting =
            conn.in_flight.load(Ordering::SeqCst) == 0 && conn.served.load(Ordering::SeqCst) > 0;
        if waiting && since.elapsed() >= idle {
            return;
        }
        tokio::time::sleep_until(if waiting {
            since + idle
        } else {
            Instant::now() + idle
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_keeps_the_fd_reserve_free() {
        for fd_limit in [64, 300, 1024, 4096, 1 << 20] {
            let cap = ServerLimits::for_fd_limit(fd_limit).max_connections;
            assert!((MIN_CONNECTIONS..=DEFAULT_MAX_CONNECTIONS).contains(&cap));
            if fd_limit >= FD_RESERVE + MIN_CONNECTIONS as u64 {
                assert!(cap as u64 + FD_RESERVE <= fd_limit, "{fd_limit}: {cap}");
            }
        }
        // The common soft limit of 1024 leaves half for the agent.
        assert_eq!(ServerLimits::for_fd_limit(1024).max_connections, 512);
        assert_eq!(ServerLimits::for_fd_limit(600).max_connections, 344);
    }
}
