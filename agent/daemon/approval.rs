//! Production approval (`promotion.approval`): a tag that would promote waits until an
//! approver says yes. The agent asks once per (environment, tag) — a comment on the pull
//! requests the promotion carries and a pending status on the tagged commit — and journals
//! that it asked; `/amagent approve|reject` on one of those pull requests (checked against the
//! approvers through GitHub) or `amagent approve` journals the decision, which the next look
//! acts on. Decisions are per tag and survive restarts (`journal::approvals`).

use super::{Agent, AgentError};
use crate::config::Environment;
use crate::repo::SemverTag;
use crate::report::Status;
use crate::state::journal::Record;
use crate::state::journal::approvals::{self, Decision, Via};

/// The hidden marker of the approval comment.
pub const MARKER: &str = "<!-- amagent:approval -->";

impl Agent {
    /// True while `tag` waits for approval to promote to `env` (asked once); a rejection
    /// refuses the tag. The pull requests of `landed` are looked up only to ask, not at every
    /// look while waiting.
    pub(super) async fn awaiting_approval(
        &mut self,
        env: &Environment,
        tag: &SemverTag,
        records: &[Record],
        landed: &[crate::repo::CommitInfo],
    ) -> Result<bool, AgentError> {
        let Some(approval) = env.promotion.as_ref().and_then(|p| p.approval.as_ref()) else {
            return Ok(false);
        };
        if !approval.required {
            return Ok(false);
        }
        match approvals::decision(records, &env.name, &tag.name) {
            Decision::Approved { by } => {
                tracing::info!(env = %env.name, tag = %tag.name, %by, "approved");
                Ok(false)
            }
            Decision::Rejected { by, reason } => {
                let why = format!(
                    "rejected by {by}{}",
                    reason.map(|r| format!(": {r}")).unwrap_or_default()
                );
                Err(self.refused(&env.name, tag, &why).await)
            }
            Decision::Awaiting { .. } => Ok(true),
            Decision::NotAsked => {
                let pull_requests = self.pull_requests(landed).await;
                self.ask_for_approval(env, tag, &pull_requests, &approval.approvers)
                    .await;
                Ok(true)
            }
        }
    }

    async fn ask_for_approval(
        &self,
        env: &Environment,
        tag: &SemverTag,
        pull_requests: &[u64],
        approvers: &[String],
    ) {
        let record = approvals::asked(&env.name, &tag.name, pull_requests, self.clock.now());
        if let Err(e) = self.journal.append(&record).await {
            tracing::error!(error = %e, "cannot write the journal");
        }
        let who = match approvers.is_empty() {
            true => "anyone with write access to this repository".to_string(),
            false => approvers.join(", "),
        };
        let body = format!(
            "{MARKER}\n### ⏳ **{}**: `{}` awaits approval\n\nPromoting it deploys what {} verified. An approver ({who}) comments `/amagent approve` (or `/amagent reject <why>`) here, or runs `amagent approve --env {} --tag {}`.\n",
            env.name,
            tag.name,
            env.promotion
                .as_ref()
                .map(|p| p.from.as_str())
                .unwrap_or("the source"),
            env.name,
            tag.name
        );
        for &pr in pull_requests {
            if let Err(e) = self.reporter.upsert_comment(pr, MARKER, &body).await {
                tracing::warn!(error = %e, pr, "cannot ask for approval on the pull request");
            }
        }
        let what = format!("{} awaits approval", tag.name);
        self.status(
            std::slice::from_ref(&tag.commit),
            &env.name,
            Status::Pending,
            &what,
        )
        .await;
        tracing::warn!(env = %env.name, tag = %tag.name, ?pull_requests, "promotion awaits approval");
        let run = format!("{}-approval-{}", env.name, tag.name);
        let mut event = self.event(crate::config::EventKind::AwaitingApproval, &env.name, &run);
        event.commit = Some(tag.commit.clone());
        event.pull_requests = pull_requests.to_vec();
        event.summary = format!("{what}: an approver ({who}) says /amagent approve");
        self.notify(env, event).await;
    }

    /// `/amagent approve|reject` by `author` on pull request `pr`: journal the decision for
    /// every promotion awaiting one there, if `author` may decide; answer on the pull request.
    pub async fn on_command(&mut self, pr: u64, author: &str, body: &str) {
        let Some((approve, reason)) = approvals::command(body) else {
            return;
        };
        let Ok(records) = self.all_records().await else {
            return;
        };
        let Some(model) = self
            .repo
            .as_ref()
            .and_then(|r| r.model_at(&self.settings.branch).ok())
        else {
            return;
        };
        for (env, tag) in approvals::awaiting_on(&records, pr) {
            let approvers = model
                .environments
                .get(&env)
                .and_then(|e| e.promotion.as_ref()?.approval.clone())
                .map(|a| a.approvers)
                .unwrap_or_default();
            let answer = match self.reporter.is_approver(author, &approvers).await {
                Ok(true) => {
                    let at = self.clock.now();
                    let record = approvals::decided(
                        &env,
                        &tag,
                        approve,
                        author,
                        reason.as_deref(),
                        Via::Comment(pr),
                        at,
                    );
                    if let Err(e) = self.journal.append(&record).await {
                        tracing::error!(error = %e, "cannot write the journal");
                        continue;
                    }
                    match approve {
                        true => format!(
                            "✅ **{env}**: `{tag}` approved by @{author}; it promotes at the agent's next look."
                        ),
                        false => format!(
                            "🛑 **{env}**: `{tag}` rejected by @{author}; it will not promote."
                        ),
                    }
                }
                Ok(false) => format!(
                    "⛔ **{env}**: @{author} is not an approver of `{tag}` (approvers: {}); nothing changed.",
                    if approvers.is_empty() {
                        "write access".to_string()
                    } else {
                        approvers.join(", ")
                    }
                ),
                Err(e) => format!(
                    "⚠️ **{env}**: could not check @{author} with GitHub ({e}); nothing changed — try again."
                ),
            };
            tracing::info!(env, tag, author, "{answer}");
            let marker = format!("<!-- amagent:approval-answer:{env}:{tag} -->");
            let body = format!("{marker}\n{answer}\n");
            if let Err(e) = self.reporter.upsert_comment(pr, &marker, &body).await {
                tracing::warn!(error = %e, pr, "cannot answer on the pull request");
            }
        }
    }
}
