//! Who may look at the status page (and its `/events`); the webhook, `/healthz` and `/metrics`
//! keep their own rules.
//!
//! - listening on loopback: anyone who can reach it (that is, this host);
//! - beyond it: `Authorization: Bearer $AMAGENT_UI_TOKEN`, or the session cookie the login form
//!   sets after the same token was posted (HttpOnly, SameSite=Strict: a browser can use the page
//!   without the token ever being in a URL) — both compared in constant time; or, with
//!   `AMAGENT_UI_TRUSTED_HEADER` (e.g. `X-Forwarded-User`), any request carrying that header,
//!   as set by an authenticating proxy in front (which must be the only way in);
//! - beyond loopback with neither configured: refused (403) saying how to configure it.
//!
//! The cookie holds an HMAC of a fixed label keyed with the token, never the token: it changes
//! when the token does, and works across restarts. The token is never logged.

use crate::secret::Secret;
use axum::http::{HeaderMap, HeaderName, header};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use subtle::ConstantTimeEq;

pub const TOKEN_ENV: &str = "AMAGENT_UI_TOKEN";
pub const TRUSTED_HEADER_ENV: &str = "AMAGENT_UI_TRUSTED_HEADER";
pub const COOKIE: &str = "amagent_ui";
/// A shorter token is refused at start: it would be guessable.
pub const MIN_TOKEN_CHARS: usize = 16;
/// How long a sign-in lasts.
const SESSION_SECONDS: u32 = 12 * 3600;

pub struct Access {
    listen: SocketAddr,
    token: Option<Secret>,
    trusted_header: Option<HeaderName>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// A token is configured and none (or a wrong one) was presented.
    SignIn,
    /// Nothing configured to check visitors with: the message says what to set.
    Refused(String),
}

impl Access {
    pub fn new(
        listen: SocketAddr,
        token: Option<Secret>,
        trusted_header: Option<&str>,
    ) -> Result<Self, String> {
        if let Some(t) = &token
            && t.expose().chars().count() < MIN_TOKEN_CHARS
        {
            return Err(format!(
                "{TOKEN_ENV} must be at least {MIN_TOKEN_CHARS} characters (e.g. `openssl rand -hex 32`)"
            ));
        }
        let trusted_header = trusted_header
            .map(|h| {
                HeaderName::try_from(h.trim()).map_err(|_| {
                    format!("{TRUSTED_HEADER_ENV}={h:?} is not an HTTP header name (e.g. X-Forwarded-User)")
                })
            })
            .transpose()?;
        Ok(Access {
            listen,
            token,
            trusted_header,
        })
    }

    /// From `AMAGENT_UI_TOKEN` and `AMAGENT_UI_TRUSTED_HEADER` (empty counts as unset).
    pub fn from_env(listen: SocketAddr) -> Result<Self, String> {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        Access::new(
            listen,
            var(TOKEN_ENV).map(Secret::new),
            var(TRUSTED_HEADER_ENV).as_deref(),
        )
    }

    pub fn check(&self, headers: &HeaderMap) -> Verdict {
        if self.listen.ip().is_loopback() {
            return Verdict::Allowed;
        }
        if let Some(name) = &self.trusted_header
            && headers.get(name).is_some_and(|v| !v.is_empty())
        {
            return Verdict::Allowed;
        }
        let Some(token) = &self.token else {
            if self.trusted_header.is_some() {
                return Verdict::Refused(format!(
                    "this page is served through the authenticating proxy only (no {} header)",
                    self.trusted_header.as_ref().map_or("", |h| h.as_str())
                ));
            }
            return Verdict::Refused(format!(
                "the status page listens on {} (beyond loopback) and has no way to check who \
                 you are: set {TOKEN_ENV} (at least {MIN_TOKEN_CHARS} characters; sign in with \
                 it, or send `Authorization: Bearer <token>`), or {TRUSTED_HEADER_ENV} to the \
                 header your authenticating proxy sets (e.g. X-Forwarded-User), or listen on \
                 127.0.0.1",
                self.listen
            ));
        };
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let cookie = cookie(headers, COOKIE);
        let by_bearer = bearer.is_some_and(|b| same(b, token.expose()));
        let by_cookie = cookie.is_some_and(|c| same(&c, &session(token)));
        if by_bearer || by_cookie {
            Verdict::Allowed
        } else {
            Verdict::SignIn
        }
    }

