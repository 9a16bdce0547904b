//! The `codebuild` builder: the service's source at the exact commit is zipped to S3
//! (content-addressed, uploaded once), CodeBuild builds and pushes it with a buildspec the
//! agent renders, and the digest the build exports is checked against ECR before it is used.
//! The build's id is journalled, so an agent that dies mid-build follows the same build when
//! it starts again; a build that fails leaves its log's last lines for the PR comment.

pub mod buildspec;
pub mod bundle;
pub mod follow;
pub mod ledger;

use crate::cloud::retry::RetryPolicy;
use crate::cloud::types::{BuildRun, BuildStatus, NewBuildProject, StartBuild};
use crate::cloud::{Cloud, CloudError};
use crate::config::codebuild::{CodeBuildSettings, environment_type};
use crate::config::model::Build;
use ledger::{BuildKey, BuildLedger};
use std::collections::BTreeMap;
use std::time::Duration;

/// How many of the build log's last lines a failure keeps.
const LOG_TAIL: u32 = 30;

/// One image to build on CodeBuild.
pub struct RemoteBuild<'a> {
    pub settings: &'a CodeBuildSettings,
    pub build: &'a Build,
    /// ECR repository name.
    pub repository: &'a str,
    /// The registry host the repository is in (`<account>.dkr.ecr.<region>.amazonaws.com`).
    pub registry: &'a str,
    pub checkout: &'a super::source::Checkout,
    pub labels: BTreeMap<String, String>,
    pub tags: &'a [String],
    pub ledger: &'a dyn BuildLedger,
    pub clock: &'a crate::clock::Clock,
}

/// A pushed image.
pub struct Built {
    pub digest: String,
    pub build_id: String,
    /// Whether the bundle was uploaded (false: the bucket had it).
    pub uploaded: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CodeBuildError {
    #[error(
        "CodeBuild project `{project}` not found: create it, or add `create: {{serviceRole: <role ARN>}}` under the pipeline's build.codebuild to have the agent create it"
    )]
    ProjectMissing { project: String },
    #[error("{0}")]
    Bundle(#[from] bundle::BundleError),
    #[error("{0}")]
    Follow(#[from] follow::FollowError),
    #[error("CodeBuild: {0}")]
    Cloud(#[from] CloudError),
    #[error(
        "CodeBuild build {id} started, but the journal would not record it, {stopped}: {source}"
    )]
    Journal {
        id: String,
        stopped: String,
        #[source]
        source: crate::state::journal::JournalError,
    },
    #[error("CodeBuild build {id}: {ending}; last lines of its log:\n{tail}")]
    Failed {
        id: String,
        ending: String,
        tail: String,
    },
    #[error(
        "CodeBuild build {id} succeeded but exported no {variable}: is the project's buildspec overridden elsewhere?"
    )]
    NoDigest { id: String, variable: &'static str },
    #[error(
        "CodeBuild build {id} reported {digest}, but ECR repository `{repository}` has no such image tagged {commit}: not deploying an image nobody can find"
    )]
    NotInRegistry {
        id: String,
        digest: String,
        repository: String,
        commit: String,
    },
}

