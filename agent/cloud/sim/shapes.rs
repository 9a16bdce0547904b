//! Set-up of the service shapes teams run beyond one target group and a rolling update:
//! several target groups, a health check grace period, a capacity provider strategy, and
//! deployment controllers other than ECS.

use super::Simulator;
use super::world::{SimTarget, SimTaskTarget, World};
use crate::cloud::types::{CapacityProviderStrategyItem, ServiceLoadBalancer, TargetState};

impl World {
    /// The ARN of the target group set up under `name`. Panics if there is none (a test
    /// set-up mistake).
    pub(super) fn target_group_named(&self, name: &str) -> String {
        self.target_groups
            .values()
            .find(|tg| tg.name == name)
            .unwrap_or_else(|| panic!("no target group named `{name}` was set up"))
            .arn
            .clone()
    }

    fn service_mut(&mut self, cluster: &str, service: &str) -> &mut super::world::Service {
        self.clusters
            .get_mut(cluster)
            .and_then(|s| s.get_mut(service))
            .unwrap_or_else(|| panic!("no service {cluster}/{service} was set up"))
    }
}

impl Simulator {
    /// Register the service in one more target group (set up first), as UpdateService
    /// `loadBalancers` would: its running tasks are healthy there already.
    pub fn add_service_target_group(
        &self,
        cluster: &str,
        service: &str,
        target_group: &str,
        container_name: &str,
        container_port: u16,
    ) {
        let mut w = self.world();
        let arn = w.target_group_named(target_group);
        w.service_mut(cluster, service)
            .load_balancers
            .push(ServiceLoadBalancer {
                target_group_arn: arn.clone(),
                container_name: container_name.into(),
                container_port,
            });
        let (t, tg) = (w.t, &w.target_groups[&arn]);
        let mut target = SimTarget::registered(t, tg);
        target.state = TargetState::Healthy;
        (target.reason, target.description) = (None, None);
        let keys: Vec<_> = w
            .service_tasks(cluster, service)
            .filter(|(_, x)| x.live)
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            let task = w.tasks.get_mut(&k).expect("listed above");
            task.targets.push(SimTaskTarget {
                group: arn.clone(),
                port: container_port,
                target: Some(target.clone()),
            });
        }
    }

    /// `ECS`, `CODE_DEPLOY` or `EXTERNAL`: UpdateService of a new task definition is refused
    /// on the last two, as ECS does.
    pub fn set_deployment_controller(&self, cluster: &str, service: &str, controller: &str) {
        self.world()
            .service_mut(cluster, service)
            .deployment_controller = controller.into();
    }

    /// healthCheckGracePeriodSeconds of the service (tasks started from now on use it).
    pub fn set_health_check_grace_period(
        &self,
        cluster: &str,
        service: &str,
        seconds: Option<u32>,
    ) {
        self.world().service_mut(cluster, service).grace = seconds;
    }

    /// A task definition by family (latest), `family:revision` or ARN (not counted).
    pub fn task_definition(&self, name: &str) -> Option<crate::cloud::types::TaskDefinition> {
        self.world().find_task_definition(name).cloned()
    }

    pub fn set_capacity_provider_strategy(
        &self,
        cluster: &str,
        service: &str,
        strategy: Vec<CapacityProviderStrategyItem>,
    ) {
        self.world()
            .service_mut(cluster, service)
            .capacity_provider_strategy = strategy;
    }
}
