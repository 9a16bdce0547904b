//! Notifications (`notify:` of an environment): Slack and generic JSON webhooks told how runs
//! go — started, succeeded, failed, rolled back, drift, awaiting approval.
//!
//! The port is [`Notifier::send`]: it never blocks and never fails. Deliveries run on a thread
//! of their own with a real-time runtime (the agent's may run on the simulator's paused clock),
//! one after another in order, each retried with backoff (`deliver.rs`); what could not be
//! delivered is logged and dropped. `message.rs` turns an event into each target's payload
//! (pure). Secrets (a Slack webhook URL is one, a bot token, a signing secret) are read by the
//! caller through a [`SecretReader`] just before sending and never logged.
//!
//! Must not know: the deploy engine, GitHub.

pub mod deliver;
pub mod message;

use crate::config::notify::{NotifyTarget, SecretFrom};
use crate::config::{Environment, EventKind};
use crate::secret::Secret;
use serde::Serialize;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// What happened, for every target.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    pub kind: EventKind,
    /// Stable across a run's events (the agent's run id), so a receiver can update one message.
    pub run_id: String,
    pub environment: String,
    pub commit: Option<String>,
    pub summary: String,
    pub services: Vec<ServiceLine>,
    pub pull_requests: Vec<u64>,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// One service in an event.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ServiceLine {
    pub name: String,
    /// `succeeded`, `failed`, `drifted`… (None while deploying).
    pub outcome: Option<String>,
    pub image: Option<String>,
    pub reason: Option<String>,
    pub rolled_back: bool,
}

/// A target with its secrets read.
pub struct Resolved {
    /// How logs name it: `<env> notify[<i>] (slack|webhook)` — never its URL.
    pub label: String,
    pub destination: Destination,
}

pub enum Destination {
    SlackWebhook { url: Secret },
    SlackBot { token: Secret, channel: String },
    Webhook { url: String, secret: Option<Secret> },
}

/// Reads the secrets a target names.
#[async_trait::async_trait]
pub trait SecretReader: Send + Sync {
    /// An SSM parameter's value (decrypted). The error never holds the value.
    async fn parameter(&self, name: &str) -> Result<Secret, String>;
    /// An environment variable of the agent.
    fn variable(&self, name: &str) -> Option<String>;
}

/// The targets of `env` that want `kind`, with their secrets read. A target whose secret cannot
/// be read is left out (logged, naming the field and where the secret should be).
pub async fn resolve(
    env: &Environment,
    kind: EventKind,
    secrets: &dyn SecretReader,
) -> Vec<Resolved> {
    let mut out = Vec::new();
    for (i, target) in env.notify.iter().enumerate().filter(|(_, t)| t.wants(kind)) {
        let kind_name = if target.slack.is_some() {
            "slack"
        } else {
            "webhook"
        };
        let label = format!("{} notify[{i}] ({kind_name})", env.name);
        match destination(target, secrets).await {
            Ok(destination) => out.push(Resolved { label, destination }),
            Err(e) => {
                tracing::warn!(to = %label, error = %e, "cannot notify: its secret is not readable")
            }
        }
    }
    out
}

async fn destination(t: &NotifyTarget, secrets: &dyn SecretReader) -> Result<Destination, String> {
    if let Some(hook) = &t.webhook {
        let secret = match &hook.secret {
            Some(from) => Some(read(from, secrets).await?),
            None => None,
        };
        return Ok(Destination::Webhook {
            url: hook.url.clone(),
            secret,
        });
    }
    let slack = t.slack.as_ref().ok_or("no target")?;
    match (&slack.webhook_url, &slack.bot_token, &slack.channel) {
        (Some(url), _, _) => Ok(Destination::SlackWebhook {
            url: read(url, secrets).await?,
        }),
        (None, Some(token), Some(channel)) => Ok(Destination::SlackBot {
            token: read(token, secrets).await?,
            channel: channel.clone(),
        }),
        _ => Err("neither `webhookUrl` nor `botToken` with `channel`".into()),
    }
}

async fn read(from: &SecretFrom, secrets: &dyn SecretReader) -> Result<Secret, String> {
    match (&from.ssm, &from.env) {
        (Some(name), _) => secrets
            .parameter(name)
            .await
            .map_err(|e| format!("SSM parameter {name}: {e}")),
        (None, Some(var)) => match secrets.variable(var) {
            Some(value) if !value.is_empty() => Ok(Secret::new(value)),
            _ => Err(format!("environment variable {var} is not set")),
        },
        (None, None) => Err("names no secret".into()),
    }
}

struct Job {
    targets: Vec<Resolved>,
    event: Event,
}

/// Queues notifications for the delivery thread. Cheap to share (`Arc`).
pub struct Notifier {
    queue: tokio::sync::mpsc::UnboundedSender<Job>,
    /// Jobs queued and not yet done, with a condvar to wait on.
    pending: Arc<(Mutex<usize>, Condvar)>,
}

impl Notifier {
    /// Start the delivery thread: retries start at `retry_base`; Slack's Web API at `slack_api`
    /// (`https://slack.com/api`; tests point it at a local receiver).
    pub fn start(retry_base: Duration, slack_api: &str) -> Notifier {
        let (queue, mut jobs) = tokio::sync::mpsc::unbounded_channel::<Job>();
        let pending = Arc::new((Mutex::new(0usize), Condvar::new()));
        let done = pending.clone();
        let mut sender = deliver::Sender::new(retry_base, slack_api.to_string());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for notifications");
        std::thread::Builder::new()
            .name("amagent-notify".into())
            .spawn(move || {
                runtime.block_on(async move {
                    // Ends when the last Notifier is dropped.
                    while let Some(job) = jobs.recv().await {
                        for target in &job.targets {
                            if let Err(e) = sender.send(target, &job.event).await {
                                tracing::warn!(to = %target.label, event = job.event.kind.as_str(), error = %e, "notification not delivered");
                            }
                        }
                        let (count, idle) = &*done;
                        *count.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
                        idle.notify_all();
                    }
                })
            })
            .expect("a thread for notifications");
        Notifier { queue, pending }
    }

    /// Queue `event` for `targets`; returns at once.
    pub fn send(&self, targets: Vec<Resolved>, event: Event) {
        if targets.is_empty() {
            return;
        }
        *self.pending.0.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        if self.queue.send(Job { targets, event }).is_err() {
            *self.pending.0.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
        }
    }

    /// Block until everything queued was delivered or given up, at most `within`; whether it
    /// was (before exiting, so the last notifications are not lost).
    pub fn wait_idle(&self, within: Duration) -> bool {
        let (count, idle) = &*self.pending;
        let guard = count.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) = idle
            .wait_timeout_while(guard, within, |n| *n > 0)
            .unwrap_or_else(|p| p.into_inner());
        *guard == 0
    }
}

impl Default for Notifier {
    fn default() -> Self {
        Notifier::start(deliver::RETRY_BASE, "https://slack.com/api")
    }
}

#[cfg(test)]
mod tests;
