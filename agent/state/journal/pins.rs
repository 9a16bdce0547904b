//! PURE: pins. After `amagent rollback` a service is *pinned* to what it was rolled back to:
//! the agent loop must not deploy the same spec over it again on the next merge. A pin is a
//! journal record (`pin`); it is cleared by a later `resume` record, or by a later deploy by
//! the agent of a *different* service spec (the spec's fingerprint is journalled with every
//! deploy). [`hold`] is what `amagent run` asks before applying a plan.

use super::{Phase, Record};
use crate::config::Service;
use crate::plan::EnvironmentPlan;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// The journal step that pins a service (service-level, `finished`).
pub const PIN: &str = "pin";
/// The journal step that unpins it (`amagent resume`).
pub const RESUME: &str = "resume";
/// The journal step the agent records when it holds back a pinned service.
pub const HELD: &str = "pinned";

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Pin {
    pub env: String,
    pub service: String,
    /// Who rolled back (`--actor` or `$USER`).
    pub by: String,
    pub at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The environments-repo commit that was running when rolled back, if the journal knew it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Fingerprint of the spec that was running when rolled back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<String>,
    /// The task definition rolled back from, and to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub to: String,
    /// The environments-repo commit whose spec deployed `to` (None: unknown, or a manual
    /// deploy). When Git says that spec again (a revert merged), the pin is released.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restores: Option<String>,
    /// The rollback's run.
    pub run: String,
}

impl Pin {
    /// The record that pins.
    pub fn record(&self) -> Record {
        Record {
            at: self.at,
            run: self.run.clone(),
            env: self.env.clone(),
            service: Some(self.service.clone()),
            step: PIN.into(),
            phase: Phase::Finished,
            outcome: Some("succeeded".into()),
            detail: serde_json::json!({
                "by": self.by,
                "reason": self.reason,
                "commit": self.commit,
                "spec": self.spec,
                "from": self.from,
                "to": self.to,
                "restores": self.restores,
            }),
        }
    }

    /// What the agent says when it holds the service back.
    pub fn message(&self) -> String {
        format!(
            "pinned: rolled back by {} at {}{}; `amagent resume --env {} --service {}` to deploy again",
            self.by,
            self.at.format("%Y-%m-%d %H:%M:%SZ"),
            self.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
            self.env,
            self.service
        )
    }
}

/// The record that unpins (`amagent resume`).
pub fn resume_record(env: &str, service: &str, by: &str, at: DateTime<Utc>, run: &str) -> Record {
    Record {
        at,
        run: run.to_string(),
        env: env.to_string(),
        service: Some(service.to_string()),
        step: RESUME.into(),
        phase: Phase::Finished,
        outcome: Some("succeeded".into()),
        detail: serde_json::json!({ "by": by }),
    }
}

/// The pins in force after `records` (oldest first), by (env, service).
pub fn pins(records: &[Record]) -> BTreeMap<(String, String), Pin> {
    let mut out: BTreeMap<(String, String), Pin> = BTreeMap::new();
    // The spec fingerprint each deploy started with, by (run, service).
    let mut started_spec: HashMap<(&str, &str), &str> = HashMap::new();
    for r in records {
        let Some(service) = r.service.as_deref() else {
            continue;
        };
        let key = (r.env.clone(), service.to_string());
        let text = |field: &str| r.detail.get(field).and_then(|v| v.as_str());
        match (r.step.as_str(), r.phase) {
            (PIN, Phase::Finished) => {
                out.insert(
                    key,
                    Pin {
                        env: r.env.clone(),
                        service: service.to_string(),
                        by: text("by").unwrap_or("unknown").to_string(),
                        at: r.at,
                        reason: text("reason").map(String::from),
                        commit: text("commit").map(String::from),
                        spec: text("spec").map(String::from),
                        from: text("from").map(String::from),
                        to: text("to").unwrap_or_default().to_string(),
                        restores: text("restores").map(String::from),
                        run: r.run.clone(),
                    },
                );
            }
            (RESUME, Phase::Finished) => {
                out.remove(&key);
            }
            ("deploy", Phase::Started) => {
                if let Some(spec) = text("spec") {
                    started_spec.insert((r.run.as_str(), service), spec);
                }
            }
            ("deploy", Phase::Finished) if r.outcome.as_deref() == Some("succeeded") => {
                let Some(pin) = out.get(&key) else {
                    continue;
                };
                let spec = started_spec.get(&(r.run.as_str(), service)).copied();
                // A rollback's own deploy, or a deploy of the pinned spec, keeps the pin.
                if r.run != pin.run && spec.is_some() && spec != pin.spec.as_deref() {
                    out.remove(&key);
                }
            }
            _ => {}
        }
    }
    out
}

/// A service of a plan held back because it is pinned.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Held {
    pub service: String,
    pub pin: Pin,
    pub message: String,
}

