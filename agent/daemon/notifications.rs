//! The agent's notifications (`notify:`): the events of a delivery (started; succeeded, failed
//! or rolled back), drift found and a promotion awaiting approval, each turned into a
//! [`notify::Event`] and queued — never awaited, never failing anything. Secrets are read here,
//! on the agent's runtime, through the environment's own AWS access (SSM) or the process's
//! environment; the delivery thread only sends.

use super::*;
use crate::config::EventKind;
use crate::notify::{self, Event, Notifier, ServiceLine};

/// How long an ending agent waits for its queued notifications.
const NOTIFY_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Secrets through the environment's `Cloud` (SSM GetParameter) and the agent's environment.
struct Secrets(Cloud);

#[async_trait::async_trait]
impl notify::SecretReader for Secrets {
    async fn parameter(&self, name: &str) -> Result<crate::secret::Secret, String> {
        self.0
            .ssm
            .secure_value(name)
            .await
            .map_err(|e| e.to_string())
    }

    fn variable(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Agent {
    /// The notifier, started on first use unless one was set.
    pub fn notifier(&self) -> &Arc<Notifier> {
        self.notifier.get_or_init(|| Arc::new(Notifier::default()))
    }

    /// Use this notifier (tests: a short retry base, a local Slack API).
    pub fn set_notifier(&mut self, notifier: Arc<Notifier>) {
        self.notifier = std::sync::OnceLock::from(notifier);
    }

    /// Before exiting: wait (at most [`NOTIFY_GRACE`]) for queued notifications to go out.
    pub fn drain_notifications(&self) {
        if let Some(notifier) = self.notifier.get()
            && !notifier.wait_idle(NOTIFY_GRACE)
        {
            tracing::warn!("exiting with notifications not yet delivered");
        }
    }

    /// Queue `event` for the targets of `env` that want it.
    pub(super) async fn notify(&self, env: &Environment, event: Event) {
        if env.notify.is_empty() {
            return;
        }
        let secrets = Secrets(self.cloud_for(env).await);
        let targets = notify::resolve(env, event.kind, &secrets).await;
        self.notifier().send(targets, event);
    }

    pub(super) fn event(&self, kind: EventKind, env: &str, run: &str) -> Event {
        Event {
            kind,
            run_id: run.to_string(),
            environment: env.to_string(),
            commit: None,
            summary: String::new(),
            services: Vec::new(),
            pull_requests: Vec::new(),
            at: self.clock.now(),
        }
    }

    /// A delivery begins: its services and the images they get.
    pub(super) async fn notify_started(&self, d: &Delivery<'_>) {
        let mut event = self.event(EventKind::Started, &d.env.name, d.run);
        event.commit = Some(d.commit.to_string());
        event.pull_requests = d.pull_requests.to_vec();
        event.summary = format!("{} service(s)", d.plan.services.len());
        event.services = d
            .plan
            .services
            .iter()
            .map(|s| ServiceLine {
                name: s.name.clone(),
                image: d.images.get(&s.name).cloned(),
                ..ServiceLine::default()
            })
            .collect();
        self.notify(d.env, event).await;
    }

    /// A delivery ended: succeeded, or failed — `rolled_back` when the agent put any service
    /// back to what ran before.
    pub(super) async fn notify_finished(
        &self,
        d: &Delivery<'_>,
        report: &EnvReport,
        summary: &str,
    ) {
        let kind = match report.outcome {
            Outcome::Succeeded => EventKind::Succeeded,
            Outcome::Failed if report.deploys.iter().any(|r| r.rolled_back) => {
                EventKind::RolledBack
            }
            Outcome::Failed => EventKind::Failed,
        };
        let mut event = self.event(kind, &d.env.name, d.run);
        event.commit = Some(d.commit.to_string());
        event.pull_requests = d.pull_requests.to_vec();
        event.summary = summary.to_string();
        event.services = report
            .deploys
            .iter()
            .map(|r| ServiceLine {
                name: r.service.clone(),
                outcome: Some(
                    match r.outcome {
                        Outcome::Succeeded => "succeeded",
                        Outcome::Failed => "failed",
                    }
                    .into(),
                ),
                image: Some(r.image.clone()).filter(|i| !i.is_empty()),
                reason: r.reason.clone(),
                rolled_back: r.rolled_back,
            })
            .collect();
        self.notify(d.env, event).await;
    }
}
