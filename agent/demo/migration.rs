//! Act 5 of `amagent demo`: a release that needs a database migration. PR #4 moves staging's
//! api to v2.2.0 and gives it `preDeploy: {command: [npm, run, migrate]}`: the agent registers
//! the new revision, runs the migration as a one-off task of it (RunTask, placed like the
//! service), and only after it exits 0 updates the service, gated as ever.

use super::{Act, Demo, DemoError, WorkTree, act_failed, only, say, short};
use crate::cloud::sim::OneOffRule;
use crate::stages::deploy::Outcome;
use crate::state::journal::Phase;

/// The release whose deploy carries the migration.
pub(super) const RELEASE: &str = "v2.2.0";

/// The simulator's migration: exits 0 after 40 s, logging what it applied.
pub(super) fn rule() -> OneOffRule {
    OneOffRule::new("migrate").run_seconds(40).log_lines(&[
        "> api@2.2.0 migrate",
        "applying 0042_orders_add_settlement_date.sql",
        "applying 0043_orders_settlement_date_index.sql",
        "2 migrations applied",
    ])
}

/// The merge of PR #4: staging's api at `RELEASE`, with a pre-deploy migration.
fn merge(envs: &WorkTree) -> Result<String, DemoError> {
    let path = "environments/staging.yaml";
    let text = std::fs::read_to_string(envs.dir.join(path))?;
    let mut out = String::new();
    for line in text.lines() {
        let indent = &line[..line.len() - line.trim_start().len()];
        if line.trim_start().starts_with("ref: ") {
            out.push_str(&format!("{indent}ref: {RELEASE}\n"));
        } else if line.trim_start().starts_with("loadBalancer:") {
            // A service field: the migration runs before every deploy of the api.
            out.push_str(&format!(
                "{indent}preDeploy:\n{indent}  command: [npm, run, migrate]\n{indent}  timeoutSeconds: 600\n{line}\n"
            ));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    envs.write(path, &out)?;
    envs.commit(&format!(
        "Merge pull request #4 from aussie-markets/api-{RELEASE}\n\nDeploy api {RELEASE} to staging, migrating the database first"
    ))
}

impl Demo {
    /// Act 5: the migration passes, then the API deploys.
    pub(super) async fn act5(&mut self) -> Result<Act, DemoError> {
        say(&format!(
            "\n━━ Act 5 — PR #4: api {RELEASE} with a database migration run before the deploy ━━"
        ));
        merge(&self.envs)?;
        let tick = self.agent.tick().await?;
        let staging = only(&tick, "staging", 5)?;
        let deploy = staging.deploys.first().cloned();
        let pre = deploy.as_ref().and_then(|d| d.pre_deploy.clone());
        if staging.outcome != Outcome::Succeeded || !pre.as_ref().is_some_and(|p| p.verdict.passed)
        {
            return Err(act_failed(
                5,
                "the migration or the deploy after it failed",
                &tick,
            ));
        }
        let migrated_first = self.migrated_before_update(&staging.run).await;
        let pre = pre.expect("checked above");
        let deployed = deploy.and_then(|d| d.task_definition);
        Ok(Act {
            act: 5,
            title: "a migration runs as a one-off task before the API deploys".into(),
            outcome: format!(
                "migration on {} exited 0 in {:.0} s, then {} deployed and verified",
                short(Some(&pre.task_definition)),
                pre.seconds,
                short(deployed.as_deref())
            ),
            facts: serde_json::json!({
                "pre_deploy_task_definition": pre.task_definition,
                "exit_code": pre.verdict.exit_code,
                "log_tail": pre.log_tail,
                "task_definition": deployed,
                "migrated_before_update": migrated_first,
            }),
        })
    }

    /// Whether the journal has the migration finishing before UpdateService started, in `run`.
    async fn migrated_before_update(&self, run: &str) -> bool {
        let Ok(records) = self.journal.read(Some("staging")).await else {
            return false;
        };
        let at = |step: &str, phase: Phase| {
            records
                .iter()
                .position(|r| r.run == run && r.step == step && r.phase == phase)
        };
        match (
            at("pre-deploy", Phase::Finished),
            at("update-service", Phase::Started),
        ) {
            (Some(migrated), Some(updated)) => migrated < updated,
            _ => false,
        }
    }
}
