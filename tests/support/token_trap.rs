//! A hostile git server on plain http: one port answers every request with 401 (asking for
//! Basic credentials), another redirects everything to it. Counts the Authorization headers it
//! is sent, so a test can prove a token never reached it.

use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::IntoResponse;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Default)]
struct Seen {
    authorization: AtomicUsize,
    redirects: AtomicUsize,
}

pub struct Trap {
    asker: u16,
    redirector: u16,
    seen: Arc<Seen>,
    _runtime: tokio::runtime::Runtime,
}

impl Trap {
    pub fn start() -> Trap {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let seen = Arc::new(Seen::default());
        let (asker, redirector) = runtime.block_on(async {
            let a = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let r = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            (a, r)
        });
        let asker_port = asker.local_addr().unwrap().port();
        let redirector_port = redirector.local_addr().unwrap().port();
        let s = seen.clone();
        let ask = axum::Router::new().fallback(move |headers: HeaderMap| {
            let s = s.clone();
            async move {
                if headers.contains_key(header::AUTHORIZATION) {
                    s.authorization.fetch_add(1, Ordering::SeqCst);
                }
                (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Basic realm=\"git\"")],
                    "credentials please",
                )
            }
        });
        let s = seen.clone();
        let redirect = axum::Router::new().fallback(move |headers: HeaderMap, uri: Uri| {
            let s = s.clone();
            async move {
                if headers.contains_key(header::AUTHORIZATION) {
                    s.authorization.fetch_add(1, Ordering::SeqCst);
                }
                s.redirects.fetch_add(1, Ordering::SeqCst);
                let to = format!(
                    "http://127.0.0.1:{asker_port}{}",
                    uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
                );
                (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
            }
        });
        runtime.spawn(async move { axum::serve(asker, ask).await.unwrap() });
        runtime.spawn(async move { axum::serve(redirector, redirect).await.unwrap() });
        Trap {
            asker: asker_port,
            redirector: redirector_port,
            seen,
            _runtime: runtime,
        }
    }

    /// A repository URL that answers 401.
    pub fn url_401(&self) -> String {
        format!("http://127.0.0.1:{}/env.git", self.asker)
    }

    /// A repository URL that redirects to [`Self::url_401`]'s server (another port).
    pub fn url_redirect(&self) -> String {
        format!("http://127.0.0.1:{}/env.git", self.redirector)
    }

    pub fn redirector_origin(&self) -> String {
        format!("127.0.0.1:{}", self.redirector)
    }

    pub fn authorization_headers_seen(&self) -> usize {
        self.seen.authorization.load(Ordering::SeqCst)
    }

    pub fn redirects_served(&self) -> usize {
        self.seen.redirects.load(Ordering::SeqCst)
    }
}
