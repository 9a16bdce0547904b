use super::*;

const GH: &str = "https://github.com/acme/env.git";

#[test]
fn token_for_https_key_or_agent_for_ssh() {
    let c = GitCredentials::default().with_token("ghp_secret");
    assert_eq!(
        c.answer(GH, None, CredentialType::USER_PASS_PLAINTEXT, 1),
        Ok(Answer::Token {
            username: "x-access-token".into()
        })
    );
    let ssh = "ssh://git@github.com/acme/env.git";
    assert_eq!(
        c.answer(ssh, Some("git"), CredentialType::SSH_KEY, 1),
        Ok(Answer::SshAgent {
            username: "git".into()
        })
    );
    let c = c.with_ssh_key("/keys/id_ed25519");
    assert_eq!(
        c.answer(ssh, Some("git"), CredentialType::SSH_KEY, 1),
        Ok(Answer::SshKey {
            username: "git".into()
        })
    );
    // libgit2 asks for the user name first when the URL has none.
    assert_eq!(
        c.answer("ssh://host/env.git", None, CredentialType::USERNAME, 1),
        Ok(Answer::Username {
            username: "git".into()
        })
    );
}

#[test]
fn a_refused_token_names_the_variable_never_the_value() {
    let c = GitCredentials::default().with_token("ghp_supersecret");
    let err = c
        .answer(GH, None, CredentialType::USER_PASS_PLAINTEXT, 2)
        .unwrap_err();
    assert!(err.contains("refused AMAGENT_GIT_TOKEN"), "{err}");
    assert!(!err.contains("supersecret"), "{err}");
    let err = GitCredentials::default()
        .answer(GH, None, CredentialType::USER_PASS_PLAINTEXT, 1)
        .unwrap_err();
    assert!(err.contains("set AMAGENT_GIT_TOKEN"), "{err}");
}

#[test]
fn no_token_over_plain_http_unless_that_host_is_allowed() {
    let c = GitCredentials::default()
        .with_token("t")
        .trusting("http://10.0.0.5:8080/env.git");
    let err = c
        .answer(
            "http://10.0.0.5:8080/env.git",
            None,
            CredentialType::USER_PASS_PLAINTEXT,
            1,
        )
        .unwrap_err();
    assert!(err.contains("over plain http"), "{err}");
    assert!(
        err.contains("AMAGENT_GIT_HTTP_HOSTS=10.0.0.5:8080"),
        "{err}"
    );
    let c = c.allow_http("10.0.0.5:8080");
    assert!(
        c.answer(
            "http://10.0.0.5:8080/env.git",
            None,
            CredentialType::USER_PASS_PLAINTEXT,
            1
        )
        .is_ok()
    );
}

#[test]
fn the_token_goes_only_to_its_hosts_not_after_a_redirect_elsewhere() {
    let c = GitCredentials::default()
        .with_token("t")
        .trusting("https://git.acme.internal:8443/env.git");
    for ok in [GH, "https://git.acme.internal:8443/other.git"] {
        assert!(
            c.answer(ok, None, CredentialType::USER_PASS_PLAINTEXT, 1)
                .is_ok(),
            "{ok}"
        );
    }
    // A service's source on another host, or a redirect to another port of a trusted host:
    // libgit2 asks with the URL it is now talking to.
    for refused in [
        "https://evil.example/env.git",
        "https://git.acme.internal:9443/env.git",
        "https://github.com:8443/acme/env.git",
    ] {
        let err = c
            .answer(refused, None, CredentialType::USER_PASS_PLAINTEXT, 1)
            .unwrap_err();
        assert!(err.contains("not a host it is meant for"), "{err}");
        assert!(err.contains("AMAGENT_GIT_TOKEN_HOSTS"), "{err}");
    }
}

#[test]
fn a_token_in_the_url_is_split_off_and_scoped_to_that_host() {
    let c = GitCredentials::default();
    let (url, creds) = c.for_remote("https://x:ghp_inurl@git.example:8443/env.git");
    assert_eq!(url, "https://git.example:8443/env.git");
    assert!(!format!("{creds:?}").contains("ghp_inurl"));
    assert!(
        creds
            .answer(&url, None, CredentialType::USER_PASS_PLAINTEXT, 1)
            .is_ok()
    );
    // Not to github.com: that token was written for git.example.
    assert!(
        creds
            .answer(GH, None, CredentialType::USER_PASS_PLAINTEXT, 1)
            .is_err()
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
