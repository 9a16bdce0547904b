//! Where the GitHub reporter's settings come from: the token or GitHub App credentials, the
//! API URL and the repository (`owner/repo` from the environments repo URL or
//! `AMAGENT_GITHUB_REPO`).

use super::*;

/// What [`GitHub::from_env`] connects with.
#[derive(Debug, PartialEq, Eq)]
pub struct Settings {
    pub api_base: String,
    pub owner: String,
    pub repo: String,
    pub credentials: Credentials,
    pub target_url: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Credentials {
    Token(Secret),
    App { app_id: u64, key: Secret },
}

impl Settings {
    /// Reads `GITHUB_TOKEN`, or `AMAGENT_GITHUB_APP_ID` with `AMAGENT_GITHUB_APP_PRIVATE_KEY`
    /// (PEM) or `AMAGENT_GITHUB_APP_PRIVATE_KEY_FILE`; `GITHUB_API_URL`;
    /// `AMAGENT_GITHUB_REPO` (`owner/name`, else taken from `repo_url`); `AMAGENT_PUBLIC_URL`.
    /// `None` when there are no credentials. `var` looks a variable up (tests pass a map).
    pub fn resolve(
        repo_url: &str,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Settings>, ReportError> {
        let var = |k: &str| {
            var(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let credentials = if let Some(id) = var("AMAGENT_GITHUB_APP_ID") {
            let app_id = id.parse().map_err(|_| {
                ReportError::Auth(format!("AMAGENT_GITHUB_APP_ID {id:?} is not a number"))
            })?;
            let key = match (
                var("AMAGENT_GITHUB_APP_PRIVATE_KEY"),
                var("AMAGENT_GITHUB_APP_PRIVATE_KEY_FILE"),
            ) {
                (Some(pem), _) => pem,
                (None, Some(path)) => std::fs::read_to_string(&path).map_err(|e| {
                    ReportError::Auth(format!("AMAGENT_GITHUB_APP_PRIVATE_KEY_FILE {path}: {e}"))
                })?,
                (None, None) => {
                    return Err(ReportError::Auth(
                        "AMAGENT_GITHUB_APP_ID is set but neither AMAGENT_GITHUB_APP_PRIVATE_KEY \
                         nor AMAGENT_GITHUB_APP_PRIVATE_KEY_FILE is"
                            .into(),
                    ));
                }
            };
            Credentials::App {
                app_id,
                key: Secret::new(key),
            }
        } else if let Some(token) = var("GITHUB_TOKEN") {
            Credentials::Token(Secret::new(token))
        } else {
            return Ok(None);
        };
        let (owner, repo) = match var("AMAGENT_GITHUB_REPO") {
            Some(name) => split_owner_repo(&name).ok_or_else(|| {
                ReportError::Auth(format!("AMAGENT_GITHUB_REPO {name:?} is not owner/name"))
            })?,
            None => owner_repo_from_url(repo_url).ok_or_else(|| {
                ReportError::Auth(format!(
                    "cannot tell the GitHub repository from {:?}; set AMAGENT_GITHUB_REPO=owner/name",
                    without_userinfo(repo_url)
                ))
            })?,
        };
        Ok(Some(Settings {
            api_base: var("GITHUB_API_URL").unwrap_or_else(|| DEFAULT_API.to_string()),
            owner,
            repo,
            credentials,
            target_url: var("AMAGENT_PUBLIC_URL"),
        }))
    }
}

fn split_owner_repo(name: &str) -> Option<(String, String)> {
    let name = name.trim_end_matches('/');
    let name = name.strip_suffix(".git").unwrap_or(name);
    let (owner, repo) = name.split_once('/')?;
    let valid = |s: &str| !s.is_empty() && !s.contains(['/', ':', ' ']);
    (valid(owner) && valid(repo)).then(|| (owner.to_string(), repo.to_string()))
}

/// A URL as it may be printed: `https://user:token@host/…` loses `user:token@`.
fn without_userinfo(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find('/').unwrap_or(rest.len());
            match rest[..end].rfind('@') {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

/// `https://host/o/r(.git)`, `ssh://git@host/o/r.git`, `git@host:o/r.git` → (o, r). Any host:
/// GitHub Enterprise too. Local paths and `file://` are not GitHub.
pub fn owner_repo_from_url(url: &str) -> Option<(String, String)> {
    let path = if let Some((scheme, rest)) = url.split_once("://") {
        if !matches!(scheme, "https" | "http" | "ssh" | "git") {
            return None;
        }
        rest.split_once('/')?.1
    } else {
        // scp-like: user@host:path
        let (host, path) = url.split_once(':')?;
        if !host.contains('@') || host.contains('/') {
            return None;
        }
        path
    };
    split_owner_repo(path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(o: &str, r: &str) -> Option<(String, String)> {
        Some((o.to_string(), r.to_string()))
    }

    #[test]
    fn owner_and_repo_from_remote_urls() {
        for url in [
            "https://github.com/acme/envs",
            "https://github.com/acme/envs.git",
            "https://github.com/acme/envs/",
            "https://x-access-token@github.com/acme/envs.git",
            "git@github.com:acme/envs.git",
            "git@github.com:acme/envs",
            "ssh://git@github.com/acme/envs.git",
        ] {
            assert_eq!(owner_repo_from_url(url), pair("acme", "envs"), "{url}");
        }
        for url in [
            "/srv/envs",
            "file:///srv/envs",
            "C:/envs",
            "https://github.com/acme",
            "https://github.com/acme/envs/tree/main",
        ] {
            assert_eq!(owner_repo_from_url(url), None, "{url}");
        }
    }

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn settings_from_the_environment() {
        let url = "git@github.com:acme/envs.git";
        assert_eq!(Settings::resolve(url, vars(&[])).unwrap(), None);

        let s = Settings::resolve(url, vars(&[("GITHUB_TOKEN", "ghp_abc\n")]))
            .unwrap()
            .unwrap();
        assert_eq!(
            s,
            Settings {
                api_base: DEFAULT_API.into(),
                owner: "acme".into(),
                repo: "envs".into(),
                credentials: Credentials::Token(Secret::new("ghp_abc")),
                target_url: None,
            }
        );

        let s = Settings::resolve(
            "/local/envs",
            vars(&[
                ("GITHUB_TOKEN", "ghp_abc"),
                ("AMAGENT_GITHUB_REPO", "other/name"),
                ("GITHUB_API_URL", "https://ghe.example.com/api/v3"),
                ("AMAGENT_PUBLIC_URL", "https://amagent.example.com"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!((s.owner.as_str(), s.repo.as_str()), ("other", "name"));
        assert_eq!(s.api_base, "https://ghe.example.com/api/v3");
        assert_eq!(s.target_url.as_deref(), Some("https://amagent.example.com"));

        // An App wins over a token when both are set.
        let s = Settings::resolve(
            url,
            vars(&[
                ("GITHUB_TOKEN", "ghp_abc"),
                ("AMAGENT_GITHUB_APP_ID", "123"),
                ("AMAGENT_GITHUB_APP_PRIVATE_KEY", "-----BEGIN…"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            s.credentials,
            Credentials::App {
                app_id: 123,
                key: Secret::new("-----BEGIN…")
            }
        );
    }

    #[test]
    fn settings_errors_are_clear_and_hold_no_secret() {
        let err = |url: &str, pairs: &[(&str, &str)]| {
            Settings::resolve(url, vars(pairs)).unwrap_err().to_string()
        };
        let e = err("/local/envs", &[("GITHUB_TOKEN", "ghp_secret")]);
        assert!(e.contains("AMAGENT_GITHUB_REPO"), "{e}");
        assert!(!e.contains("ghp_secret"), "{e}");
        // A token embedded in an unparseable remote URL is not printed either.
        let e = err("https://x:ghp_inurl@example.com/", &[("GITHUB_TOKEN", "t")]);
        assert!(e.contains("https://example.com/"), "{e}");
        assert!(!e.contains("ghp_inurl"), "{e}");
        let e = err("git@github.com:a/b.git", &[("AMAGENT_GITHUB_APP_ID", "7")]);
        assert!(e.contains("AMAGENT_GITHUB_APP_PRIVATE_KEY"), "{e}");
        let e = err(
            "git@github.com:a/b.git",
            &[("GITHUB_TOKEN", "t"), ("AMAGENT_GITHUB_REPO", "nope")],
        );
        assert!(e.contains("owner/name"), "{e}");
    }

    #[test]
    fn descriptions_fit_githubs_limit() {
        assert_eq!(truncate("short", 140), "short");
        let long = "é".repeat(200);
        let cut = truncate(&long, 140);
        assert_eq!(cut.chars().count(), 140);
        assert!(cut.ends_with('…'));
    }

    // Building octocrab's client spawns its request buffer: it needs a Tokio runtime.
    #[tokio::test]
    async fn debug_never_shows_the_token() {
        let gh = GitHub::from_token(
            "https://api.github.com",
            "acme",
            "envs",
            Secret::new("ghp_supersecret"),
        )
        .unwrap();
        let debug = format!("{gh:?}");
        assert!(debug.contains("acme/envs"), "{debug}");
        assert!(!debug.contains("ghp_supersecret"), "{debug}");
    }
}
