//! Fault scripts: what goes wrong in a simulated world, and when. Read from YAML/JSON
//! (`FaultScript::from_yaml`, `FaultScript::load`), built in code (the builder methods), or
//! taken by name (`FaultScript::builtin`).

use serde::{Deserialize, Serialize};

pub use crate::cloud::operations::OPERATIONS;

/// The IAM action an operation needs, e.g. `ecs:UpdateService`.
pub fn iam_action(operation: &str) -> String {
    crate::cloud::operations::iam_action(operation).to_string()
}

/// Names of the built-in fault scripts.
pub const BUILTIN: &[&str] = &[
    "healthy",
    "crash",
    "unhealthy-during-bake",
    "slow-start",
    "timeout",
    "throttled",
    "access-denied",
    "snapshot-fails",
    "migration-fails",
    "container-unhealthy",
    "slow-warm-up",
];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct FaultScript {
    /// Seeds every random choice (start jitter, ids): same script and calls → same world.
    pub seed: u64,
    /// Time from a task's start to RUNNING, unless an image rule says otherwise.
    pub task_start_seconds: u64,
    /// Start latency varies by up to this many percent either way (seeded).
    pub start_jitter_percent: u32,
    /// Time for a manual RDS snapshot to finish.
    pub snapshot_seconds: u64,
    /// Snapshots end `failed` instead of `available`.
    pub snapshot_fails: bool,
    /// Lower clamp of the circuit breaker threshold (AWS API reference: 3; an older guide: 10).
    pub circuit_breaker_minimum: u32,
    /// First rule matching a task's image decides how it behaves.
    pub images: Vec<ImageRule>,
    pub throttle: Vec<ThrottleRule>,
    /// AWS's token buckets, modelled (`rate_limits::aws_read_limits`): off unless set.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rate_limits: Vec<super::rate_limits::RateLimit>,
    pub access_denied: Vec<AccessDeniedRule>,
    /// How one-off tasks (RunTask: the pre-deploy task) behave, by command; first match wins.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub one_off_tasks: Vec<super::gates::OneOffRule>,
    /// CloudWatch alarms that fire after a service's first UpdateService.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<super::gates::AlarmRule>,
    /// How CodeBuild builds behave, by repository URI; first match wins.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub codebuild: Vec<super::codebuild::BuildRule>,
    /// The agent process dies (abort, as on SIGKILL) right after journalling the start of this
    /// step (`apply`, `run`, `snapshot`, `register`, `update-service`, `gate`, …): crash tests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kill_agent_at: Option<String>,
}

impl Default for FaultScript {
    fn default() -> Self {
        FaultScript {
            seed: 0,
            task_start_seconds: 20,
            start_jitter_percent: 10,
            snapshot_seconds: 120,
            snapshot_fails: false,
            circuit_breaker_minimum: 3,
            images: Vec::new(),
            throttle: Vec::new(),
            rate_limits: Vec::new(),
            access_denied: Vec::new(),
            one_off_tasks: Vec::new(),
            alarms: Vec::new(),
            codebuild: Vec::new(),
            kill_agent_at: None,
        }
    }
}

/// How tasks of matching images behave.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageRule {
    /// `new` = any image not running anywhere when the world was set up; otherwise a substring
    /// of the image reference.
    #[serde(rename = "match")]
    pub pattern: String,
    /// Time to RUNNING (overrides `taskStartSeconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_seconds: Option<u64>,
    /// The essential container exits this long after RUNNING.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash_after_seconds: Option<u64>,
    /// Whether health checks pass at all.
    #[serde(default = "yes")]
    pub healthy: bool,
    /// Health checks fail from this long after RUNNING on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_after_seconds: Option<u64>,
    /// stoppedReason of a crashed task (default "Essential container in task exited").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<String>,
    /// Health checks fail until this long after RUNNING (a slow warm-up), then pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_after_seconds: Option<u64>,
    /// Target groups (by name) whose health checks fail, while the others pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failing_target_groups: Vec<String>,
    /// Whether the essential container's own health check (if the task definition has one)
    /// passes at all.
    #[serde(default = "yes")]
    pub container_healthy: bool,
    /// The container health check fails from this long after RUNNING on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_unhealthy_after_seconds: Option<u64>,
}