/// What [`hold`] makes of a plan.
#[derive(Clone, Debug, PartialEq)]
pub struct Holding {
    /// The plan without the services held or released.
    pub plan: EnvironmentPlan,
    pub held: Vec<Held>,
    /// Pinned services whose spec in Git is again the one that deployed what runs (a revert
    /// merged): their pin is lifted and nothing is deployed — Git and the service agree.
    pub released: Vec<Pin>,
}

/// Split a plan: services pinned in `pins` whose spec did not change between the pin's commit
/// and the new head are held back; those whose spec at the head is the one that deployed the
/// revision rolled back to (the pin's `restores` commit) are released without a deploy; the
/// rest stay in the plan (a service whose spec changed otherwise is deployed, and that deploy
/// unpins it). `spec_at(commit)` is the service's spec at a commit (None: absent or
/// unreadable); `fallback` is the commit to compare with when the pin knows none (the last
/// commit applied). A spec that cannot be compared is held: a person rolled it back, and
/// `amagent resume` releases it.
pub fn hold(
    plan: &EnvironmentPlan,
    pins: &BTreeMap<(String, String), Pin>,
    head_spec: impl Fn(&str) -> Option<Service>,
    spec_at: impl Fn(&str, &str) -> Option<Service>,
    fallback: &str,
) -> Holding {
    let mut out = Holding {
        plan: plan.clone(),
        held: Vec::new(),
        released: Vec::new(),
    };
    out.plan.services.retain(|s| {
        let Some(pin) = pins.get(&(plan.name.clone(), s.name.clone())) else {
            return true;
        };
        let commit = pin.commit.as_deref().unwrap_or(fallback);
        let then = spec_at(commit, &s.name);
        let now = head_spec(&s.name);
        let restored = pin.restores.as_deref().and_then(|c| spec_at(c, &s.name));
        if now.is_some() && restored == now && restored != then {
            out.released.push(pin.clone());
            return false;
        }
        let changed = matches!((&then, &now), (Some(a), Some(b)) if a != b);
        if !changed {
            out.held.push(Held {
                service: s.name.clone(),
                pin: pin.clone(),
                message: pin.message(),
            });
        }
        changed
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Change, ServicePlan, Trigger};

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + minute * 60, 0).unwrap()
    }

    fn pin(service: &str, minute: i64, commit: Option<&str>, spec: &str) -> Pin {
        Pin {
            env: "staging".into(),
            service: service.into(),
            by: "alice".into(),
            at: at(minute),
            reason: Some("500s after v2".into()),
            commit: commit.map(String::from),
            spec: Some(spec.into()),
            from: Some("td:44".into()),
            to: "td:43".into(),
            restores: None,
            run: format!("rollback-{minute}"),
        }
    }

    fn deploy(service: &str, minute: i64, run: &str, spec: &str, outcome: &str) -> Vec<Record> {
        let base = Record {
            at: at(minute),
            run: run.into(),
            env: "staging".into(),
            service: Some(service.into()),
            step: "deploy".into(),
            phase: Phase::Started,
            outcome: None,
            detail: serde_json::json!({ "spec": spec }),
        };
        let finished = Record {
            phase: Phase::Finished,
            outcome: Some(outcome.into()),
            detail: serde_json::json!({ "task_definition": "td:45" }),
            ..base.clone()
        };
        vec![base, finished]
    }

    #[test]
    fn a_pin_holds_until_resumed() {
        let p = pin("api", 1, Some("c1"), "spec-a");
        let mut records = vec![p.record()];
        let found = pins(&records);
        assert_eq!(found[&("staging".into(), "api".into())], p);
        records.push(resume_record("staging", "api", "bob", at(2), "resume-1"));
        assert!(pins(&records).is_empty());
        // Pinned again later: in force again.
        records.push(pin("api", 3, None, "spec-a").record());
        assert_eq!(pins(&records).len(), 1);
    }

    #[test]
    fn a_deploy_of_a_different_spec_unpins_the_same_spec_does_not() {
        let p = pin("api", 1, Some("c1"), "spec-a");
        let mut records = vec![p.record()];
        // The same spec again (e.g. a pipeline change rebuilt it): still pinned.
        records.extend(deploy("api", 2, "run-2", "spec-a", "succeeded"));
        assert_eq!(pins(&records).len(), 1);
        // Another service's deploy: nothing to do with this pin.
        records.extend(deploy("worker", 3, "run-3", "spec-w", "succeeded"));
        assert_eq!(pins(&records).len(), 1);
        // A different spec that failed: still pinned.
        records.extend(deploy("api", 4, "run-4", "spec-b", "failed"));
        assert_eq!(pins(&records).len(), 1);
        // A different spec, verified: unpinned.
        records.extend(deploy("api", 5, "run-5", "spec-b", "succeeded"));
        assert!(pins(&records).is_empty());
    }

    #[test]
    fn the_rollbacks_own_deploy_keeps_its_pin() {
        let p = pin("api", 2, Some("c1"), "spec-a");
        let mut records = deploy("api", 1, &p.run, "spec-z", "succeeded");
        records.push(p.record());
        assert_eq!(pins(&records).len(), 1);
    }

    fn plan(services: &[&str]) -> EnvironmentPlan {
        EnvironmentPlan {
            name: "staging".into(),
            change: Change::Modified,
            trigger: Trigger::Merge,
            services: services
                .iter()
                .map(|s| ServicePlan {
                    name: s.to_string(),
                    change: Change::Modified,
                    stages: Vec::new(),
                })
                .collect(),
        }
    }

    fn spec(name: &str, reference: &str) -> Service {
        let mut s = crate::config::example().environments["staging"].services[0].clone();
        s.name = name.into();
        s.source.reference = reference.into();
        s
    }

    #[test]
    fn a_pinned_service_whose_spec_is_unchanged_is_held() {
        let pins = BTreeMap::from([(
            ("staging".to_string(), "api".to_string()),
            pin("api", 1, Some("c1"), "spec-a"),
        )]);
        let head = |name: &str| Some(spec(name, "v2.0.0"));
        // At the pinned commit the spec was the same: held, the worker goes on.
        let Holding {
            plan: kept, held, ..
        } = hold(
            &plan(&["api", "worker"]),
            &pins,
            head,
            |commit, name| {
                assert_eq!(commit, "c1");
                Some(spec(name, "v2.0.0"))
            },
            "c0",
        );
        assert_eq!(kept.services.len(), 1);
        assert_eq!(kept.services[0].name, "worker");
        assert_eq!(held.len(), 1);
        assert!(
            held[0]
                .message
                .starts_with("pinned: rolled back by alice at "),
            "{}",
            held[0].message
        );
        assert!(
            held[0]
                .message
                .ends_with("`amagent resume --env staging --service api` to deploy again")
        );
    }

    #[test]
    fn a_pinned_service_whose_spec_changed_in_git_is_deployed() {
        let pins = BTreeMap::from([(
            ("staging".to_string(), "api".to_string()),
            pin("api", 1, None, "spec-a"),
        )]);
        let Holding {
            plan: kept, held, ..
        } = hold(
            &plan(&["api"]),
            &pins,
            |name| Some(spec(name, "v2.0.1")),
            |commit, name| {
                // No commit on the pin: compared with the last applied one.
                assert_eq!(commit, "c0");
                Some(spec(name, "v2.0.0"))
            },
            "c0",
        );
        assert_eq!(kept.services.len(), 1);
        assert!(held.is_empty());
    }

    #[test]
    fn a_spec_that_cannot_be_compared_is_held_and_resume_releases_it() {
        let mut records = vec![pin("api", 1, Some("gone"), "spec-a").record()];
        let Holding {
            plan: kept, held, ..
        } = hold(
            &plan(&["api"]),
            &pins(&records),
            |name| Some(spec(name, "v2.0.1")),
            |_, _| None,
            "c0",
        );
        assert!(kept.services.is_empty());
        assert_eq!(held.len(), 1);
        records.push(resume_record("staging", "api", "alice", at(2), "r"));
        let Holding {
            plan: kept, held, ..
        } = hold(
            &plan(&["api"]),
            &pins(&records),
            |name| Some(spec(name, "v2.0.1")),
            |_, _| None,
            "c0",
        );
        assert_eq!(kept.services.len(), 1);
        assert!(held.is_empty());
    }

    #[test]
    fn git_saying_again_what_runs_releases_the_pin_without_a_deploy() {
        let mut p = pin("api", 1, Some("bad"), "spec-b");
        p.restores = Some("good".into());
        let pins = BTreeMap::from([(("staging".to_string(), "api".to_string()), p.clone())]);
        let at_commit = |commit: &str, name: &str| {
            Some(spec(
                name,
                if commit == "good" { "v1.9.0" } else { "v2.0.0" },
            ))
        };
        // The revert merged: the head says v1.9.0 again.
        let out = hold(
            &plan(&["api"]),
            &pins,
            |n| Some(spec(n, "v1.9.0")),
            at_commit,
            "c0",
        );
        assert!(out.plan.services.is_empty(), "{:?}", out.plan);
        assert!(out.held.is_empty());
        assert_eq!(out.released, vec![p.clone()]);
        // Anything else: the usual rules (a new spec deploys, the pinned one is held).
        let out = hold(
            &plan(&["api"]),
            &pins,
            |n| Some(spec(n, "v2.0.1")),
            at_commit,
            "c0",
        );
        assert_eq!((out.plan.services.len(), out.released.len()), (1, 0));
        let out = hold(
            &plan(&["api"]),
            &pins,
            |n| Some(spec(n, "v2.0.0")),
            at_commit,
            "c0",
        );
        assert_eq!((out.held.len(), out.released.len()), (1, 0));
    }
}
