//! The pure part of a rollback: which revision to return to, chosen from the journal —
//! [`lineage`] (the stack of verified revisions) and [`choose`] (N steps back, or a named one).

use super::*;

/// A revision the agent verified healthy for a service.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verified {
    pub task_definition: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    pub at: DateTime<Utc>,
    pub run: String,
    /// The environments-repo commit the run applied (None: a manual deploy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The spec fingerprint the deploy started with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<String>,
}

impl Verified {
    fn matches(&self, wanted: &str) -> bool {
        let td = self.task_definition.as_str();
        if td == wanted || short_td(td) == wanted {
            return true;
        }
        let digest = self
            .image
            .as_deref()
            .and_then(|i| i.split_once('@'))
            .map(|(_, d)| d);
        match (digest, wanted.starts_with("sha256:")) {
            // A digest, or an unambiguous prefix of one (12 hex digits at least).
            (Some(d), true) => d == wanted || (wanted.len() >= 19 && d.starts_with(wanted)),
            _ => false,
        }
    }

    /// `family:revision  time  repo@sha256:…` for lists.
    pub fn line(&self) -> String {
        format!(
            "{}  verified {}  {}",
            short_td(&self.task_definition),
            self.at.format("%Y-%m-%d %H:%M:%SZ"),
            self.image
                .as_deref()
                .map(crate::stages::deploy::rollout::short_image)
                .unwrap_or_else(|| "-".into())
        )
    }
}

/// Runs that were manual rollbacks (their engine records are not deploys of new work).
fn rollback_runs(records: &[Record]) -> BTreeSet<&str> {
    records
        .iter()
        .filter(|r| r.step == STEP)
        .map(|r| r.run.as_str())
        .collect()
}

/// The commit each run applied: the executor's `run` record (agent runs carry the commit).
fn run_commits(records: &[Record]) -> HashMap<&str, String> {
    records
        .iter()
        .filter(|r| r.step == "run" && r.phase == Phase::Started && r.service.is_none())
        .filter_map(|r| {
            Some((
                r.run.as_str(),
                r.detail.get("commit")?.as_str()?.to_string(),
            ))
        })
        .collect()
}

/// Every verification of `service` in `env`, oldest first (deploys and automatic rollbacks
/// that verified, and manual rollbacks' deploys).
pub fn verifications(records: &[Record], env: &str, service: &str) -> Vec<Verified> {
    scan(records, env, service)
        .into_iter()
        .map(|(_, v)| v)
        .collect()
}

/// [`verifications`] with the index of the record each comes from.
fn scan(records: &[Record], env: &str, service: &str) -> Vec<(usize, Verified)> {
    let commits = run_commits(records);
    let mut started: HashMap<&str, (Option<String>, Option<String>)> = HashMap::new();
    let mut out = Vec::new();
    for (i, r) in records.iter().enumerate() {
        if r.env != env || r.service.as_deref() != Some(service) {
            continue;
        }
        let text = |f: &str| r.detail.get(f).and_then(|v| v.as_str()).map(String::from);
        if r.step == "deploy" && r.phase == Phase::Started {
            started.insert(r.run.as_str(), (text("image"), text("spec")));
            continue;
        }
        if r.phase != Phase::Finished
            || !matches!(r.step.as_str(), "deploy" | "verified")
            || r.outcome.as_deref() != Some("succeeded")
        {
            continue;
        }
        let Some(td) = text("task_definition") else {
            continue;
        };
        let (image, spec) = started.get(r.run.as_str()).cloned().unwrap_or_default();
        let deploy = r.step == "deploy";
        out.push((
            i,
            Verified {
                task_definition: td,
                // An automatic rollback's `verified` is not the image the run deployed.
                image: if deploy {
                    text("image").or(image)
                } else {
                    None
                },
                at: r.at,
                run: r.run.clone(),
                commit: commits.get(r.run.as_str()).cloned(),
                spec: if deploy { spec } else { None },
            },
        ));
    }
    out
}

/// The stack of verified revisions a rollback walks back through, oldest first, each revision
/// once: a verified deploy goes on top; a manual rollback to X drops what was above X.
pub fn lineage(records: &[Record], env: &str, service: &str) -> Vec<Verified> {
    let rollbacks = rollback_runs(records);
    let mut verified = scan(records, env, service).into_iter().peekable();
    let mut stack: Vec<Verified> = Vec::new();
    for (i, r) in records.iter().enumerate() {
        if let Some((_, v)) = verified.next_if(|(at, _)| *at == i) {
            if rollbacks.contains(v.run.as_str()) {
                continue;
            }
            match stack
                .iter()
                .position(|s| s.task_definition == v.task_definition)
            {
                // Verified again: keep the first verification's details, move it up.
                Some(at) => {
                    let first = stack.remove(at);
                    stack.push(Verified { at: v.at, ..first });
                }
                None => stack.push(v),
            }
        } else if r.step == STEP
            && r.env == env
            && r.service.as_deref() == Some(service)
            && r.phase == Phase::Finished
            && r.outcome.as_deref() == Some("succeeded")
            && let Some(to) = r.detail.get("to").and_then(|v| v.as_str())
            && let Some(at) = stack.iter().position(|s| s.task_definition == to)
        {
            stack.truncate(at + 1);
        }
    }
    stack
}

