//! Rules for `notify:` and `github.deployment`: one kind of target per entry, secrets named by
//! where they live (an SSM parameter or an environment variable — never written in Git), URLs
//! that are URLs and carry no credentials.

use super::shapes::{is_env_var_name, url_has_password};
use super::{Header, root};
use crate::config::diagnostic::Diagnostic;
use crate::config::notify::{NotifyTarget, SecretFrom, SlackTarget};
use crate::config::position::FieldPath;
use crate::config::units::Located;

const SECRET_EXAMPLE: &str = "{ssm: /my-app/slack-webhook} or {env: AMAGENT_SLACK_WEBHOOK}";

pub(super) fn check_notify(at: &Located, h: &Header, out: &mut Vec<Diagnostic>) {
    for (i, target) in h.notify.iter().enumerate() {
        let path = root().key("notify").index(i);
        check_target(at, &path, target, out);
    }
    let url = h.github.as_ref().and_then(|g| g.deployment.url.as_ref());
    if let Some(url) = url {
        let path = root().key("github").key("deployment").key("url");
        check_url(at, &path, url, "https://staging.shop.example.com", out);
    }
}

fn check_target(at: &Located, path: &FieldPath, t: &NotifyTarget, out: &mut Vec<Diagnostic>) {
    match (&t.slack, &t.webhook) {
        (None, None) => out.push(at.at_key(
            path,
            format!("`{path}` names no target"),
            Some(format!(
                "add `slack: {{webhookUrl: {SECRET_EXAMPLE}}}` or `webhook: {{url: https://…, secret: {{env: AMAGENT_WEBHOOK_SECRET}}}}`"
            )),
        )),
        (Some(_), Some(_)) => out.push(at.at_key(
            &path.key("webhook"),
            format!("`{path}` has both `slack` and `webhook`"),
            Some("write one target per `- ` entry of `notify`".into()),
        )),
        (Some(slack), None) => check_slack(at, &path.key("slack"), slack, out),
        (None, Some(hook)) => {
            let url_path = path.key("webhook").key("url");
            check_url(at, &url_path, &hook.url, "https://hooks.example.com/amagent", out);
            if let Some(secret) = &hook.secret {
                check_secret(at, &path.key("webhook").key("secret"), secret, out);
            }
        }
    }
}

fn check_slack(at: &Located, path: &FieldPath, s: &SlackTarget, out: &mut Vec<Diagnostic>) {
    match (&s.webhook_url, &s.bot_token) {
        (None, None) => out.push(at.at_key(
            path,
            format!("`{path}` needs `webhookUrl` (an incoming webhook) or `botToken` and `channel`"),
            Some(format!("add `webhookUrl: {SECRET_EXAMPLE}`")),
        )),
        (Some(_), Some(_)) => out.push(at.at_key(
            &path.key("botToken"),
            format!("`{path}` has both `webhookUrl` and `botToken`"),
            Some("keep one: `botToken` with `channel` posts one message per run and updates it; `webhookUrl` posts one per event".into()),
        )),
        (Some(url), None) => check_secret(at, &path.key("webhookUrl"), url, out),
        (None, Some(token)) => check_secret(at, &path.key("botToken"), token, out),
    }
    if s.bot_token.is_some() && s.channel.is_none() {
        out.push(at.at_key(
            &path.key("botToken"),
            format!("`{path}.botToken` needs a `channel` to post in"),
            Some("add `channel: \"#deploys\"` (or the channel's id, e.g. `C0123456789`)".into()),
        ));
    }
    if s.channel.is_some() && s.bot_token.is_none() {
        out.push(at.at_key(
            &path.key("channel"),
            format!("`{path}.channel` is used only with `botToken`"),
            Some("an incoming webhook posts to the channel it was created for: remove `channel`, or add `botToken`".into()),
        ));
    }
}

fn check_secret(at: &Located, path: &FieldPath, s: &SecretFrom, out: &mut Vec<Diagnostic>) {
    match (&s.ssm, &s.env) {
        (None, None) | (Some(_), Some(_)) => out.push(at.at_key(
            path,
            format!("`{path}` must name exactly one of `ssm` or `env`"),
            Some(format!("write e.g. `{SECRET_EXAMPLE}`")),
        )),
        (Some(name), None) if !is_parameter_name(name) => out.push(at.at_value(
            &path.key("ssm"),
            format!("`{path}.ssm` is not an SSM parameter name"),
            Some("write the parameter's name, e.g. `/my-app/slack-webhook` (not its value)".into()),
        )),
        (None, Some(var)) if !is_env_var_name(var) => out.push(at.at_value(
            &path.key("env"),
            format!("`{path}.env` is not an environment variable name"),
            Some("write the variable's name, e.g. `AMAGENT_SLACK_WEBHOOK` (not its value)".into()),
        )),
        _ => {}
    }
}

/// SSM parameter names: `/`-separated letters, digits, `_.-`; at most 1011 characters. A URL or
/// a token pasted here (a value, not a name) fails the shape — and is never echoed.
fn is_parameter_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 1011
        && !name.contains("//")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_.-".contains(&b))
}

/// Query keys that carry a credential (`?token=…`, `?api_key=…`, `?sig=…`).
fn is_credential_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase().replace('-', "_");
    super::looks_secret_name(&key)
        || [
            "key",
            "api_key",
            "apikey",
            "sig",
            "signature",
            "auth",
            "access_token",
        ]
        .contains(&key.as_str())
}

fn check_url(at: &Located, path: &FieldPath, url: &str, example: &str, out: &mut Vec<Diagnostic>) {
    let parsed = url::Url::parse(url).ok();
    let web = parsed
        .as_ref()
        .is_some_and(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some());
    if !web {
        out.push(at.at_value(
            path,
            format!("`{path}` is not an http(s) URL"),
            Some(format!("write e.g. `{example}`")),
        ));
    } else if url_has_password(url)
        || parsed.as_ref().is_some_and(|u| !u.username().is_empty())
        || parsed.is_some_and(|u| u.query_pairs().any(|(k, _)| is_credential_key(&k)))
    {
        out.push(at.at_value(
            path,
            format!("`{path}` holds credentials, which would be stored in Git"),
            Some("remove them from the URL; a webhook is authenticated by its signature (`secret: {ssm: …}`)".into()),
        ));
    }
}
