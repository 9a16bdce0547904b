//! AWS access per environment: one agent may serve environments in several accounts and
//! regions. An environment with `aws.roleArn` is served through that role (STS AssumeRole,
//! session `amagent-<env>`, refreshed by the SDK before it expires); every environment gets
//! its own region. The journal and the lease stay on the agent's own credentials.

use crate::cloud::Cloud;
use crate::cloud::aws::{AssumeRole, Aws, Options, Target};
use crate::config::Environment;
use crate::state::fence::LeaseGuard;
use std::collections::HashMap;
use std::sync::Arc;

/// The role an environment's spec names, as the AWS adapters take it.
pub fn assume_role_of(env: &Environment) -> Option<AssumeRole> {
    env.aws.role_arn.as_ref().map(|arn| AssumeRole {
        arn: arn.clone(),
        external_id: env.aws.external_id.clone(),
        session_name: format!("amagent-{}", env.name),
    })
}

/// Where an environment's calls go: its account and region (`--region` overrides the region).
pub fn target_of(env: &Environment, region: Option<&str>) -> Target {
    Target {
        account: env.aws.account_id.clone(),
        region: region.unwrap_or(&env.aws.region).to_string(),
    }
}

/// Account, region and role: one connection each.
type Access = (String, String, Option<AssumeRole>);

/// Connects to AWS once per (account, region, role) and keeps the clients; each is fenced by
/// the agent's lease guard when it has one, like the agent's own. Under the simulator, each
/// environment sees the one simulated world through its own account's registry.
pub struct Accounts {
    options: Options,
    region: Option<String>,
    fence: Option<Arc<LeaseGuard>>,
    clouds: tokio::sync::Mutex<HashMap<Access, Cloud>>,
    simulated: Option<crate::cloud::sim::Simulator>,
}

impl Accounts {
    pub fn new(options: Options, region: Option<String>, fence: Option<Arc<LeaseGuard>>) -> Self {
        Accounts {
            options,
            region,
            fence,
            clouds: Default::default(),
            simulated: None,
        }
    }

    /// AWS, or the simulated world when there is one (`amagent run`, `promote`).
    pub fn for_run(
        sim: Option<crate::cloud::sim::Simulator>,
        region: Option<String>,
        fence: Option<Arc<LeaseGuard>>,
    ) -> Self {
        match sim {
            Some(sim) => Self::simulated(sim, fence),
            None => Self::new(Options::default(), region, fence),
        }
    }

    /// Each environment in its own account of `sim` (a promotion across accounts reads one
    /// account's registry and writes another's).
    pub fn simulated(sim: crate::cloud::sim::Simulator, fence: Option<Arc<LeaseGuard>>) -> Self {
        Accounts {
            simulated: Some(sim),
            ..Self::new(Options::default(), None, fence)
        }
    }

    pub async fn cloud_for(&self, env: &Environment) -> Cloud {
        if let Some(sim) = &self.simulated {
            let cloud = sim.cloud_in(&env.aws.account_id);
            return match &self.fence {
                Some(guard) => crate::state::fence::fenced(cloud, guard.clone()),
                None => cloud,
            };
        }
        let target = target_of(env, self.region.as_deref());
        let role = assume_role_of(env);
        let key = (target.account.clone(), target.region.clone(), role.clone());
        let mut clouds = self.clouds.lock().await;
        if let Some(cloud) = clouds.get(&key) {
            return cloud.clone();
        }
        let options = Options {
            assume_role: role,
            ..self.options.clone()
        };
        let cloud = Aws::connect_with(target, options).await.cloud();
        let cloud = match &self.fence {
            Some(guard) => crate::state::fence::fenced(cloud, guard.clone()),
            None => cloud,
        };
        clouds.insert(key, cloud.clone());
        cloud
    }
}