/// Build and push one image on CodeBuild; follows an earlier agent's unfinished build of the
/// same source instead of starting another.
pub async fn build(cloud: &Cloud, r: &RemoteBuild<'_>) -> Result<Built, CodeBuildError> {
    let dir = r.checkout.dir.path().to_path_buf();
    let committed_at = r.checkout.committed_at;
    let bundle = crate::clock::real_work(tokio::task::spawn_blocking(move || {
        bundle::pack(&dir, committed_at)
    }))
    .await
    .expect("pack task")?;
    let key = BuildKey {
        project: r.settings.project.clone(),
        repository: r.repository.to_string(),
        commit: r.checkout.commit.clone(),
        source_key: bundle.key.clone(),
    };
    let records = r.ledger.records().await;
    let (run, uploaded) = match reattach(cloud, r, &records, &key).await {
        Some(run) => (run, false),
        None => {
            let uploaded = bundle::upload(&*cloud.s3, &r.settings.source_bucket, &bundle).await?;
            let attempt = ledger::attempts(&records, &key);
            (start(cloud, r, &key, attempt).await?, uploaded)
        }
    };
    let timeout = Duration::from_secs(u64::from(r.settings.timeout_minutes) * 60);
    let ended = match follow::follow(&*cloud.builds, &run.id, timeout, r.ledger, r.clock).await {
        Ok(ended) => ended,
        Err(e) => {
            // Unfinished in the journal: the next start looks at it again.
            r.ledger.forget(&run.id);
            return Err(e.into());
        }
    };
    let outcome = ended.status.as_str().to_lowercase();
    r.ledger.finished(&ended.id, &outcome).await;
    if ended.status != BuildStatus::Succeeded {
        return Err(failed(cloud, &ended).await);
    }
    let digest = verified_digest(cloud, r, &ended).await?;
    Ok(Built {
        digest,
        build_id: ended.id,
        uploaded,
    })
}

/// An earlier agent's build of `key` that is still running or succeeded, to follow.
async fn reattach(
    cloud: &Cloud,
    r: &RemoteBuild<'_>,
    records: &[crate::state::journal::Record],
    key: &BuildKey,
) -> Option<BuildRun> {
    let id = ledger::unfinished(records, key)?;
    let found = RetryPolicy::default()
        .run("BatchGetBuilds", || {
            cloud.builds.batch_get_builds(std::slice::from_ref(&id))
        })
        .await;
    let run = match found {
        Ok(found) => found.into_iter().find(|b| b.id == id),
        Err(e) => {
            tracing::warn!(error = %e, build = %id, "cannot read an earlier build; starting another");
            None
        }
    };
    match run {
        Some(run) if matches!(run.status, BuildStatus::InProgress | BuildStatus::Succeeded) => {
            r.ledger.phase(&format!(
                "codebuild: following build {id}, started before a restart"
            ));
            r.ledger.following(&id);
            Some(run)
        }
        Some(run) => {
            // It ended badly while nobody watched: record that, build again.
            r.ledger
                .finished(&id, &run.status.as_str().to_lowercase())
                .await;
            None
        }
        None => None,
    }
}

/// Make sure the project exists, then StartBuild (safe to retry: the idempotency token) and
/// journal the build's id. A build the journal will not take is stopped again.
async fn start(
    cloud: &Cloud,
    r: &RemoteBuild<'_>,
    key: &BuildKey,
    attempt: usize,
) -> Result<BuildRun, CodeBuildError> {
    ensure_project(cloud, r, &key.source_key).await?;
    let mut request = start_request(r, key);
    request.idempotency_token = ledger::token(&request, attempt);
    let run = RetryPolicy::default()
        .run("StartBuild", || cloud.builds.start_build(&request))
        .await?;
    r.ledger
        .phase(&format!("codebuild: started build {}", run.id));
    // Followed (and stopped with the agent) from now, even while the journal write is pending.
    r.ledger.following(&run.id);
    if let Err(source) = r.ledger.started(key, &run.id).await {
        let stopped = match cloud.builds.stop_build(&run.id).await {
            Ok(_) => "so it was stopped".to_string(),
            Err(e) => format!("and stopping it failed too ({e}): stop it in the CodeBuild console"),
        };
        r.ledger.forget(&run.id);
        return Err(CodeBuildError::Journal {
            id: run.id,
            stopped,
            source,
        });
    }
    Ok(run)
}