/// Which revision to return to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// N verified revisions back from the one running now (1: the previous one).
    Steps(usize),
    /// A revision a verified deploy used: `family:revision`, a task definition ARN, or an
    /// image digest (`sha256:…`, or its first 12 hex digits at least).
    To(String),
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ChoiceError {
    #[error("no verified deploy of {service} used `{wanted}`")]
    Unknown {
        service: String,
        wanted: String,
        /// Every revision verified for the service, newest first.
        verified: Vec<Verified>,
    },
    #[error(
        "{service}: {available} verified revision(s) before the one running now, {steps} step(s) asked"
    )]
    TooFew {
        service: String,
        steps: usize,
        available: usize,
        /// The ones there are, newest first.
        verified: Vec<Verified>,
    },
}

impl ChoiceError {
    pub fn verified(&self) -> &[Verified] {
        match self {
            ChoiceError::Unknown { verified, .. } | ChoiceError::TooFew { verified, .. } => {
                verified
            }
        }
    }
}

/// The target for `service`, running `running` now (None: unknown).
pub fn choose(
    records: &[Record],
    env: &str,
    service: &str,
    running: Option<&str>,
    selector: &Selector,
) -> Result<Verified, ChoiceError> {
    let stack = lineage(records, env, service);
    match selector {
        Selector::Steps(steps) => {
            // Running something never verified (or unknown): the newest verified is one back.
            let here = running
                .and_then(|r| stack.iter().rposition(|s| s.task_definition == r))
                .unwrap_or(stack.len());
            let steps = (*steps).max(1);
            if steps > here {
                return Err(ChoiceError::TooFew {
                    service: service.to_string(),
                    steps,
                    available: here,
                    verified: stack[..here].iter().rev().cloned().collect(),
                });
            }
            Ok(stack[here - steps].clone())
        }
        Selector::To(wanted) => {
            let mut all = verifications(records, env, service);
            all.reverse();
            if let Some(found) = all.iter().find(|v| v.matches(wanted)) {
                // The newest verification of that revision, with its details.
                return Ok(found.clone());
            }
            let mut seen = BTreeSet::new();
            all.retain(|v| seen.insert(v.task_definition.clone()));
            Err(ChoiceError::Unknown {
                service: service.to_string(),
                wanted: wanted.clone(),
                verified: all,
            })
        }
    }
}

/// The environments-repo commit that was running, for the pin: the run that verified
/// `running`, else the last commit the agent applied to the environment.
pub fn running_commit(
    records: &[Record],
    env: &str,
    service: &str,
    running: &str,
) -> Option<String> {
    verifications(records, env, service)
        .iter()
        .rev()
        .find(|v| v.task_definition == running && v.commit.is_some())
        .and_then(|v| v.commit.clone())
        .or_else(|| {
            crate::daemon::applied::last_applied(records)
                .remove(env)
                .map(|a| a.commit)
        })
}