    /// After the login form posted `presented`: the `Set-Cookie` value when it is the token.
    pub fn sign_in(&self, presented: &str, https: bool) -> Option<String> {
        let token = self.token.as_ref()?;
        same(presented, token.expose()).then(|| {
            let secure = if https { "; Secure" } else { "" };
            format!(
                "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={SESSION_SECONDS}{secure}",
                session(token)
            )
        })
    }
}

/// The session cookie's value for `token`.
fn session(token: &Secret) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(token.expose().as_bytes())
        .expect("HMAC takes any key length");
    mac.update(b"amagent status page session v1");
    hex::encode(mac.finalize().into_bytes())
}

/// Equal, in time independent of where they differ (and of their lengths: hashes are compared).
fn same(a: &str, b: &str) -> bool {
    Sha256::digest(a.as_bytes())
        .ct_eq(&Sha256::digest(b.as_bytes()))
        .into()
}

/// The value of cookie `name` among the request's `Cookie` headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "a-token-long-enough-1234";

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::try_from(*k).unwrap(), v.parse().unwrap()))
            .collect()
    }

    fn access(addr: &str, token: Option<&str>, header: Option<&str>) -> Access {
        Access::new(addr.parse().unwrap(), token.map(Secret::new), header).unwrap()
    }

    #[test]
    fn loopback_is_open_beyond_it_nothing_configured_is_refused() {
        assert_eq!(
            access("127.0.0.1:8080", None, None).check(&HeaderMap::new()),
            Verdict::Allowed
        );
        assert_eq!(
            access("[::1]:8080", None, None).check(&HeaderMap::new()),
            Verdict::Allowed
        );
        let Verdict::Refused(why) = access("0.0.0.0:8080", None, None).check(&HeaderMap::new())
        else {
            panic!("not refused");
        };
        assert!(
            why.contains(TOKEN_ENV) && why.contains(TRUSTED_HEADER_ENV),
            "{why}"
        );
    }

    #[test]
    fn a_token_is_accepted_as_bearer_or_as_the_cookie_the_login_sets() {
        let a = access("0.0.0.0:8080", Some(TOKEN), None);
        assert_eq!(a.check(&HeaderMap::new()), Verdict::SignIn);
        let bearer = format!("Bearer {TOKEN}");
        assert_eq!(
            a.check(&headers(&[("authorization", &bearer)])),
            Verdict::Allowed
        );
        assert_eq!(
            a.check(&headers(&[("authorization", "Bearer nope")])),
            Verdict::SignIn
        );
        assert_eq!(a.sign_in("wrong", false), None);
        let set = a.sign_in(TOKEN, true).unwrap();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.ends_with("Secure")
        );
        assert!(!set.contains(TOKEN), "the cookie never holds the token");
        let value = set.split(';').next().unwrap();
        let cookie = format!("other=1; {value}");
        assert_eq!(a.check(&headers(&[("cookie", &cookie)])), Verdict::Allowed);
        let other = access("0.0.0.0:8080", Some("another-token-long-enough"), None);
        assert_eq!(
            other.check(&headers(&[("cookie", &cookie)])),
            Verdict::SignIn
        );
    }

    #[test]
    fn a_trusted_proxy_header_lets_its_users_in_and_only_them() {
        let a = access("10.0.0.5:8080", None, Some("X-Forwarded-User"));
        assert_eq!(
            a.check(&headers(&[("x-forwarded-user", "ada")])),
            Verdict::Allowed
        );
        assert!(matches!(a.check(&HeaderMap::new()), Verdict::Refused(_)));
        let both = access("10.0.0.5:8080", Some(TOKEN), Some("X-Forwarded-User"));
        assert_eq!(both.check(&HeaderMap::new()), Verdict::SignIn);
    }

    #[test]
    fn short_tokens_and_bad_header_names_are_refused_at_start() {
        let addr = "0.0.0.0:1".parse().unwrap();
        let e = Access::new(addr, Some(Secret::new("short")), None)
            .err()
            .unwrap();
        assert!(e.contains("at least 16") && !e.contains("short"), "{e}");
        let e = Access::new(addr, None, Some("not a header")).err().unwrap();
        assert!(e.contains(TRUSTED_HEADER_ENV), "{e}");
    }
}
