//! The lifecycle stage of an apply: the environment's ECR rules, never expiring an image a
//! service runs or could roll back to.

use super::runner::EnvRunner;
use super::*;

/// Lifecycle after the deploys, for services whose deploy (if any) did not fail. Deletions
/// nobody recorded are not made: without a "started" record nothing is deleted.
pub(super) async fn after_deploys(r: &EnvRunner<'_>, report: &mut EnvReport) {
    let failed_services: BTreeSet<&str> = report
        .deploys
        .iter()
        .filter(|d| d.outcome == Outcome::Failed)
        .map(|d| d.service.as_str())
        .collect();
    let services: Vec<&Service> = r
        .wants(StageKind::Lifecycle)
        .into_iter()
        .filter(|s| !failed_services.contains(s.name.as_str()))
        .collect();
    if services.is_empty() {
        return;
    }
    let names: Vec<&String> = services.iter().map(|s| &s.name).collect();
    let detail = serde_json::json!({ "services": names });
    if let Err(e) = r.journal("lifecycle", Phase::Started, None, detail).await {
        report.journal_error = Some(e.to_string());
        return;
    }
    report.lifecycle = run_lifecycle(r.ctx, r.env, &services, r.run.lifecycle_dry_run).await;
    let ok = report.lifecycle.iter().all(|l| l.error.is_none());
    let outcome = if ok { "succeeded" } else { "failed" };
    let detail = serde_json::to_value(&report.lifecycle).unwrap_or_default();
    let _ = r
        .journal("lifecycle", Phase::Finished, Some(outcome), detail)
        .await;
}

/// Evaluate (and unless `dry_run`, apply) the environment's lifecycle rules to the ECR
/// repositories of `services`, protecting every image running or kept as a rollback target by
/// any service of the environment that uses the same repository.
pub async fn run_lifecycle(
    ctx: &Context<'_>,
    env: &Environment,
    services: &[&Service],
    dry_run: bool,
) -> Vec<LifecycleReport> {
    let repositories: BTreeSet<&str> = services
        .iter()
        .map(|s| s.image.repository.as_str())
        .collect();
    // Without the journal the rollback targets are unknown: delete nothing then.
    let records = match ctx.journal.read(Some(&env.name)).await {
        Ok(r) => r,
        Err(e) => {
            return services
                .iter()
                .map(|s| LifecycleReport {
                    repository: s.image.repository.clone(),
                    services: vec![s.name.clone()],
                    expire: Vec::new(),
                    keep: Vec::new(),
                    deleted: Vec::new(),
                    dry_run,
                    error: Some(format!("not run: the journal is unreadable ({e}), so rollback images cannot be protected")),
                })
                .collect();
        }
    };
    let mut reports = Vec::new();
    for repository in repositories {
        let report = for_repository(ctx, env, &records, repository, dry_run).await;
        announce(ctx, env, &report);
        reports.push(report);
    }
    reports
}

/// The rules applied to one repository, shared by every service of the environment using it.
async fn for_repository(
    ctx: &Context<'_>,
    env: &Environment,
    records: &[Record],
    repository: &str,
    dry_run: bool,
) -> LifecycleReport {
    let users: Vec<&Service> = env
        .services
        .iter()
        .filter(|s| s.image.repository == repository)
        .collect();
    let mut report = LifecycleReport {
        repository: repository.to_string(),
        services: users.iter().map(|s| s.name.clone()).collect(),
        expire: Vec::new(),
        keep: Vec::new(),
        deleted: Vec::new(),
        dry_run,
        error: None,
    };
    let outcome: Result<(), CloudError> = async {
        let images = ctx
            .retry
            .run("DescribeImages", || {
                ctx.cloud.ecr.describe_images(repository)
            })
            .await?;
        let mut protected: BTreeMap<String, String> = BTreeMap::new();
        for spec in &users {
            protect(ctx, env, records, spec, &images, &mut protected).await?;
        }
        let rules = Rules::from(&env.ecr.lifecycle);
        let evaluation = lifecycle::evaluate(&images, rules, &protected, ctx.clock.now());
        if !dry_run && !evaluation.expire.is_empty() {
            report.deleted =
                lifecycle::apply(ctx.cloud, ctx.retry, repository, &evaluation).await?;
        }
        report.expire = evaluation.expire;
        report.keep = evaluation.keep;
        Ok(())
    }
    .await;
    if let Err(e) = outcome {
        report.error = Some(e.to_string());
    }
    report
}

/// Adds to `protected` the digests `spec` runs now or could roll back to, with why.
async fn protect(
    ctx: &Context<'_>,
    env: &Environment,
    records: &[Record],
    spec: &Service,
    images: &[crate::cloud::types::ImageDetail],
    protected: &mut BTreeMap<String, String>,
) -> Result<(), CloudError> {
    let (_, running) = running_task_definitions(ctx, env, spec).await?;
    // The revisions a rollback (automatic, or `amagent rollback`) could go to.
    let rollback = recently_verified(records, &env.name, &spec.name, ROLLBACK_DEPTH);
    let reasons = running
        .into_iter()
        .map(|td| (td, "running"))
        .chain(rollback.into_iter().map(|td| (td, "rollback target")));
    for (td, why) in reasons {
        let definition = match ctx
            .retry
            .run("DescribeTaskDefinition", || {
                ctx.cloud.ecs.describe_task_definition(&td)
            })
            .await
        {
            Ok(d) => d,
            // A deleted revision cannot be rolled back to: nothing to protect.
            Err(CloudError::NotFound { .. }) if why == "rollback target" => {
                tracing::warn!(task_definition = %td, "a verified revision no longer exists; it is no rollback target");
                continue;
            }
            Err(e) => return Err(e),
        };
        if let Some(digest) =
            crate::stages::deploy::render::image_of(&definition, &spec.ecs.container)
                .and_then(|image| lifecycle::digest_of(&image, images))
        {
            protected.entry(digest).or_insert_with(|| {
                format!("{why} in {}", crate::stages::deploy::rollout::short_td(&td))
            });
        }
    }
    Ok(())
}

fn announce(ctx: &Context<'_>, env: &Environment, report: &LifecycleReport) {
    let repository = &report.repository;
    for s in &report.services {
        let msg = match (&report.error, report.dry_run) {
            (Some(e), _) => format!("lifecycle failed: {e}"),
            (None, true) => format!(
                "lifecycle (dry run): would expire {} image(s) in {repository}",
                report.expire.len()
            ),
            (None, false) => format!(
                "lifecycle: expired {} image(s) in {repository}",
                report.deleted.len()
            ),
        };
        ctx.progress.step(&env.name, s, &msg);
    }
}
