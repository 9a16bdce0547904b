//! GitHub Deployments around a delivery: created `in_progress` when the deploy begins (after
//! any build, so the payload holds the images), then `success` or `failure` with the outcome;
//! `error` when the agent is stopped mid-way. A reporter failure is logged and never fails the
//! deploy.

use super::*;
use crate::report::{Deployment, DeploymentState};

/// A deployment created for the delivery in flight: its id and what it was created with.
#[derive(Clone, Debug)]
pub(super) struct Started {
    pub id: u64,
    pub deployment: Deployment,
}

impl Agent {
    /// Create the deployment of `d` and set it in progress; None when the environment turns
    /// deployments off, the reporter keeps none, or GitHub refused (logged).
    pub(super) async fn deployment_started(&self, d: &Delivery<'_>) -> Option<Started> {
        let deployment = deployment_of(d)?;
        let id = match self.reporter.create_deployment(&deployment).await {
            Ok(Some(id)) => id,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(error = %e, env = %deployment.env, "cannot create the GitHub deployment");
                return None;
            }
        };
        let started = Started { id, deployment };
        self.deployment_status(Some(&started), DeploymentState::InProgress, "deploying")
            .await;
        Some(started)
    }

    pub(super) async fn deployment_status(
        &self,
        started: Option<&Started>,
        state: DeploymentState,
        description: &str,
    ) {
        let Some(s) = started else { return };
        if let Err(e) = self
            .reporter
            .deployment_status(s.id, &s.deployment, state, description)
            .await
        {
            tracing::warn!(error = %e, deployment = s.id, "cannot set the GitHub deployment status");
        }
    }
}

/// The deployment a delivery makes: environment = its name, `production` as configured (by
/// default: it receives promotions), the images as payload.
fn deployment_of(d: &Delivery<'_>) -> Option<Deployment> {
    let settings = d
        .env
        .github
        .as_ref()
        .map(|g| g.deployment.clone())
        .unwrap_or_default();
    if !settings.enabled {
        return None;
    }
    let services: BTreeMap<&str, Option<&String>> = d
        .plan
        .services
        .iter()
        .map(|s| (s.name.as_str(), d.images.get(&s.name)))
        .collect();
    let names: Vec<&str> = services.keys().copied().collect();
    Some(Deployment {
        env: d.env.name.clone(),
        commit: d.commit.to_string(),
        run: d.run.to_string(),
        production: settings.production.unwrap_or(d.env.promotion.is_some()),
        transient: settings.transient,
        environment_url: settings.url,
        description: format!("amagent: {}", names.join(", ")),
        payload: serde_json::json!({ "run": d.run, "services": services }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::notify::{DeploymentSettings, GitHubSettings};

    fn of(env: &Environment) -> Option<Deployment> {
        let mut model = crate::config::example();
        model.environments.insert(env.name.clone(), env.clone());
        let plan = crate::plan::plan(&Model::default(), &model);
        let plan = plan
            .environment(&env.name)
            .expect("a new environment is planned");
        let images = BTreeMap::new();
        deployment_of(&Delivery {
            env,
            plan,
            images,
            failures: Vec::new(),
            commit: "3e1a9d7c5b2f4e6a8c0b1d3f5e7a9c2b4d6f8e0a",
            run: "run-1",
            pull_requests: &[],
            status_commits: &[],
            detail: serde_json::Value::Null,
            resume_since: None,
            notes: None,
        })
    }

    #[test]
    fn a_promotion_target_is_production_unless_configured_otherwise() {
        let model = crate::config::example();
        let production = of(&model.environments["production"]).unwrap();
        let staging = of(&model.environments["staging"]).unwrap();
        assert!(production.production && !staging.production);
        assert_eq!(staging.environment_url, None);

        let mut env = model.environments["production"].clone();
        env.github = Some(GitHubSettings {
            deployment: DeploymentSettings {
                production: Some(false),
                transient: true,
                url: Some("https://shop.example.com".into()),
                ..Default::default()
            },
        });
        let d = of(&env).unwrap();
        assert!(!d.production && d.transient);
        assert_eq!(
            d.environment_url.as_deref(),
            Some("https://shop.example.com")
        );

        env.github.as_mut().unwrap().deployment.enabled = false;
        assert_eq!(of(&env), None, "turned off: no deployment");
    }
}
