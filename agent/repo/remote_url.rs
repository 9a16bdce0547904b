//! What a git remote URL says about where credentials may go: its transport, host and port,
//! and any user-info written into it. The user-info is split off before the URL is handed to
//! libgit2, so a token in `--repo https://x:TOKEN@host/…` is never written to a mirror's
//! `config`; it is offered through the credential callback instead, to that host only.

use std::fmt;

/// How a remote is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Https,
    /// Plain http: a token crosses the network in the clear.
    Http,
    /// `ssh://…` or scp-like `user@host:path`.
    Ssh,
    /// A path or `file://`: no network, no credentials.
    Local,
}

/// A remote URL, taken apart.
#[derive(Clone, PartialEq, Eq)]
pub struct RemoteUrl {
    pub transport: Transport,
    /// Lower-cased host, for network transports.
    pub host: Option<String>,
    /// The port, explicit or the transport's default (443, 80, 22).
    pub port: Option<u16>,
    /// The URL libgit2 is given: for http(s) without any user-info.
    pub for_git: String,
    /// The SSH user (`git` in `git@github.com:org/repo`): not a secret, libgit2 needs it.
    pub ssh_user: Option<String>,
    /// A secret written into an http(s) URL: the password, or a lone user name (GitHub accepts
    /// `https://TOKEN@github.com/…`).
    pub embedded_token: Option<String>,
    /// The user name beside a password in an http(s) URL (`https://USER:TOKEN@…`).
    pub embedded_user: Option<String>,
}

impl fmt::Debug for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteUrl")
            .field("transport", &self.transport)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("for_git", &self.for_git)
            .field("ssh_user", &self.ssh_user)
            .field(
                "embedded_token",
                &self.embedded_token.as_ref().map(|_| "<redacted>"),
            )
            .field("embedded_user", &self.embedded_user)
            .finish()
    }
}

impl RemoteUrl {
    pub fn parse(raw: &str) -> RemoteUrl {
        if let Some(scp) = scp_like(raw) {
            return scp;
        }
        let Ok(url) = url::Url::parse(raw) else {
            return local(raw);
        };
        let transport = match url.scheme() {
            "https" => Transport::Https,
            "http" => Transport::Http,
            "ssh" | "git+ssh" | "ssh+git" => Transport::Ssh,
            _ => return local(raw),
        };
        let host = url
            .host_str()
            .map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase());
        let port = url.port_or_known_default().or(match transport {
            Transport::Ssh => Some(22),
            _ => None,
        });
        let user = percent_decode(url.username());
        let password = url.password().map(percent_decode);
        match transport {
            Transport::Https | Transport::Http => {
                let mut clean = url.clone();
                // Infallible for http(s) URLs, which always have a host.
                let _ = clean.set_username("");
                let _ = clean.set_password(None);
                RemoteUrl {
                    transport,
                    host,
                    port,
                    for_git: clean.to_string(),
                    ssh_user: None,
                    embedded_user: password
                        .as_ref()
                        .and((!user.is_empty()).then(|| user.clone())),
                    embedded_token: password.or((!user.is_empty()).then_some(user)),
                }
            }
            _ => RemoteUrl {
                transport,
                host,
                port,
                for_git: raw.to_string(),
                ssh_user: (!user.is_empty()).then_some(user),
                embedded_token: None,
                embedded_user: None,
            },
        }
    }

    /// `host:port` as tokens are scoped to (the port is part of the origin: a redirect to
    /// another port of the same host is another server).
    pub fn origin(&self) -> Option<String> {
        Some(format!("{}:{}", self.host.as_deref()?, self.port?))
    }

    /// Is this remote `host` or `host:port` in `list` (a bare host means its default port)?
    pub fn matches_any(&self, list: &[String]) -> bool {
        let (Some(host), Some(port)) = (self.host.as_deref(), self.port) else {
            return false;
        };
        list.iter().any(|entry| match entry.rsplit_once(':') {
            Some((h, p)) if p.parse::<u16>().is_ok() => {
                h.eq_ignore_ascii_case(host) && p.parse::<u16>().ok() == Some(port)
            }
            _ => entry.eq_ignore_ascii_case(host) && Some(port) == self.default_port(),
        })
    }

    fn default_port(&self) -> Option<u16> {
        match self.transport {
            Transport::Https => Some(443),
            Transport::Http => Some(80),
            Transport::Ssh => Some(22),
            Transport::Local => None,
        }
    }
}

