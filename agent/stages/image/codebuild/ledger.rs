//! Where a CodeBuild build is remembered: its id goes to the journal once StartBuild returns
//! it, so an agent that dies mid-build and starts again follows the same build instead of
//! starting another; its end goes there too, so nobody attaches to it again.

use crate::state::journal::{Journal, JournalError, Phase, Record};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// The journal step of a CodeBuild build.
pub const STEP: &str = "build";

/// What a build builds: the same key is the same image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildKey {
    pub project: String,
    pub repository: String,
    pub commit: String,
    /// The source bundle's key (content-addressed: it covers the pipeline's context too).
    pub source_key: String,
}

impl BuildKey {
    fn matches(&self, detail: &serde_json::Value) -> bool {
        let field = |name: &str| detail.get(name).and_then(|v| v.as_str());
        field("project") == Some(&self.project)
            && field("repository") == Some(&self.repository)
            && field("commit") == Some(&self.commit)
    }
}

/// StartBuild's idempotency token: the whole request (project, source, buildspec, environment,
/// variables) and the attempt. A StartBuild retried, or re-sent by an agent that died before
/// journalling the id, within CodeBuild's 5 minutes gets the same build; another request
/// (other tags, another environment's settings) or a new attempt after a failure gets its own.
pub fn token(request: &crate::cloud::types::StartBuild, attempt: usize) -> String {
    let mut hash = Sha256::new();
    for part in [
        &request.project,
        &request.source_location,
        &request.buildspec,
        &request.environment_type,
        &request.image,
        &request.compute_type,
    ] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    for (k, v) in &request.environment {
        hash.update(format!("{k}={v}").as_bytes());
        hash.update([0]);
    }
    hash.update(format!("{}:{attempt}", request.timeout_minutes).as_bytes());
    hex::encode(&hash.finalize()[..16])
}

/// The build of `key` started and never recorded finished, newest first.
pub fn unfinished(records: &[Record], key: &BuildKey) -> Option<String> {
    let id_of = |r: &Record| r.detail.get("build_id")?.as_str().map(String::from);
    let ended: Vec<String> = records
        .iter()
        .filter(|r| r.step == STEP && r.phase == Phase::Finished)
        .filter_map(id_of)
        .collect();
    records
        .iter()
        .rev()
        .filter(|r| r.step == STEP && r.phase == Phase::Started && key.matches(&r.detail))
        .filter_map(id_of)
        .find(|id| !ended.contains(id))
}

/// How many builds of `key` were started before (the next attempt's number).
pub fn attempts(records: &[Record], key: &BuildKey) -> usize {
    records
        .iter()
        .filter(|r| r.step == STEP && r.phase == Phase::Started && key.matches(&r.detail))
        .count()
}

/// Who a CodeBuild build reports to.
#[async_trait]
pub trait BuildLedger: Send + Sync {
    /// Every build record this ledger keeps (empty when it keeps none).
    async fn records(&self) -> Vec<Record>;
    /// `build_id` started for `key`: after this returns, a restarted agent finds it.
    async fn started(&self, key: &BuildKey, build_id: &str) -> Result<(), JournalError>;
    /// `build_id` ended (`succeeded`, `failed`, `stopped`).
    async fn finished(&self, build_id: &str, outcome: &str);
    /// A phase began or the build ended: a line for people watching.
    fn phase(&self, text: &str);
    /// `build_id` is followed from now on (started here, or by an earlier agent).
    fn following(&self, _build_id: &str) {}
    /// `build_id` is no longer followed, ended or not (its journal record stays as it is).
    fn forget(&self, _build_id: &str) {}
}

/// A ledger in the journal, for one service of one run.
pub struct JournalLedger<'a> {
    pub journal: &'a dyn Journal,
    pub env: &'a str,
    pub run: &'a str,
    pub service: &'a str,
    pub progress: &'a dyn crate::stages::deploy::progress::Progress,
    pub now: &'a (dyn Fn() -> DateTime<Utc> + Send + Sync),
}

impl JournalLedger<'_> {
    fn record(&self, phase: Phase, outcome: Option<&str>, detail: serde_json::Value) -> Record {
        Record {
            at: (self.now)(),
            run: self.run.to_string(),
            env: self.env.to_string(),
            service: Some(self.service.to_string()),
            step: STEP.to_string(),
            phase,
            outcome: outcome.map(String::from),
            detail,
        }
    }
}

