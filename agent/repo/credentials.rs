//! Git credentials from the environment, handed to libgit2 on demand. Never logged: `Debug`
//! is redacted and URLs are shown without their user-info.

use git2::{Cred, CredentialType};
use std::fmt;
use std::path::PathBuf;

/// Environment variable holding an HTTPS token (GitHub PAT or installation token).
pub const TOKEN_VAR: &str = "AMAGENT_GIT_TOKEN";
/// Fallback token variable, so one GitHub token serves git and the API.
pub const GITHUB_TOKEN_VAR: &str = "GITHUB_TOKEN";
/// Path of an SSH private key.
pub const SSH_KEY_VAR: &str = "AMAGENT_GIT_SSH_KEY";
/// Passphrase for that key, if it has one.
pub const SSH_PASSPHRASE_VAR: &str = "AMAGENT_GIT_SSH_PASSPHRASE";

#[derive(Clone, Default)]
pub struct GitCredentials {
    token: Option<String>,
    ssh_key: Option<PathBuf>,
    ssh_passphrase: Option<String>,
}

impl fmt::Debug for GitCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitCredentials")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("ssh_key", &self.ssh_key)
            .field(
                "ssh_passphrase",
                &self.ssh_passphrase.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// What to answer libgit2's credential request with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// HTTPS: user name and token (GitHub accepts any user name with a token).
    Token { username: String },
    /// SSH with the configured key file.
    SshKey { username: String },
    /// SSH via the running ssh-agent.
    SshAgent { username: String },
    /// Let libgit2 use its defaults (e.g. Kerberos/NTLM).
    Default,
    /// Nothing we can offer: fail with libgit2's error.
    Nothing,
}

impl GitCredentials {
    /// Read from AMAGENT_GIT_TOKEN (or GITHUB_TOKEN), AMAGENT_GIT_SSH_KEY and
    /// AMAGENT_GIT_SSH_PASSPHRASE.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        GitCredentials {
            token: var(TOKEN_VAR).or_else(|| var(GITHUB_TOKEN_VAR)),
            ssh_key: var(SSH_KEY_VAR).map(PathBuf::from),
            ssh_passphrase: var(SSH_PASSPHRASE_VAR),
        }
    }

    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    pub fn with_ssh_key(mut self, path: impl Into<PathBuf>) -> Self {
        self.ssh_key = Some(path.into());
        self
    }

    /// Decide what to offer for a request. `attempt` counts from 1; libgit2 asks again after a
    /// rejected credential, so each kind is offered once.
    pub fn answer(&self, username: Option<&str>, allowed: CredentialType, attempt: u32) -> Answer {
        if attempt > 1 {
            return Answer::Nothing;
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) && self.token.is_some() {
            return Answer::Token {
                username: username.unwrap_or("x-access-token").to_string(),
            };
        }
        if allowed.contains(CredentialType::SSH_KEY) {
            let username = username.unwrap_or("git").to_string();
            return if self.ssh_key.is_some() {
                Answer::SshKey { username }
            } else {
                Answer::SshAgent { username }
            };
        }
        if allowed.contains(CredentialType::DEFAULT) {
            return Answer::Default;
        }
        Answer::Nothing
    }

    /// libgit2 callbacks that answer credential requests from these credentials.
    pub fn callbacks(&self) -> git2::RemoteCallbacks<'_> {
        let mut callbacks = git2::RemoteCallbacks::new();
        let mut attempt = 0;
        callbacks.credentials(move |_url, username, allowed| {
            attempt += 1;
            match self.answer(username, allowed, attempt) {
                Answer::Token { username } => {
                    Cred::userpass_plaintext(&username, self.token.as_deref().unwrap_or_default())
                }
                Answer::SshKey { username } => Cred::ssh_key(
                    &username,
                    None,
                    self.ssh_key.as_deref().expect("answer checked"),
                    self.ssh_passphrase.as_deref(),
                ),
                Answer::SshAgent { username } => Cred::ssh_key_from_agent(&username),
                Answer::Default => Cred::default(),
                Answer::Nothing => Err(git2::Error::from_str(
                    "authentication failed: set AMAGENT_GIT_TOKEN for https or AMAGENT_GIT_SSH_KEY for ssh",
                )),
            }
        });
        callbacks
    }
}

/// `url` without any `user:password@` part, for messages.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        // Everything up to the last `@` goes: a password may hold an unencoded `/` or `@`. An
        // `@` in the path over-redacts, which never leaks.
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host_and_path)) => format!("{scheme}://***@{host_and_path}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_for_https_key_or_agent_for_ssh() {
        let c = GitCredentials::default().with_token("ghp_secret");
        assert_eq!(
            c.answer(None, CredentialType::USER_PASS_PLAINTEXT, 1),
            Answer::Token {
                username: "x-access-token".into()
            }
        );
        assert_eq!(
            c.answer(Some("git"), CredentialType::SSH_KEY, 1),
            Answer::SshAgent {
                username: "git".into()
            }
        );
        let c = c.with_ssh_key("/keys/id_ed25519");
        assert_eq!(
            c.answer(Some("git"), CredentialType::SSH_KEY, 1),
            Answer::SshKey {
                username: "git".into()
            }
        );
    }

    #[test]
    fn gives_up_after_a_rejected_attempt() {
        let c = GitCredentials::default().with_token("t");
        assert_eq!(
            c.answer(None, CredentialType::USER_PASS_PLAINTEXT, 2),
            Answer::Nothing
        );
        assert_eq!(
            GitCredentials::default().answer(None, CredentialType::USER_PASS_PLAINTEXT, 1),
            Answer::Nothing
        );
    }

    #[test]
    fn debug_and_urls_hide_secrets() {
        let c = GitCredentials::default().with_token("ghp_supersecret");
        assert!(!format!("{c:?}").contains("supersecret"));
        assert_eq!(
            redact_url("https://user:ghp_x@github.com/org/env.git"),
            "https://***@github.com/org/env.git"
        );
        assert_eq!(redact_url("/srv/git/env.git"), "/srv/git/env.git");
        // A password with `/` and `@` in it, unencoded.
        assert_eq!(
            redact_url("https://u:ab/c@d@github.com/o/r.git"),
            "https://***@github.com/o/r.git"
        );
    }
}