fn yes() -> bool {
    true
}

impl ImageRule {
    /// A rule that changes nothing yet: healthy, default start time.
    pub fn new(pattern: impl Into<String>) -> Self {
        ImageRule {
            pattern: pattern.into(),
            start_seconds: None,
            crash_after_seconds: None,
            healthy: true,
            unhealthy_after_seconds: None,
            stopped_reason: None,
            healthy_after_seconds: None,
            failing_target_groups: Vec::new(),
            container_healthy: true,
            container_unhealthy_after_seconds: None,
        }
    }
    pub fn healthy_after(mut self, s: u64) -> Self {
        self.healthy_after_seconds = Some(s);
        self
    }
    /// Health checks of the target group named `name` fail.
    pub fn failing_in(mut self, name: &str) -> Self {
        self.failing_target_groups.push(name.into());
        self
    }
    pub fn container_healthy(mut self, healthy: bool) -> Self {
        self.container_healthy = healthy;
        self
    }
    pub fn container_unhealthy_after(mut self, s: u64) -> Self {
        self.container_unhealthy_after_seconds = Some(s);
        self
    }
    pub fn start_seconds(mut self, s: u64) -> Self {
        self.start_seconds = Some(s);
        self
    }
    pub fn crash_after(mut self, s: u64) -> Self {
        self.crash_after_seconds = Some(s);
        self
    }
    pub fn healthy(mut self, healthy: bool) -> Self {
        self.healthy = healthy;
        self
    }
    pub fn unhealthy_after(mut self, s: u64) -> Self {
        self.unhealthy_after_seconds = Some(s);
        self
    }
    pub fn stopped_reason(mut self, reason: impl Into<String>) -> Self {
        self.stopped_reason = Some(reason.into());
        self
    }

    /// Whether this rule applies to a task whose containers run `images`.
    pub(super) fn matches(&self, images: &[String], is_new: impl Fn(&str) -> bool) -> bool {
        if self.pattern == "new" {
            images.iter().any(|i| is_new(i))
        } else {
            images.iter().any(|i| i.contains(&self.pattern))
        }
    }
}

/// `count` throttled calls after the first `afterCalls` calls of `operation`; with `every`,
/// the pattern repeats every `every` calls.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ThrottleRule {
    pub operation: String,
    #[serde(default)]
    pub after_calls: u64,
    pub count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<u64>,
}

impl ThrottleRule {
    /// Whether the `n`th call (1-based) of the operation is throttled.
    pub fn throttles(&self, n: u64) -> bool {
        let k = match self.every {
            Some(p) if p > 0 => (n - 1) % p + 1,
            _ => n,
        };
        k > self.after_calls && k <= self.after_calls + self.count
    }
}

/// Every call of `operation` (on a resource containing `resource`, if given) is denied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessDeniedRule {
    pub operation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

impl FaultScript {
    /// No faults, AWS-like defaults.
    pub fn new() -> Self {
        FaultScript::default()
    }

    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    pub fn task_start_seconds(mut self, s: u64) -> Self {
        self.task_start_seconds = s;
        self
    }
    pub fn start_jitter_percent(mut self, p: u32) -> Self {
        self.start_jitter_percent = p;
        self
    }
    pub fn snapshot_seconds(mut self, s: u64) -> Self {
        self.snapshot_seconds = s;
        self
    }
    pub fn snapshot_fails(mut self, fails: bool) -> Self {
        self.snapshot_fails = fails;
        self
    }
    pub fn circuit_breaker_minimum(mut self, n: u32) -> Self {
        self.circuit_breaker_minimum = n;
        self
    }
    pub fn image(mut self, rule: ImageRule) -> Self {
        self.images.push(rule);
        self
    }
    /// Throttle `count` calls of `operation` after its first `after_calls`.
    pub fn throttle(mut self, operation: &str, after_calls: u64, count: u64) -> Self {
        self.throttle.push(ThrottleRule {
            operation: operation.into(),
            after_calls,
            count,
            every: None,
        });
        self
    }
    /// Like [`FaultScript::throttle`], repeating every `every` calls.
    /// Throttle like AWS does: the read operations' token buckets.
    pub fn aws_rate_limits(mut self) -> Self {
        self.rate_limits = super::rate_limits::aws_read_limits();
        self
    }

