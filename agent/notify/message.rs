//! Event → what each target is sent (pure): the generic webhook's JSON document and its
//! signature, and Slack's message text.

use super::Event;
use crate::config::EventKind;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// The header a generic webhook's signature travels in (shaped like GitHub's
/// `X-Hub-Signature-256`).
pub const SIGNATURE_HEADER: &str = "X-Amagent-Signature-256";

/// The generic webhook's body: the event with a stable `run_id` (several events of one run
/// share it, so a receiver can update one message per run). Field names are snake_case.
pub fn webhook_body(event: &Event) -> Vec<u8> {
    let document = json!({
        "version": 1,
        "run_id": event.run_id,
        "event": event.kind.as_str(),
        "environment": event.environment,
        "commit": event.commit,
        "summary": event.summary,
        "services": event.services,
        "pull_requests": event.pull_requests,
        "at": event.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    serde_json::to_vec(&document).expect("a JSON value serializes")
}

/// `sha256=<hex HMAC-SHA256 of body keyed with secret>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Slack's message text (mrkdwn): a headline and one line per service.
pub fn slack_text(event: &Event) -> String {
    let (icon, what) = match event.kind {
        EventKind::Started => (":rocket:", "deploying"),
        EventKind::Succeeded => (":white_check_mark:", "deployed"),
        EventKind::Failed => (":x:", "deploy failed"),
        EventKind::RolledBack => (":rewind:", "deploy failed and rolled back"),
        EventKind::Drift => (":warning:", "drift from Git"),
        EventKind::AwaitingApproval => (":raised_hand:", "awaiting approval"),
    };
    let mut text = format!("{icon} *{}* {what}", escape(&event.environment));
    if let Some(commit) = &event.commit {
        text.push_str(&format!(" `{}`", &commit[..commit.len().min(7)]));
    }
    if !event.summary.is_empty() {
        text.push_str(&format!(": {}", escape(&event.summary)));
    }
    for pr in &event.pull_requests {
        text.push_str(&format!(" #{pr}"));
    }
    for s in &event.services {
        text.push_str(&format!("\n• *{}*", escape(&s.name)));
        if let Some(outcome) = &s.outcome {
            text.push_str(&format!(" {}", escape(outcome)));
        }
        if let Some(image) = &s.image {
            text.push_str(&format!(" `{}`", escape(image)));
        }
        if let Some(reason) = &s.reason {
            text.push_str(&format!(" — {}", escape(first_line(reason))));
        }
    }
    text
}

/// An incoming webhook's body.
pub fn slack_webhook_body(event: &Event) -> Vec<u8> {
    body(json!({ "text": slack_text(event) }))
}

/// `chat.postMessage` (no `ts`) or `chat.update` (with the first message's `ts`).
pub fn slack_bot_body(event: &Event, channel: &str, ts: Option<&str>) -> Vec<u8> {
    let mut document = json!({ "channel": channel, "text": slack_text(event) });
    if let Some(ts) = ts {
        document["ts"] = Value::String(ts.to_string());
    }
    body(document)
}

fn body(document: Value) -> Vec<u8> {
    serde_json::to_vec(&document).expect("a JSON value serializes")
}

/// Slack's three control characters in text (https://api.slack.com/reference/surfaces/formatting#escaping).
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::ServiceLine;

    fn event(kind: EventKind) -> Event {
        Event {
            kind,
            run_id: "staging-apply-3e1a9d7-20261202T060000Z".into(),
            environment: "staging".into(),
            commit: Some("3e1a9d7c5b2f4e6a8c0b1d3f5e7a9c2b4d6f8e0a".into()),
            summary: "1 service failed".into(),
            services: vec![ServiceLine {
                name: "api".into(),
                outcome: Some("failed".into()),
                image: Some("api@sha256:ab12".into()),
                reason: Some("task stopped: Essential container <app> exited\nmore".into()),
                rolled_back: true,
            }],
            pull_requests: vec![12],
            at: chrono::DateTime::parse_from_rfc3339("2026-12-02T06:00:00Z")
                .unwrap()
                .into(),
        }
    }

    #[test]
    fn the_webhook_body_carries_the_run_id_and_every_field() {
        let body: Value =
            serde_json::from_slice(&webhook_body(&event(EventKind::RolledBack))).expect("JSON");
        assert_eq!(body["run_id"], "staging-apply-3e1a9d7-20261202T060000Z");
        assert_eq!(body["event"], "rolled_back");
        assert_eq!(body["environment"], "staging");
        assert_eq!(body["services"][0]["rolled_back"], true);
        assert_eq!(body["pull_requests"], json!([12]));
        assert_eq!(body["at"], "2026-12-02T06:00:00Z");
    }

    #[test]
    fn the_signature_is_githubs_shape_of_hmac_sha256() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn slack_text_escapes_and_keeps_the_first_line_of_a_reason() {
        let text = slack_text(&event(EventKind::Failed));
        assert!(text.starts_with(":x: *staging* deploy failed `3e1a9d7`: 1 service failed #12"));
        assert!(
            text.contains("Essential container &lt;app&gt; exited"),
            "{text}"
        );
        assert!(!text.contains("more"), "{text}");
    }

    #[test]
    fn a_bot_update_names_the_message_it_replaces() {
        let body: Value = serde_json::from_slice(&slack_bot_body(
            &event(EventKind::Started),
            "C1",
            Some("1.2"),
        ))
        .unwrap();
        assert_eq!(
            (body["channel"].as_str(), body["ts"].as_str()),
            (Some("C1"), Some("1.2"))
        );
        let first: Value =
            serde_json::from_slice(&slack_bot_body(&event(EventKind::Started), "C1", None))
                .unwrap();
        assert!(first.get("ts").is_none());
    }
}
