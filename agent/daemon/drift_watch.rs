//! Drift: on a look that changed nothing, at most every `drift_interval`, each applied environment's services are compared
//! with what runs (`crate::drift`), against the spec at the commit last applied there. A new
//! drift (another tool's deploy, a console edit, a manual scale) is said once — a warning in
//! the log, `amagent_drift{env,service,field}`, and a failing `amagent/<env>/drift` commit
//! status on that commit — and said again only when it changes; its end is said too. With
//! `selfHeal: true` the environment's drifted services are deployed from Git again through
//! the same gate. Pinned services are neither reported nor healed: a rollback put them there.

use super::*;
use crate::drift::observe::{ServiceDrift, observe};
use crate::state::journal::pins::pins;

impl Agent {
    /// Looks for drift when the interval has passed since the last look.
    pub(super) async fn watch_drift(&mut self, records: &[Record]) {
        let Some(interval) = self.drift_interval else {
            return;
        };
        let now = tokio::time::Instant::now();
        if self
            .drift_looked
            .is_some_and(|t| now.duration_since(t) < interval)
        {
            return;
        }
        self.drift_looked = Some(now);
        let pinned = pins(records);
        for (env_name, applied) in applied::last_applied(records) {
            let repo = self.repo.as_ref().expect("fetched");
            let Some(env) = repo
                .model_at(&applied.commit)
                .ok()
                .and_then(|m| m.environments.get(&env_name).cloned())
            else {
                continue;
            };
            let specs: Vec<&crate::config::Service> = env
                .services
                .iter()
                .filter(|s| !pinned.contains_key(&(env_name.clone(), s.name.clone())))
                .filter(|s| !last_deploy_failed(records, &env_name, &s.name))
                .collect();
            let cloud = self.cloud_for(&env).await;
            let found = match observe(&cloud, Default::default(), &env, &specs).await {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!(env = %env_name, error = %e, "cannot look for drift");
                    continue;
                }
            };
            let drifted = self.tell_drift(&env, &applied.commit, &found).await;
            if env.self_heal && !drifted.is_empty() {
                let drifted: Vec<&ServiceDrift> = found
                    .iter()
                    .filter(|d| drifted.contains(&d.service))
                    .collect();
                self.heal(&env, &applied.commit, &drifted).await;
            }
        }
    }

    /// Says what changed since the last look; returns the services drifting now.
    async fn tell_drift(
        &mut self,
        environment: &crate::config::Environment,
        commit: &str,
        found: &[ServiceDrift],
    ) -> Vec<String> {
        let env = environment.name.as_str();
        let mut drifting = Vec::new();
        let mut news = Vec::new();
        for d in found.iter().filter(|d| d.error.is_none()) {
            let key = (env.to_string(), d.service.clone());
            let fields: Vec<String> = d.diffs.iter().map(|f| f.field.clone()).collect();
            let said = describe(&d.service, &d.diffs);
            if !d.diffs.is_empty() {
                drifting.push(d.service.clone());
            }
            let before = self.drift_said.get(&key).cloned().unwrap_or_default();
            if before.0 == said {
                continue;
            }
            self.metrics.drift(env, &d.service, &before.1, &fields);
            let context = format!("{env}/drift");
            if d.diffs.is_empty() {
                tracing::info!(env, service = %d.service, "no drift: runs what Git says again");
                self.status(
                    &[commit.to_string()],
                    &context,
                    Status::Success,
                    "runs what Git says",
                )
                .await;
            } else {
                tracing::warn!(env, service = %d.service, drift = %said, "drift: what runs is not what Git says");
                self.status(&[commit.to_string()], &context, Status::Failure, &said)
                    .await;
                news.push(crate::notify::ServiceLine {
                    name: d.service.clone(),
                    outcome: Some("drifted".into()),
                    reason: Some(said.clone()),
                    ..Default::default()
                });
            }
            self.drift_said.insert(key, (said, fields));
        }
        if !news.is_empty() {
            let run = format!("{env}-drift-{}", &commit[..7.min(commit.len())]);
            let mut event = self.event(crate::config::EventKind::Drift, env, &run);
            event.commit = Some(commit.to_string());
            event.summary = format!("{} service(s) differ from Git", news.len());
            event.services = news;
            self.notify(environment, event).await;
        }
        drifting
    }

    /// Deploys the drifted services from Git again (image digest and settings of the applied
    /// commit), through the gate.
    async fn heal(
        &mut self,
        env: &crate::config::Environment,
        commit: &str,
        drifted: &[&ServiceDrift],
    ) {
        let cloud = self.cloud_for(env).await;
        let mut plan: Option<crate::plan::EnvironmentPlan> = None;
        let mut images = BTreeMap::new();
        for d in drifted {
            let Some(spec) = env.service(&d.service) else {
                continue;
            };
            let one = crate::plan::manual_deploy(env, spec, &spec.source.reference);
            match &mut plan {
                Some(p) => p.services.extend(one.services),
                None => plan = Some(one),
            }
            // The image Git says, when another one runs (else the running one is kept).
            if let Some(digest) = d
                .diffs
                .iter()
                .find(|f| f.field == "image")
                .and_then(|f| f.git.as_deref())
                .filter(|g| g.starts_with("sha256:"))
            {
                let image = format!(
                    "{}/{}@{digest}",
                    cloud.ecr.registry_host(),
                    spec.image.repository
                );
                images.insert(spec.name.clone(), image);
            }
        }
        let Some(plan) = plan else { return };
        let services: Vec<&str> = drifted.iter().map(|d| d.service.as_str()).collect();
        tracing::warn!(env = %env.name, ?services, "self-heal: deploying Git's state again");
        let ctx = Context::new(&cloud, &self.clock, &*self.journal, &*self.progress);
        let run = EnvRun {
            env,
            plan: &plan,
            images,
            commit: Some(commit.to_string()),
            lifecycle_dry_run: false,
            resume_since: None,
        };
        let report = executor::execute(&ctx, run).await;
        for d in &report.deploys {
            self.metrics.deployed(&env.name, d);
        }
        // Look again at the next poll: the heal's outcome shows there.
        self.drift_looked = None;
    }
}

/// Whether the agent's own last deploy of the service failed: what runs then is the revision
/// it rolled back to (or left), its recorded decision, not drift.
fn last_deploy_failed(records: &[Record], env: &str, service: &str) -> bool {
    records
        .iter()
        .rev()
        .find(|r| {
            r.env == env
                && r.service.as_deref() == Some(service)
                && r.step == "deploy"
                && r.phase == Phase::Finished
        })
        .is_some_and(|r| r.outcome.as_deref() == Some("failed"))
}

/// `api: cpu 256 → 1024 (running), desiredCount 1 → 3 (running)` — what Git says, then what
/// runs; at most 140 characters (GitHub's limit for a status description).
fn describe(service: &str, diffs: &[crate::drift::FieldDiff]) -> String {
    if diffs.is_empty() {
        return String::new();
    }
    let none = || "none".to_string();
    let parts: Vec<String> = diffs
        .iter()
        .map(|f| {
            let git = f.git.clone().unwrap_or_else(none);
            let running = f.running.clone().unwrap_or_else(none);
            format!("{} {git} → {running} (running)", f.field)
        })
        .collect();
    let text = format!("{service}: {}", parts.join(", "));
    match text.char_indices().nth(139) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}