    pub fn throttle_every(
        mut self,
        operation: &str,
        after_calls: u64,
        count: u64,
        every: u64,
    ) -> Self {
        self.throttle.push(ThrottleRule {
            operation: operation.into(),
            after_calls,
            count,
            every: Some(every),
        });
        self
    }
    pub fn one_off(mut self, rule: super::gates::OneOffRule) -> Self {
        self.one_off_tasks.push(rule);
        self
    }
    pub fn alarm(mut self, rule: super::gates::AlarmRule) -> Self {
        self.alarms.push(rule);
        self
    }
    pub fn codebuild(mut self, rule: super::codebuild::BuildRule) -> Self {
        self.codebuild.push(rule);
        self
    }
    pub fn deny(mut self, operation: &str) -> Self {
        self.access_denied.push(AccessDeniedRule {
            operation: operation.into(),
            resource: None,
        });
        self
    }

    /// A built-in script by name (see [`BUILTIN`]).
    pub fn builtin(name: &str) -> Option<FaultScript> {
        let new = || ImageRule::new("new");
        let base = FaultScript::new();
        Some(match name {
            "healthy" => base,
            "crash" => base.image(new().crash_after(15)),
            "unhealthy-during-bake" => base.image(new().unhealthy_after(60)),
            "slow-start" => base.image(new().start_seconds(240)),
            "timeout" => base.image(new().start_seconds(7200)),
            "throttled" => base
                .throttle_every("DescribeServices", 3, 4, 10)
                .throttle_every("DescribeTargetHealth", 3, 4, 10)
                .throttle_every("DescribeTasks", 3, 4, 10),
            "access-denied" => base.deny("UpdateService"),
            "snapshot-fails" => base.snapshot_fails(true),
            "migration-fails" => base.one_off(
                super::gates::OneOffRule::new("*")
                    .exit_code(1)
                    .run_seconds(12)
                    .log_lines(&[
                        "> api@2.0.0 migrate",
                        "applying 20260301_add_orders_index.sql",
                        "ERROR: relation \"orders\" does not exist",
                        "migration failed; rolled back the transaction",
                    ]),
            ),
            "container-unhealthy" => base.image(new().container_healthy(false)),
            "slow-warm-up" => base.image(new().healthy_after(90)),
            _ => return None,
        })
    }

    /// Parse a script (YAML or JSON); unknown fields and operations are errors.
    pub fn from_yaml(text: &str) -> Result<FaultScript, String> {
        let script: FaultScript =
            serde_yaml::from_str(text).map_err(|e| format!("fault script: {e}"))?;
        script.validate()?;
        Ok(script)
    }

    /// A built-in script by name, else a script file at `name_or_path`.
    pub fn load(name_or_path: &str) -> Result<FaultScript, String> {
        if let Some(script) = FaultScript::builtin(name_or_path) {
            return Ok(script);
        }
        let text = std::fs::read_to_string(name_or_path).map_err(|e| {
            format!(
                "fault script `{name_or_path}` is neither a built-in ({}) nor a readable file: {e}",
                BUILTIN.join(", ")
            )
        })?;
        FaultScript::from_yaml(&text).map_err(|e| format!("{name_or_path}: {e}"))
    }