#[async_trait]
impl BuildLedger for JournalLedger<'_> {
    async fn records(&self) -> Vec<Record> {
        match self.journal.read(Some(self.env)).await {
            Ok(records) => records.into_iter().filter(|r| r.step == STEP).collect(),
            Err(e) => {
                // Unreadable: start a build rather than none (it is found by its ECR tag
                // next time anyway).
                tracing::warn!(error = %e, "cannot read the journal for earlier builds");
                Vec::new()
            }
        }
    }

    async fn started(&self, key: &BuildKey, build_id: &str) -> Result<(), JournalError> {
        let detail = serde_json::json!({
            "build_id": build_id,
            "project": key.project,
            "repository": key.repository,
            "commit": key.commit,
            "source_key": key.source_key,
        });
        self.journal
            .append(&self.record(Phase::Started, None, detail))
            .await
    }

    async fn finished(&self, build_id: &str, outcome: &str) {
        let detail = serde_json::json!({ "build_id": build_id });
        let record = self.record(Phase::Finished, Some(outcome), detail);
        if let Err(e) = self.journal.append(&record).await {
            tracing::warn!(error = %e, build_id, "cannot journal the end of a build");
        }
    }

    fn phase(&self, text: &str) {
        self.progress.step(self.env, self.service, text);
    }
}

/// No journal (`amagent build`): builds are not re-attached; phases go to the log.
pub struct NoLedger;

#[async_trait]
impl BuildLedger for NoLedger {
    async fn records(&self) -> Vec<Record> {
        Vec::new()
    }
    async fn started(&self, _key: &BuildKey, _build_id: &str) -> Result<(), JournalError> {
        Ok(())
    }
    async fn finished(&self, _build_id: &str, _outcome: &str) {}
    fn phase(&self, text: &str) {
        tracing::info!("{text}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> BuildKey {
        BuildKey {
            project: "builds".into(),
            repository: "api".into(),
            commit: "c0ffee".into(),
            source_key: "amagent/sources/ab.zip".into(),
        }
    }

    fn record(phase: Phase, detail: serde_json::Value) -> Record {
        Record {
            at: chrono::DateTime::UNIX_EPOCH,
            run: "staging-apply-1".into(),
            env: "staging".into(),
            service: Some("api".into()),
            step: STEP.into(),
            phase,
            outcome: (phase == Phase::Finished).then(|| "failed".into()),
            detail,
        }
    }

    fn started(id: &str, commit: &str) -> Record {
        record(
            Phase::Started,
            serde_json::json!({"build_id": id, "project": "builds", "repository": "api", "commit": commit}),
        )
    }

    #[test]
    fn a_started_build_without_an_end_is_followed_again() {
        let records = vec![started("builds:1", "c0ffee")];
        assert_eq!(unfinished(&records, &key()).as_deref(), Some("builds:1"));
    }

    #[test]
    fn an_ended_build_or_another_commit_is_not() {
        let ended = vec![
            started("builds:1", "c0ffee"),
            record(Phase::Finished, serde_json::json!({"build_id": "builds:1"})),
            started("builds:2", "decade"),
        ];
        assert_eq!(unfinished(&ended, &key()), None);
        assert_eq!(attempts(&ended, &key()), 1);
    }

    #[test]
    fn a_new_attempt_or_another_request_gets_a_new_token_and_a_retry_the_same() {
        let request = crate::cloud::types::StartBuild {
            project: "builds".into(),
            source_location: "b/amagent/sources/ab.zip".into(),
            buildspec: "version: 0.2".into(),
            environment_type: "LINUX_CONTAINER".into(),
            image: "img".into(),
            compute_type: "BUILD_GENERAL1_SMALL".into(),
            privileged: true,
            environment: vec![("AMAGENT_IMAGE_TAGS".into(), "c0ffee v1.4.0".into())],
            timeout_minutes: 60,
            idempotency_token: String::new(),
        };
        assert_eq!(token(&request, 0), token(&request.clone(), 0));
        assert_ne!(token(&request, 0), token(&request, 1));
        let mut other_tags = request.clone();
        other_tags.environment[0].1 = "c0ffee main".into();
        assert_ne!(token(&request, 0), token(&other_tags, 0));
        assert_eq!(token(&request, 0).len(), 32);
    }
}