fn local(raw: &str) -> RemoteUrl {
    RemoteUrl {
        transport: Transport::Local,
        host: None,
        port: None,
        for_git: raw.to_string(),
        ssh_user: None,
        embedded_token: None,
        embedded_user: None,
    }
}

/// `[user@]host:path` (git's scp-like syntax): no scheme, a colon before any slash, and not a
/// Windows drive letter.
fn scp_like(raw: &str) -> Option<RemoteUrl> {
    if raw.contains("://") || raw.starts_with('/') || raw.starts_with('.') {
        return None;
    }
    let (before, _path) = raw.split_once(':')?;
    if before.contains('/') || before.len() < 2 {
        return None;
    }
    let (user, host) = match before.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_string()), h),
        None => (None, before),
    };
    Some(RemoteUrl {
        transport: Transport::Ssh,
        host: Some(host.trim_matches(['[', ']']).to_ascii_lowercase()),
        port: Some(22),
        for_git: raw.to_string(),
        ssh_user: user,
        embedded_token: None,
        embedded_user: None,
    })
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_user_info_is_split_off_the_url_libgit2_sees() {
        let r = RemoteUrl::parse("https://x-access-token:ghp_s%2Fecret@GitHub.com/acme/env.git");
        assert_eq!(r.transport, Transport::Https);
        assert_eq!(r.for_git, "https://github.com/acme/env.git");
        assert_eq!(r.embedded_token.as_deref(), Some("ghp_s/ecret"));
        assert_eq!(r.origin().as_deref(), Some("github.com:443"));
        assert!(!format!("{r:?}").contains("ghp_"));
        // A lone user name is GitHub's token-only form.
        let r = RemoteUrl::parse("https://ghp_only@github.com/acme/env.git");
        assert_eq!(r.embedded_token.as_deref(), Some("ghp_only"));
        assert_eq!(r.for_git, "https://github.com/acme/env.git");
    }

    #[test]
    fn ssh_forms_keep_their_user() {
        let r = RemoteUrl::parse("git@github.com:acme/env.git");
        assert_eq!(r.transport, Transport::Ssh);
        assert_eq!(r.origin().as_deref(), Some("github.com:22"));
        assert_eq!(r.ssh_user.as_deref(), Some("git"));
        assert_eq!(r.for_git, "git@github.com:acme/env.git");
        let r = RemoteUrl::parse("ssh://git@127.0.0.1:2222/srv/env.git");
        assert_eq!(r.origin().as_deref(), Some("127.0.0.1:2222"));
        assert_eq!(r.ssh_user.as_deref(), Some("git"));
    }

    #[test]
    fn paths_are_local() {
        for raw in [
            "/srv/git/env.git",
            "./env",
            "file:///srv/env.git",
            "env.git",
        ] {
            assert_eq!(RemoteUrl::parse(raw).transport, Transport::Local, "{raw}");
        }
    }

    #[test]
    fn host_lists_match_host_and_port() {
        let r = RemoteUrl::parse("https://github.com/acme/env.git");
        assert!(r.matches_any(&["github.com".into()]));
        assert!(r.matches_any(&["GITHUB.COM:443".into()]));
        assert!(!r.matches_any(&["github.com:8443".into()]));
        assert!(!r.matches_any(&["evil.example".into()]));
        let r = RemoteUrl::parse("https://127.0.0.1:8443/git/env.git");
        assert!(r.matches_any(&["127.0.0.1:8443".into()]));
        assert!(!r.matches_any(&["127.0.0.1".into()]));
    }
}
