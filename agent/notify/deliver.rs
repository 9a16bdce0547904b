//! Sending notifications: one POST per target, retried with exponential backoff on 5xx, 429 and
//! connection failures (never on another 4xx: asking again will not change the answer). Error
//! texts never hold a URL (a Slack webhook URL is its credential) or a secret.

use super::message::{self, SIGNATURE_HEADER};
use super::{Destination, Event, Resolved};
use std::collections::HashMap;
use std::time::Duration;

/// Attempts per notification, and the first retry's delay (each further one doubles).
pub const ATTEMPTS: u32 = 3;
pub const RETRY_BASE: Duration = Duration::from_secs(1);
const TIMEOUT: Duration = Duration::from_secs(10);

/// Sends to targets; remembers each Slack bot message per (channel, run) to update it.
pub(super) struct Sender {
    client: reqwest::Client,
    retry_base: Duration,
    slack_api: String,
    /// (channel, run id) → the `ts` of the run's message.
    slack_messages: HashMap<(String, String), String>,
}

enum Attempt {
    Retry(String),
    GiveUp(String),
}

impl Sender {
    pub(super) fn new(retry_base: Duration, slack_api: String) -> Self {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("amagent/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client with default TLS builds");
        Sender {
            client,
            retry_base,
            slack_api: slack_api.trim_end_matches('/').to_string(),
            slack_messages: HashMap::new(),
        }
    }

    /// Deliver `event` to `target`; the error says why not (already logged per attempt).
    pub(super) async fn send(&mut self, target: &Resolved, event: &Event) -> Result<(), String> {
        match &target.destination {
            Destination::SlackWebhook { url } => {
                let body = message::slack_webhook_body(event);
                self.post(&target.label, url.expose(), &[], body, &[url.expose()])
                    .await
                    .map(|_| ())
            }
            Destination::Webhook { url, secret } => {
                let body = message::webhook_body(event);
                let mut headers = vec![("X-Amagent-Event", event.kind.as_str().to_string())];
                let mut secrets = Vec::new();
                if let Some(secret) = secret {
                    headers.push((SIGNATURE_HEADER, message::signature(secret.expose(), &body)));
                    secrets.push(secret.expose());
                }
                self.post(&target.label, url, &headers, body, &secrets)
                    .await
                    .map(|_| ())
            }
            Destination::SlackBot { token, channel } => {
                self.slack_bot(&target.label, token.expose(), channel, event)
                    .await
            }
        }
    }

    /// One message per run: `chat.postMessage` first, `chat.update` of its `ts` after.
    async fn slack_bot(
        &mut self,
        label: &str,
        token: &str,
        channel: &str,
        event: &Event,
    ) -> Result<(), String> {
        let key = (channel.to_string(), event.run_id.clone());
        let ts = self.slack_messages.get(&key).cloned();
        let method = if ts.is_some() {
            "chat.update"
        } else {
            "chat.postMessage"
        };
        let url = format!("{}/{method}", self.slack_api);
        let body = message::slack_bot_body(event, channel, ts.as_deref());
        let auth = [("Authorization", format!("Bearer {token}"))];
        let answer = self.post(label, &url, &auth, body, &[token]).await?;
        // Slack answers 200 with `ok: false` for refusals (bad token, unknown channel).
        let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
        if answer["ok"] != true {
            let error = answer["error"].as_str().unwrap_or("no `ok` in the answer");
            return Err(format!("Slack {method} refused: {error}"));
        }
        if let Some(ts) = answer["ts"].as_str() {
            self.slack_messages.insert(key, ts.to_string());
        }
        Ok(())
    }

    /// POST `body` as JSON, retrying what may pass on another try. `secrets` are scrubbed from
    /// any error text (belt and braces: reqwest's errors lose their URL here already).
    async fn post(
        &self,
        label: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
        secrets: &[&str],
    ) -> Result<Vec<u8>, String> {
        let mut attempt = 1;
        loop {
            let error = match self.once(url, headers, body.clone()).await {
                Ok(answer) => return Ok(answer),
                Err(Attempt::GiveUp(e)) => return Err(scrub(&e, secrets)),
                Err(Attempt::Retry(e)) if attempt >= ATTEMPTS => {
                    return Err(scrub(&format!("{e} (after {attempt} attempts)"), secrets));
                }
                Err(Attempt::Retry(e)) => scrub(&e, secrets),
            };
            let delay = self.retry_base.saturating_mul(1 << (attempt - 1));
            tracing::warn!(to = label, attempt, %error, "notification failed; retrying in {delay:?}");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn once(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<Vec<u8>, Attempt> {
        let mut request = self
            .client
            .post(url)
            .header("Content-Type", "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Attempt::Retry(e.without_url().to_string()))?;
        let status = response.status();
        let answer = response
            .bytes()
            .await
            .map_err(|e| Attempt::Retry(e.without_url().to_string()))?;
        if status.is_success() {
            return Ok(answer.to_vec());
        }
        let e = format!("HTTP {}", status.as_u16());
        if status.is_server_error() || status.as_u16() == 429 {
            Err(Attempt::Retry(e))
        } else {
            Err(Attempt::GiveUp(e))
        }
    }
}

fn scrub(text: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|s| !s.is_empty())
        .fold(text.to_string(), |t, s| t.replace(s, "<redacted>"))
}
