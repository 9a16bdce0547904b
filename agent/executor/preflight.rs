//! Preflight: before anything changes, every secret the new task definitions reference must
//! exist, and the image each service deploys must be known. A service that fails here ends
//! with a result of its own; the others go on.

use super::runner::EnvRunner;
use super::{failed, image_for, refused};
use crate::cloud::CloudError;
use crate::config::Service;
use crate::stages::deploy::{DeployResult, FailureKind, Target};
use crate::state::journal::{Record, bad};

/// Splits `deploying` into the targets to roll and the deploys that end here.
pub(super) async fn check(
    r: &EnvRunner<'_>,
    deploying: &[&Service],
    records: &[Record],
) -> (Vec<Target>, Vec<DeployResult>) {
    let (env, ctx) = (r.env, r.ctx);
    let mut targets = Vec::new();
    let mut early = Vec::new();
    for spec in deploying {
        let missing = match missing_parameters(r, spec).await {
            Ok(missing) => missing,
            Err(e) => {
                early.push(refused(env, spec, &e));
                continue;
            }
        };
        if !missing.is_empty() {
            early.push(failed(
                env,
                spec,
                FailureKind::Config,
                format!(
                    "SSM parameter(s) missing: {} — create them, or fix `secrets` in environments/{}.yaml",
                    missing.join(", "),
                    env.name
                ),
            ));
            continue;
        }
        match image_for(ctx, env, spec, &r.run.images).await {
            Ok(image)
                if !ctx.allow_bad && known_bad(records, &env.name, spec, &image).is_some() =>
            {
                let why = known_bad(records, &env.name, spec, &image).unwrap_or_default();
                let mut result = failed(env, spec, FailureKind::Config, why);
                result.image = image;
                early.push(result);
            }
            Ok(image) => targets.push(Target {
                env: env.name.clone(),
                cluster: env.ecs.cluster.clone(),
                spec: (*spec).clone(),
                image,
                revision: None,
            }),
            Err(e) => early.push(refused(env, spec, &e)),
        }
    }
    (targets, early)
}

/// Why `image` must not be deployed to `spec` again, when it is known bad.
fn known_bad(records: &[Record], env: &str, spec: &Service, image: &str) -> Option<String> {
    let digest = bad::digest_of(image)?;
    let bad = bad::bad_digests(records, env, &spec.name)
        .into_iter()
        .find(|b| b.digest == digest)?;
    Some(format!(
        "{digest} is known bad for {env}/{} ({}; run {} at {}): release a new image, deploy it anyway with `amagent deploy --allow-bad`, or clear it with `amagent unblock --env {env} --service {} --digest {digest}`",
        spec.name,
        bad.reason,
        bad.run,
        bad.at.format("%Y-%m-%d %H:%M UTC"),
        spec.name,
    ))
}

/// The SSM parameters `spec` references that do not exist (values are never read).
async fn missing_parameters(r: &EnvRunner<'_>, spec: &Service) -> Result<Vec<String>, CloudError> {
    let ctx = r.ctx;
    let names: Vec<String> = spec.secrets.values().cloned().collect();
    let mut missing = Vec::new();
    let mut refusal = None;
    // GetParameters takes at most 10 names per call.
    for chunk in names.chunks(crate::cloud::GET_PARAMETERS_BATCH) {
        match ctx
            .retry
            .run("GetParameters", || ctx.cloud.ssm.missing(chunk))
            .await
        {
            Ok(m) => missing.extend(m),
            Err(e) => refusal = Some(e),
        }
    }
    match refusal {
        Some(e) => Err(e),
        None => Ok(missing),
    }
}
