//! `amagent status`: per service, what runs now (ECS: the service's task definition and its
//! image digest, with the digest's ECR tags) joined with what the journal knows about it
//! (the run that verified it, the environments-repo commit, since when, the last outcome, and
//! whether it is pinned after a rollback).

use crate::cloud::retry::RetryPolicy;
use crate::cloud::{Cloud, CloudError, DESCRIBE_SERVICES_BATCH};
use crate::config::Environment;
use crate::rollback::{STEP as ROLLBACK_STEP, Verified, verifications};
use crate::state::journal::pins::{Pin, pins};
use crate::state::journal::{Phase, Record};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LastOutcome {
    /// `deploy` or `rollback`.
    pub kind: String,
    pub outcome: String,
    pub at: DateTime<Utc>,
    pub run: String,
    /// A failed deploy that the agent rolled back.
    pub rolled_back: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServiceStatus {
    pub service: String,
    /// The task definition ECS runs (the service's), full ARN.
    pub task_definition: Option<String>,
    /// `family:revision`.
    pub revision: Option<String>,
    /// The service's container image (`host/repo@sha256:…`).
    pub image: Option<String>,
    pub digest: Option<String>,
    /// The digest's tags in ECR (the source commit and semver tag a build pushes).
    pub tags: Vec<String>,
    /// The agent verified the running revision (else it came from elsewhere, or failed).
    pub verified: bool,
    /// When the agent last verified the running revision.
    pub since: Option<DateTime<Utc>>,
    /// The environments-repo commit of the run that deployed it (None: manual or unknown).
    pub commit: Option<String>,
    pub last: Option<LastOutcome>,
    pub pin: Option<Pin>,
    /// ECS or ECR could not be asked about this service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The newest finished deploy or manual rollback of a service.
pub fn last_outcome(records: &[Record], env: &str, service: &str) -> Option<LastOutcome> {
    let rollback_runs: std::collections::BTreeSet<&str> = records
        .iter()
        .filter(|r| r.step == ROLLBACK_STEP)
        .map(|r| r.run.as_str())
        .collect();
    records
        .iter()
        .rev()
        .filter(|r| r.env == env && r.service.as_deref() == Some(service))
        .filter(|r| r.phase == Phase::Finished)
        .find(|r| {
            r.step == ROLLBACK_STEP
                || (r.step == "deploy" && !rollback_runs.contains(r.run.as_str()))
        })
        .map(|r| LastOutcome {
            kind: if r.step == ROLLBACK_STEP {
                "rollback".into()
            } else {
                "deploy".into()
            },
            outcome: r.outcome.clone().unwrap_or_default(),
            at: r.at,
            run: r.run.clone(),
            rolled_back: r.detail.get("rolled_back") == Some(&serde_json::json!(true)),
        })
}

/// The status of every service of `env`. Err only when ECS cannot be asked at all.
pub async fn status(
    cloud: &Cloud,
    retry: RetryPolicy,
    env: &Environment,
    records: &[Record],
) -> Result<Vec<ServiceStatus>, CloudError> {
    let running = running_task_definitions(cloud, retry, env).await?;
    let pinned = pins(records);
    let mut tags = TagsByRepository::default();
    let mut out = Vec::new();
    for spec in &env.services {
        let td = running.get(&spec.ecs.service).cloned();
        let (image, mut error) = match &td {
            Some(td) => match retry
                .run("DescribeTaskDefinition", || {
                    cloud.ecs.describe_task_definition(td)
                })
                .await
            {
                Ok(def) => (
                    crate::stages::deploy::render::image_of(&def, &spec.ecs.container),
                    None,
                ),
                Err(e) => (None, Some(e.to_string())),
            },
            None => (
                None,
                Some(format!("ECS has no service {}", spec.ecs.service)),
            ),
        };
        let digest = image
            .as_deref()
            .and_then(|i| i.split_once('@'))
            .map(|(_, d)| d.to_string());
        let tags = match (&digest, tags.of(cloud, retry, &spec.image.repository).await) {
            (Some(d), Ok(by_digest)) => by_digest.get(d).cloned().unwrap_or_default(),
            (_, Err(e)) if error.is_none() => {
                error = Some(format!("ECR: {e}"));
                Vec::new()
            }
            _ => Vec::new(),
        };
        let (verified, brought) = provenance(records, &env.name, &spec.name, td.as_deref());
        out.push(ServiceStatus {
            service: spec.name.clone(),
            revision: td
                .as_deref()
                .map(|t| crate::stages::deploy::rollout::short_td(t).to_string()),
            task_definition: td,
            image,
            digest,
            tags,
            verified: verified.is_some(),
            since: verified.as_ref().map(|v| v.at),
            commit: brought
                .and_then(|b| b.commit)
                .or(verified.and_then(|v| v.commit)),
            last: last_outcome(records, &env.name, &spec.name),
            pin: pinned.get(&(env.name.clone(), spec.name.clone())).cloned(),
            error,
        });
    }
    Ok(out)
}

/// ECS service name → the task definition its PRIMARY deployment runs.
async fn running_task_definitions(
    cloud: &Cloud,
    retry: RetryPolicy,
    env: &Environment,
) -> Result<BTreeMap<String, String>, CloudError> {
    let names: Vec<String> = env.services.iter().map(|s| s.ecs.service.clone()).collect();
    let mut running = BTreeMap::new();
    for chunk in names.chunks(DESCRIBE_SERVICES_BATCH) {
        let described = retry
            .run("DescribeServices", || {
                cloud.ecs.describe_services(&env.ecs.cluster, chunk)
            })
            .await?;
        running.extend(
            described
                .into_iter()
                .map(|s| (s.service_name, s.task_definition)),
        );
    }
    Ok(running)
}

/// The latest verification of the running revision, and the deploy that first brought it
/// (its commit), not a later re-verification.
fn provenance(
    records: &[Record],
    env: &str,
    service: &str,
    td: Option<&str>,
) -> (Option<Verified>, Option<Verified>) {
    let Some(td) = td else {
        return (None, None);
    };
    let all = verifications(records, env, service);
    let verified = all.iter().rev().find(|v| v.task_definition == td).cloned();
    let brought = all
        .into_iter()
        .find(|v| v.task_definition == td && v.image.is_some());
    (verified, brought)
}

/// ECR tags by digest, asked once per repository however many services share it.
#[derive(Default)]
struct TagsByRepository(BTreeMap<String, Result<BTreeMap<String, Vec<String>>, String>>);

impl TagsByRepository {
    async fn of(
        &mut self,
        cloud: &Cloud,
        retry: RetryPolicy,
        repository: &str,
    ) -> &Result<BTreeMap<String, Vec<String>>, String> {
        if !self.0.contains_key(repository) {
            let found = retry
                .run("DescribeImages", || cloud.ecr.describe_images(repository))
                .await
                .map(|images| {
                    images
                        .into_iter()
                        .map(|i| (i.digest, i.tags))
                        .collect::<BTreeMap<_, _>>()
                })
                .map_err(|e| e.to_string());
            self.0.insert(repository.to_string(), found);
        }
        &self.0[repository]
    }
}
