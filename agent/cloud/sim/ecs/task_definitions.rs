//! Task definitions: lookup by family, revision or ARN, registration, and how a task of a
//! definition's images behaves (the fault script's image rules).

use crate::cloud::sim::world::*;
use crate::cloud::types::*;
use rand::Rng;

impl World {
    pub fn find_task_definition(&self, reference: &str) -> Option<&TaskDefinition> {
        let reference = match reference.split_once(":task-definition/") {
            Some((_, rest)) if reference.starts_with("arn:") => rest,
            _ => reference,
        };
        match reference.rsplit_once(':') {
            Some((family, rev)) => {
                let rev: u32 = rev.parse().ok()?;
                self.task_defs.get(family)?.get(&rev)
            }
            None => self.task_defs.get(reference)?.values().next_back(),
        }
    }

    /// Store a task definition as `revision` (0: the next one) and return it as registered.
    pub fn store_task_definition(&mut self, td: &TaskDefinition, revision: u32) -> TaskDefinition {
        let next = self
            .task_defs
            .get(&td.family)
            .and_then(|revs| revs.keys().next_back().copied())
            .unwrap_or(0)
            + 1;
        let revision = if revision > 0 { revision } else { next };
        let mut stored = td.clone();
        crate::cloud::sim::registration::fill_defaults(&mut stored);
        stored.revision = revision;
        stored.arn = self.task_definition_arn(&td.family, revision);
        stored
            .extra
            .insert("status".into(), serde_json::Value::String("ACTIVE".into()));
        stored.extra.insert(
            "registeredAt".into(),
            serde_json::Value::String(self.now().to_rfc3339()),
        );
        self.task_defs
            .entry(td.family.clone())
            .or_default()
            .insert(revision, stored.clone());
        stored
    }

    pub(super) fn images_of(&self, task_definition: &str) -> Vec<String> {
        self.find_task_definition(task_definition)
            .map(|td| {
                td.container_definitions
                    .iter()
                    .map(|c| c.image.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How a task of these images behaves, and its start latency (with seeded jitter).
    pub(super) fn behaviour_for(&mut self, images: &[String]) -> (Behaviour, u64) {
        // Rules see each image also as `repository:tag` for every tag ECR holds for its
        // digest, so a script can make a release misbehave by its version (`:v2.1.0`).
        let mut aliases = Vec::new();
        for image in images {
            let Some((path, digest)) = image.split_once('@') else {
                continue;
            };
            let repository = path.split_once('/').map(|(_, r)| r).unwrap_or(path);
            if let Some(repo) = self.repositories.get(repository) {
                for i in repo.images.iter().filter(|i| i.digest == digest) {
                    aliases.extend(i.tags.iter().map(|t| format!("{path}:{t}")));
                }
            }
        }
        let setup = &self.setup_images;
        let rule = self
            .faults
            .images
            .iter()
            .find(|r| {
                r.matches(images, |i| !setup.contains(i))
                    || (r.pattern != "new" && r.matches(&aliases, |_| false))
            })
            .cloned();
        let base = rule
            .as_ref()
            .and_then(|r| r.start_seconds)
            .unwrap_or(self.faults.task_start_seconds);
        let span = base * u64::from(self.faults.start_jitter_percent.min(100)) / 100;
        let start = if span > 0 {
            let jitter = self.rng.random_range(0..=2 * span);
            base + jitter - span
        } else {
            base
        };
        let behaviour = match rule {
            Some(r) => Behaviour {
                crash_after: r.crash_after_seconds,
                healthy: r.healthy,
                unhealthy_after: r.unhealthy_after_seconds,
                stopped_reason: r.stopped_reason,
                healthy_after: r.healthy_after_seconds,
                failing_target_groups: r.failing_target_groups,
                container_healthy: r.container_healthy,
                container_unhealthy_after: r.container_unhealthy_after_seconds,
            },
            None => Behaviour {
                healthy: true,
                container_healthy: true,
                ..Behaviour::default()
            },
        };
        (behaviour, start)
    }

    pub fn deployment_id(&mut self) -> String {
        let n: u64 = self
            .rng
            .random_range(1_000_000_000_000_000_000..10_000_000_000_000_000_000);
        format!("ecs-svc/{n}")
    }
}

pub(super) fn validate_task_definition(td: &TaskDefinition) -> Result<(), String> {
    if td.family.is_empty() {
        return Err("family must not be empty".into());
    }
    if td.container_definitions.is_empty() {
        return Err("containerDefinitions must not be empty".into());
    }
    let fargate = td.requires_compatibilities.iter().any(|c| c == "FARGATE");
    if fargate && (td.cpu.is_none() || td.memory.is_none()) {
        return Err("Fargate requires task definition to have memory and cpu values set".into());
    }
    if td.memory.is_none() {
        for c in &td.container_definitions {
            if !c.extra.contains_key("memory") && !c.extra.contains_key("memoryReservation") {
                return Err(format!(
                    "Invalid setting for container '{}'. At least one of 'memory' or 'memoryReservation' must be specified.",
                    c.name
                ));
            }
        }
    }
    if let Some(c) = td.container_definitions.iter().find(|c| c.image.is_empty()) {
        return Err(format!("container '{}' has no image", c.name));
    }
    Ok(())
}
