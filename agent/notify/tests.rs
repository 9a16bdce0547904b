//! Which targets an event reaches, and how their secrets are read.

use super::*;
use crate::config::notify::{SlackTarget, WebhookTarget};

struct Fake;

#[async_trait::async_trait]
impl SecretReader for Fake {
    async fn parameter(&self, name: &str) -> Result<Secret, String> {
        match name {
            "/team/slack" => Ok(Secret::new("https://hooks.slack.com/services/T/B/x")),
            _ => Err("not found".into()),
        }
    }
    fn variable(&self, name: &str) -> Option<String> {
        (name == "SIGNING").then(|| "s3cret".to_string())
    }
}

fn env_with(notify: Vec<NotifyTarget>) -> Environment {
    let mut env = crate::config::example().environments["staging"].clone();
    env.notify = notify;
    env
}

fn from_ssm(name: &str) -> SecretFrom {
    SecretFrom {
        ssm: Some(name.into()),
        env: None,
    }
}

fn from_env(name: &str) -> SecretFrom {
    SecretFrom {
        ssm: None,
        env: Some(name.into()),
    }
}

fn slack(url: SecretFrom, events: Vec<EventKind>) -> NotifyTarget {
    NotifyTarget {
        slack: Some(SlackTarget {
            webhook_url: Some(url),
            bot_token: None,
            channel: None,
        }),
        webhook: None,
        events,
    }
}

fn webhook(secret: Option<SecretFrom>) -> NotifyTarget {
    NotifyTarget {
        slack: None,
        webhook: Some(WebhookTarget {
            url: "https://hooks.example.com/a".into(),
            secret,
        }),
        events: Vec::new(),
    }
}

#[tokio::test]
async fn only_targets_wanting_the_event_get_it_with_their_secrets_read() {
    let env = env_with(vec![
        slack(from_ssm("/team/slack"), vec![EventKind::Failed]),
        webhook(Some(from_env("SIGNING"))),
    ]);
    let started = resolve(&env, EventKind::Started, &Fake).await;
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].label, "staging notify[1] (webhook)");
    match &started[0].destination {
        Destination::Webhook { url, secret } => {
            assert_eq!(url, "https://hooks.example.com/a");
            assert_eq!(secret.as_ref().map(|s| s.expose()), Some("s3cret"));
        }
        _ => panic!("a webhook"),
    }
    let failed = resolve(&env, EventKind::Failed, &Fake).await;
    let labels: Vec<&str> = failed.iter().map(|t| t.label.as_str()).collect();
    assert_eq!(
        labels,
        ["staging notify[0] (slack)", "staging notify[1] (webhook)"]
    );
    assert!(
        matches!(&failed[0].destination, Destination::SlackWebhook { url } if url.expose().ends_with("/x"))
    );
}

#[tokio::test]
async fn a_target_whose_secret_cannot_be_read_is_left_out() {
    let env = env_with(vec![
        slack(from_ssm("/team/missing"), Vec::new()),
        webhook(Some(from_env("UNSET"))),
        webhook(None),
    ]);
    let targets = resolve(&env, EventKind::Succeeded, &Fake).await;
    let labels: Vec<&str> = targets.iter().map(|t| t.label.as_str()).collect();
    assert_eq!(
        labels,
        ["staging notify[2] (webhook)"],
        "unsigned needs no secret"
    );
}