/// StartBuild for `key`: the agent's bundle, buildspec and environment override the project's.
pub fn start_request(r: &RemoteBuild<'_>, key: &BuildKey) -> StartBuild {
    let platform = &r.build.platform;
    StartBuild {
        project: r.settings.project.clone(),
        source_location: format!("{}/{}", r.settings.source_bucket, key.source_key),
        buildspec: buildspec::render(&buildspec::BuildSpecInput {
            context: &r.build.context,
            dockerfile: &r.build.dockerfile,
            args: &r.build.args,
            platform,
            labels: &r.labels,
            timestamp: r.checkout.committed_at,
            tags: r.tags,
        }),
        environment_type: environment_type(platform).into(),
        image: r.settings.image_for(platform),
        compute_type: r.settings.compute_type.clone(),
        privileged: true,
        environment: vec![
            (
                buildspec::REPOSITORY_VARIABLE.into(),
                format!("{}/{}", r.registry, r.repository),
            ),
            (buildspec::TAGS_VARIABLE.into(), r.tags.join(" ")),
            (buildspec::COMMIT_VARIABLE.into(), key.commit.clone()),
        ],
        timeout_minutes: r.settings.timeout_minutes,
        // Set by the caller: [`ledger::token`] of the rest of the request.
        idempotency_token: String::new(),
    }
}

async fn ensure_project(
    cloud: &Cloud,
    r: &RemoteBuild<'_>,
    source_key: &str,
) -> Result<(), CodeBuildError> {
    let name = &r.settings.project;
    let found = RetryPolicy::default()
        .run("BatchGetProjects", || cloud.builds.project(name))
        .await?;
    if found.is_some() {
        return Ok(());
    }
    let Some(create) = &r.settings.create else {
        return Err(CodeBuildError::ProjectMissing {
            project: name.clone(),
        });
    };
    let platform = &r.build.platform;
    let project = NewBuildProject {
        name: name.clone(),
        service_role: create.service_role.clone(),
        environment_type: environment_type(platform).into(),
        compute_type: r.settings.compute_type.clone(),
        image: r.settings.image_for(platform),
        source_location: format!("{}/{source_key}", r.settings.source_bucket),
        timeout_minutes: r.settings.timeout_minutes,
        tags: vec![("managed-by".into(), "amagent".into())],
    };
    r.ledger
        .phase(&format!("codebuild: creating project {name}"));
    match cloud.builds.create_project(&project).await {
        Ok(_) => Ok(()),
        // Another agent (or a concurrent build of this merge) created it meanwhile.
        Err(CloudError::InvalidRequest { message, .. })
            if message.contains("AlreadyExists") || message.contains("already exists") =>
        {
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// A failed build, with the last lines of its CloudWatch log.
async fn failed(cloud: &Cloud, run: &BuildRun) -> CodeBuildError {
    let tail = match &run.log {
        Some((group, stream)) => match cloud.logs.tail(group, stream, LOG_TAIL).await {
            Ok(Some(lines)) => lines.join("\n"),
            Ok(None) => format!("(no log stream {group}/{stream})"),
            Err(e) => format!("(cannot read the log {group}/{stream}: {e})"),
        },
        None => "(the build wrote no log)".into(),
    };
    CodeBuildError::Failed {
        id: run.id.clone(),
        ending: follow::ending(run),
        tail,
    }
}

/// The digest the build exported, once ECR shows it under the commit's tag.
async fn verified_digest(
    cloud: &Cloud,
    r: &RemoteBuild<'_>,
    run: &BuildRun,
) -> Result<String, CodeBuildError> {
    let Some(digest) = run.exported.get(buildspec::DIGEST_VARIABLE).cloned() else {
        return Err(CodeBuildError::NoDigest {
            id: run.id.clone(),
            variable: buildspec::DIGEST_VARIABLE,
        });
    };
    let images = RetryPolicy::default()
        .run("DescribeImages", || cloud.ecr.describe_images(r.repository))
        .await?;
    let commit = &r.checkout.commit;
    if images
        .iter()
        .any(|i| i.digest == digest && i.tags.contains(commit))
    {
        Ok(digest)
    } else {
        Err(CodeBuildError::NotInRegistry {
            id: run.id.clone(),
            digest,
            repository: r.repository.to_string(),
            commit: commit.clone(),
        })
    }
}