/// The spec fingerprint the running revision was deployed with, if the journal knows.
pub(super) fn running_spec(
    records: &[Record],
    env: &str,
    service: &str,
    running: &str,
) -> Option<String> {
    verifications(records, env, service)
        .iter()
        .rev()
        .find(|v| v.task_definition == running && v.spec.is_some())
        .and_then(|v| v.spec.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + s, 0).unwrap()
    }

    fn rec(
        s: i64,
        run: &str,
        step: &str,
        phase: Phase,
        outcome: Option<&str>,
        detail: serde_json::Value,
    ) -> Record {
        Record {
            at: at(s),
            run: run.into(),
            env: "staging".into(),
            service: Some("api".into()),
            step: step.into(),
            phase,
            outcome: outcome.map(String::from),
            detail,
        }
    }

    /// A verified deploy of `td` (image `…@sha256:<digest>`).
    fn deployed(s: i64, run: &str, td: &str, digest: &str) -> Vec<Record> {
        let image = format!("reg/aussie-markets/api@sha256:{digest}");
        vec![
            rec(
                s,
                run,
                "deploy",
                Phase::Started,
                None,
                serde_json::json!({ "image": image, "spec": "s" }),
            ),
            rec(
                s + 1,
                run,
                "deploy",
                Phase::Finished,
                Some("succeeded"),
                serde_json::json!({ "task_definition": td, "image": image }),
            ),
        ]
    }

    fn td(n: u32) -> String {
        format!("arn:aws:ecs:ap-southeast-2:1:task-definition/aussie-markets-api-task:{n}")
    }

    fn three() -> Vec<Record> {
        let mut r = deployed(10, "r1", &td(43), &"a".repeat(64));
        r.extend(deployed(20, "r2", &td(44), &"b".repeat(64)));
        r.extend(deployed(30, "r3", &td(45), &"c".repeat(64)));
        r
    }

    fn short(v: Result<Verified, ChoiceError>) -> String {
        short_td(&v.unwrap().task_definition).to_string()
    }

    #[test]
    fn default_is_the_verified_revision_before_the_running_one() {
        let r = three();
        let pick = |running: Option<&str>, steps| {
            short(choose(
                &r,
                "staging",
                "api",
                running,
                &Selector::Steps(steps),
            ))
        };
        assert_eq!(pick(Some(&td(45)), 1), "aussie-markets-api-task:44");
        assert_eq!(pick(Some(&td(45)), 2), "aussie-markets-api-task:43");
        // Running a revision never verified (a failed deploy left in place): the newest
        // verified one is one step back.
        assert_eq!(pick(Some(&td(46)), 1), "aussie-markets-api-task:45");
        let err = choose(&r, "staging", "api", Some(&td(45)), &Selector::Steps(3)).unwrap_err();
        assert!(
            matches!(err, ChoiceError::TooFew { available: 2, .. }),
            "{err:?}"
        );
        assert_eq!(err.verified().len(), 2);
    }

    #[test]
    fn to_accepts_family_revision_arn_and_digest() {
        let r = three();
        let to = |w: &str| {
            short(choose(
                &r,
                "staging",
                "api",
                Some(&td(45)),
                &Selector::To(w.into()),
            ))
        };
        assert_eq!(
            to("aussie-markets-api-task:43"),
            "aussie-markets-api-task:43"
        );
        assert_eq!(to(&td(44)), "aussie-markets-api-task:44");
        assert_eq!(
            to(&format!("sha256:{}", "a".repeat(64))),
            "aussie-markets-api-task:43"
        );
        assert_eq!(
            to(&format!("sha256:{}", "b".repeat(12))),
            "aussie-markets-api-task:44"
        );
        let err = choose(
            &r,
            "staging",
            "api",
            None,
            &Selector::To("aussie-markets-api-task:7".into()),
        )
        .unwrap_err();
        assert!(matches!(err, ChoiceError::Unknown { .. }));
        let listed: Vec<String> = err
            .verified()
            .iter()
            .map(|v| short_td(&v.task_definition).to_string())
            .collect();
        assert_eq!(
            listed,
            [
                "aussie-markets-api-task:45",
                "aussie-markets-api-task:44",
                "aussie-markets-api-task:43"
            ]
        );
    }

    #[test]
    fn a_second_rollback_goes_further_back_not_forward_again() {
        let mut r = three();
        // Rolled back 45 → 44: the engine's deploy of 44 verified, then the manual step.
        r.push(rec(
            40,
            "rb",
            STEP,
            Phase::Started,
            None,
            serde_json::json!({ "from": td(45), "to": td(44) }),
        ));
        r.extend(deployed(41, "rb", &td(44), &"b".repeat(64)));
        r.push(rec(
            43,
            "rb",
            STEP,
            Phase::Finished,
            Some("succeeded"),
            serde_json::json!({ "from": td(45), "to": td(44) }),
        ));
        let stack: Vec<String> = lineage(&r, "staging", "api")
            .iter()
            .map(|v| short_td(&v.task_definition).to_string())
            .collect();
        assert_eq!(
            stack,
            ["aussie-markets-api-task:43", "aussie-markets-api-task:44"]
        );
        assert_eq!(
            short(choose(
                &r,
                "staging",
                "api",
                Some(&td(44)),
                &Selector::Steps(1)
            )),
            "aussie-markets-api-task:43"
        );
        // A new deploy after the rollback goes on top.
        r.extend(deployed(50, "r4", &td(46), &"d".repeat(64)));
        assert_eq!(
            short(choose(
                &r,
                "staging",
                "api",
                Some(&td(46)),
                &Selector::Steps(1)
            )),
            "aussie-markets-api-task:44"
        );
    }

    #[test]
    fn the_commit_running_comes_from_the_run_that_verified_it() {
        let mut r = vec![Record {
            service: None,
            ..rec(
                9,
                "r1",
                "run",
                Phase::Started,
                None,
                serde_json::json!({ "commit": "c0ffee" }),
            )
        }];
        r.extend(three());
        assert_eq!(
            running_commit(&r, "staging", "api", &td(43)).as_deref(),
            Some("c0ffee")
        );
        assert_eq!(running_commit(&r, "staging", "api", &td(45)), None);
    }
}
