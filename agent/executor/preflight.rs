//! Preflight: before anything changes, every secret the new task definitions reference must
//! exist (SSM parameters and Secrets Manager secrets: `secrets.rs`), and the image each service deploys must be known. A service that fails here ends
//! with a result of its own; the others go on.

use super::runner::EnvRunner;
use super::secrets::missing_secrets;
use super::{failed, image_for, refused};
use crate::config::Service;
use crate::stages::deploy::{DeployResult, FailureKind, Target};

/// Splits `deploying` into the targets to roll and the deploys that end here.
pub(super) async fn check(
    r: &EnvRunner<'_>,
    deploying: &[&Service],
) -> (Vec<Target>, Vec<DeployResult>) {
    let (env, ctx) = (r.env, r.ctx);
    let mut targets = Vec::new();
    let mut early = Vec::new();
    for spec in deploying {
        match missing_secrets(ctx.cloud, &ctx.retry, &spec.secrets).await {
            Err(e) => {
                early.push(refused(env, spec, &e));
                continue;
            }
            Ok(missing) if !missing.is_empty() => {
                early.push(failed(
                    env,
                    spec,
                    FailureKind::Config,
                    format!(
                        "{} — create them, or fix `secrets` in environments/{}.yaml",
                        missing.describe(),
                        env.name
                    ),
                ));
                continue;
            }
            Ok(_) => {}
        }
        match image_for(ctx, env, spec, &r.run.images).await {
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
