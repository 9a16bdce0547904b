//! The model of an environment's `github:` (GitHub Deployments) and `notify:` (Slack and
//! generic webhooks) blocks. Secrets are never written here: a [`SecretFrom`] names the SSM
//! parameter or environment variable that holds one (validated in `validate/notify.rs`).

use serde::{Deserialize, Serialize};

/// `github:` of an environment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitHubSettings {
    #[serde(default)]
    pub deployment: DeploymentSettings,
}

/// `github.deployment`: how each apply shows in GitHub's environments (Deployments API).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentSettings {
    /// Off: no deployments are created for this environment.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// GitHub's `production_environment`. Default: true when the environment receives
    /// promotions (`promotion:`), else false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production: Option<bool>,
    /// GitHub's `transient_environment`: an environment that goes away (a preview).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub transient: bool,
    /// Where the environment is reached (`environment_url` of each status), e.g.
    /// `https://staging.shop.example.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl Default for DeploymentSettings {
    fn default() -> Self {
        DeploymentSettings {
            enabled: true,
            production: None,
            transient: false,
            url: None,
        }
    }
}

fn yes() -> bool {
    true
}

/// A secret's source: exactly one of an SSM parameter (a SecureString, read with decryption)
/// or an environment variable of the agent's process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretFrom {
    /// An SSM parameter name, e.g. `/aussie-markets/slack-webhook`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssm: Option<String>,
    /// An environment variable of the agent, e.g. `AMAGENT_SLACK_WEBHOOK`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
}

/// One `notify:` target: exactly one of `slack` or `webhook`, and the events it gets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotifyTarget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<SlackTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookTarget>,
    /// The events sent; empty or absent: all of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventKind>,
}

impl NotifyTarget {
    pub fn wants(&self, kind: EventKind) -> bool {
        self.events.is_empty() || self.events.contains(&kind)
    }
}

/// Slack: an incoming webhook (one message per event), or a bot token and a channel (one
/// message per run, updated in place with `chat.update`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SlackTarget {
    /// The incoming webhook's URL — a secret (the URL is the credential).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<SecretFrom>,
    /// A bot token (`xoxb-…`, scope `chat:write`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_token: Option<SecretFrom>,
    /// The channel the bot posts in (`C0123456789` or `#deploys`), with `botToken`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// A generic JSON webhook, signed `X-Amagent-Signature-256: sha256=<hex HMAC-SHA256>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookTarget {
    /// Where to POST (no credentials in it: sign with `secret`).
    pub url: String,
    /// The signing secret. Without it the request is not signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretFrom>,
}

/// What a notification is about.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Started,
    Succeeded,
    Failed,
    RolledBack,
    Drift,
    AwaitingApproval,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Started => "started",
            EventKind::Succeeded => "succeeded",
            EventKind::Failed => "failed",
            EventKind::RolledBack => "rolled_back",
            EventKind::Drift => "drift",
            EventKind::AwaitingApproval => "awaiting_approval",
        }
    }
}