    fn validate(&self) -> Result<(), String> {
        let known = |op: &str| OPERATIONS.iter().any(|(o, _)| *o == op);
        let names = || {
            OPERATIONS
                .iter()
                .map(|(o, _)| *o)
                .collect::<Vec<_>>()
                .join(", ")
        };
        for op in self
            .throttle
            .iter()
            .map(|r| &r.operation)
            .chain(self.access_denied.iter().map(|r| &r.operation))
        {
            if !known(op) {
                return Err(format!(
                    "fault script: unknown operation `{op}` (one of: {})",
                    names()
                ));
            }
        }
        for rule in &self.throttle {
            if rule.every == Some(0) {
                return Err(format!(
                    "fault script: throttle of {}: `every` must be at least 1",
                    rule.operation
                ));
            }
        }
        if self.one_off_tasks.iter().any(|r| r.pattern.is_empty()) {
            return Err(
                "fault script: a oneOffTasks rule has an empty `match` (`*` matches any)".into(),
            );
        }
        if self.images.iter().any(|r| r.pattern.is_empty()) {
            return Err("fault script: an image rule has an empty `match`".into());
        }
        super::codebuild::validate_rules(&self.codebuild)
    }

    /// Whether the `n`th call (1-based) of `operation` is throttled.
    pub(super) fn throttles(&self, operation: &str, n: u64) -> bool {
        self.throttle
            .iter()
            .any(|r| r.operation == operation && r.throttles(n))
    }

    pub(super) fn denies(&self, operation: &str, resource: &str) -> bool {
        self.access_denied.iter().any(|r| {
            r.operation == operation && r.resource.as_ref().is_none_or(|s| resource.contains(s))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let text = r#"
seed: 7
taskStartSeconds: 20
snapshotSeconds: 120
snapshotFails: false
images:
  - match: new
    startSeconds: 240
    crashAfterSeconds: 15
    healthy: true
    unhealthyAfterSeconds: 90
throttle:
  - operation: DescribeTargetHealth
    afterCalls: 3
    count: 4
accessDenied:
  - operation: UpdateService
"#;
        let s = FaultScript::from_yaml(text).unwrap();
        assert_eq!(s.seed, 7);
        assert_eq!(s.images[0].start_seconds, Some(240));
        assert_eq!(s.images[0].unhealthy_after_seconds, Some(90));
        assert!(s.throttles("DescribeTargetHealth", 4));
        assert!(s.throttles("DescribeTargetHealth", 7));
        assert!(!s.throttles("DescribeTargetHealth", 3));
        assert!(!s.throttles("DescribeTargetHealth", 8));
        assert!(s.denies("UpdateService", "anything"));
        assert_eq!(s.circuit_breaker_minimum, 3);
    }

    #[test]
    fn rejects_unknown_fields_and_operations() {
        let e = FaultScript::from_yaml("seed: 1\ncrashes: true\n").unwrap_err();
        assert!(e.contains("crashes"), "{e}");
        let e =
            FaultScript::from_yaml("accessDenied:\n  - operation: DeleteService\n").unwrap_err();
        assert!(e.contains("DeleteService"), "{e}");
        let e = FaultScript::from_yaml("images:\n  - match: new\n    crash: 5\n").unwrap_err();
        assert!(e.contains("crash"), "{e}");
    }

    #[test]
    fn every_builtin_exists_and_round_trips() {
        for name in BUILTIN {
            let s = FaultScript::builtin(name).unwrap();
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(FaultScript::from_yaml(&json).unwrap(), s, "{name}");
            assert_eq!(FaultScript::load(name).unwrap(), s);
        }
        assert!(FaultScript::builtin("nope").is_none());
        assert!(FaultScript::load("/no/such/script.yaml").is_err());
    }

    #[test]
    fn repeating_throttle_bursts() {
        let s = FaultScript::builtin("throttled").unwrap();
        let hits: Vec<u64> = (1..=25)
            .filter(|n| s.throttles("DescribeServices", *n))
            .collect();
        assert_eq!(hits, vec![4, 5, 6, 7, 14, 15, 16, 17, 24, 25]);
    }

    #[test]
    fn iam_actions() {
        assert_eq!(iam_action("UpdateService"), "ecs:UpdateService");
        assert_eq!(
            iam_action("DescribeTargetHealth"),
            "elasticloadbalancing:DescribeTargetHealth"
        );
        assert_eq!(iam_action("ListObjectsV2"), "s3:ListBucket");
        assert_eq!(iam_action("GetParameters"), "ssm:GetParameters");
    }
}
