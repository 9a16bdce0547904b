//! The lifecycle stage of an apply: the environment's ECR rules, never expiring an image a
//! service runs or could roll back to.

use super::*;

/// Evaluate (and unless `dry_run`, apply) the environment's lifecycle rules to the ECR
/// repositories of `services`, protecting every image running or kept as a rollback target by
/// any service of the environment that uses the same repository.
pub async fn run_lifecycle(
    ctx: &Context<'_>,
    env: &Environment,
    services: &[&Service],
    dry_run: bool,
) -> Vec<LifecycleReport> {
    let rules = Rules::from(&env.ecr.lifecycle);
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
                let (_, running) = running_task_definitions(ctx, env, spec).await?;
                // The revisions a rollback (automatic, or `amagent rollback`) could go to.
                let rollback = recently_verified(&records, &env.name, &spec.name, ROLLBACK_DEPTH);
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
                            .and_then(|image| lifecycle::digest_of(&image, &images))
                    {
                        protected.entry(digest).or_insert_with(|| {
                            format!("{why} in {}", crate::stages::deploy::rollout::short_td(&td))
                        });
                    }
                }
            }
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
        for s in &report.services {
            let msg = match (&report.error, dry_run) {
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
        reports.push(report);
    }
    reports
}
