//! PURE: what the status page shows, from the agent's [`Snapshot`] — the overview of
//! environments × services with the promotion chain, and a service's deploy history from the
//! journal. No I/O, no clock; the HTML is `page.rs`'s.

use super::board::{EnvSnapshot, ServiceSnapshot, Snapshot};
use crate::daemon::applied::{self, last_applied};
use crate::rollback::STEP as MANUAL_ROLLBACK;
use crate::stages::deploy::rollout::short_td;
use crate::state::journal::{Phase, Record};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// How many characters of a digest's hex (or a commit) the page shows; the rest is a click away.
const SHORT: usize = 12;

#[derive(Clone, Debug, PartialEq)]
pub struct Overview {
    pub head: String,
    pub at: DateTime<Utc>,
    pub environments: Vec<EnvView>,
    /// `from → to` for each promoted environment.
    pub chain: Vec<ChainLink>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EnvView {
    pub name: String,
    pub promoted_from: Option<String>,
    /// The promotion tag last applied (promoted environments), else the commit, short.
    pub version: Option<String>,
    pub services: Vec<ServiceRow>,
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    pub text: String,
    pub href: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServiceRow {
    pub service: String,
    /// `family:revision`.
    pub revision: Option<String>,
    /// `sha256:` and the first hex digits; `digest` whole.
    pub digest_short: Option<String>,
    pub digest: Option<String>,
    pub image: Option<String>,
    /// ECR tags of the running digest.
    pub tags: Vec<String>,
    pub source_ref: String,
    pub commit: Option<Link>,
    pub pull_requests: Vec<Link>,
    pub since: Option<DateTime<Utc>>,
    pub verified: bool,
    /// Who pinned it, when, why.
    pub pinned: Option<String>,
    /// The last deploy or rollback: whether it went well, and what it says.
    pub last: Option<(bool, String)>,
    pub error: Option<String>,
    /// The service's history page.
    pub href: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ChainLink {
    pub from: String,
    pub to: String,
    pub from_version: Option<String>,
    pub to_version: Option<String>,
    /// Per service of `to`: (service, digest short in `from`, in `to`).
    pub services: Vec<(String, Option<String>, Option<String>)>,
}

/// One deploy (or manual rollback) of a service, newest first on the page.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryRow {
    pub at: DateTime<Utc>,
    pub run: String,
    /// `deploy` or `rollback`.
    pub kind: String,
    pub succeeded: bool,
    /// Seconds from the start to the verdict.
    pub seconds: Option<f64>,
    /// The revision it deployed (or rolled back to, for a manual rollback).
    pub revision: Option<String>,
    pub reason: Option<String>,
    /// A failed deploy the gate rolled back: the revision it went back to.
    pub rolled_back_to: Option<String>,
    pub snapshot: Option<String>,
    pub commit: Option<Link>,
    pub pull_requests: Vec<Link>,
    /// The promotion tag of the run.
    pub tag: Option<String>,
}

pub fn overview(snapshot: &Snapshot) -> Overview {
    let mut environments: Vec<EnvView> = snapshot
        .environments
        .iter()
        .map(|env| env_view(snapshot, env))
        .collect();
    // Sources before the environments promoted from them (staging, then production).
    let depth = |name: &str| {
        let mut depth = 0;
        let mut at = name.to_string();
        while let Some(from) = snapshot
            .environments
            .iter()
            .find(|e| e.name == at)
            .and_then(|e| e.promoted_from.clone())
            .filter(|_| depth < snapshot.environments.len())
        {
            depth += 1;
            at = from;
        }
        depth
    };
    environments.sort_by_cached_key(|e| (depth(&e.name), e.name.clone()));
    let chain = environments
        .iter()
        .filter_map(|to| {
            let from = environments
                .iter()
                .find(|e| Some(&e.name) == to.promoted_from.as_ref())?;
            Some(chain_link(from, to))
        })
        .collect();
    Overview {
        head: snapshot.head.clone(),
        at: snapshot.at,
        environments,
        chain,
    }
}

fn env_view(snapshot: &Snapshot, env: &EnvSnapshot) -> EnvView {
    EnvView {
        name: env.name.clone(),
        promoted_from: env.promoted_from.clone(),
        version: version(&snapshot.records, &env.name),
        services: env
            .services
            .iter()
            .map(|s| service_row(snapshot, &env.name, s))
            .collect(),
        error: env.error.clone(),
    }
}

fn service_row(snapshot: &Snapshot, env: &str, s: &ServiceSnapshot) -> ServiceRow {
    let st = &s.status;
    let apply = st
        .commit
        .as_deref()
        .and_then(|c| apply_of_commit(&snapshot.records, env, c));
    ServiceRow {
        service: st.service.clone(),
        revision: st.revision.clone(),
        digest_short: st.digest.as_deref().map(short_digest),
        digest: st.digest.clone(),
        image: st.image.clone(),
        tags: st.tags.clone(),
        source_ref: s.source_ref.clone(),
        commit: st.commit.as_deref().map(|c| commit_link(snapshot, c)),
        pull_requests: apply.map(|r| prs(snapshot, r)).unwrap_or_default(),
        since: st.since,
        verified: st.verified,
        pinned: st.pin.as_ref().map(|p| {
            let why = p
                .reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            format!("pinned to {} by {}{why}", short_td(&p.to), p.by)
        }),
        last: st.last.as_ref().map(|l| {
            let ok = l.outcome == "succeeded";
            let what = match (ok, l.rolled_back) {
                (true, _) => format!("{} succeeded", l.kind),
                (false, true) => format!("{} failed, rolled back", l.kind),
                (false, false) => format!("{} {}", l.kind, l.outcome),
            };
            let reason = last_reason(&snapshot.records, env, &st.service, &l.run);
            (ok, reason.map_or(what.clone(), |r| format!("{what}: {r}")))
        }),
        error: st.error.clone(),
        href: format!("/services/{}/{}", path_part(env), path_part(&st.service)),
    }
}

fn chain_link(from: &EnvView, to: &EnvView) -> ChainLink {
    ChainLink {
        from: from.name.clone(),
        to: to.name.clone(),
        from_version: from.version.clone(),
        to_version: to.version.clone(),
        services: to
            .services
            .iter()
            .map(|s| {
                let upstream = from.services.iter().find(|f| f.service == s.service);
                (
                    s.service.clone(),
                    upstream.and_then(|f| f.digest_short.clone()),
                    s.digest_short.clone(),
                )
            })
            .collect(),
    }
}

/// The deploy history of `service` in `env`, newest first. One pass indexes the journal by
/// run, so a year of deploys renders in one go (`benches/ui.rs`).
pub fn history(snapshot: &Snapshot, env: &str, service: &str) -> Vec<HistoryRow> {
    let runs = Runs::of(&snapshot.records, env, service);
    let mut rows: Vec<HistoryRow> = snapshot
        .records
        .iter()
        .filter(|r| r.env == env && r.service.as_deref() == Some(service))
        .filter(|r| r.phase == Phase::Finished)
        .filter(|r| r.step == "deploy" || r.step == MANUAL_ROLLBACK)
        .map(|r| history_row(snapshot, &runs, r))
        .collect();
    rows.reverse();
    rows
}

/// What a history row needs from the rest of its run, by run id.
#[derive(Default)]
struct Runs<'r> {
    /// (run, step) → the service's started record.
    started: HashMap<(&'r str, &'r str), &'r Record>,
    /// run → the snapshot the run took.
    snapshots: HashMap<&'r str, &'r str>,
    /// run (the apply's own, or the executor's it names) → the apply's started record.
    applies: HashMap<&'r str, &'r Record>,
}

impl<'r> Runs<'r> {
    fn of(records: &'r [Record], env: &str, service: &str) -> Runs<'r> {
        let mut runs = Runs::default();
        let mut apply_started: HashMap<&str, &Record> = HashMap::new();
        for r in records.iter().filter(|r| r.env == env) {
            match (r.step.as_str(), r.phase, r.service.as_deref()) {
                ("snapshot", Phase::Finished, _) => {
                    if let Some(id) = r.detail["snapshot_id"].as_str() {
                        runs.snapshots.insert(&r.run, id);
                    }
                }
                (applied::STEP, Phase::Started, _) => {
                    apply_started.insert(&r.run, r);
                    runs.applies.insert(&r.run, r);
                }
                (applied::STEP, Phase::Finished, _) => {
                    let executor = r.detail["executor_run"].as_str();
                    if let (Some(executor), Some(s)) = (executor, apply_started.get(r.run.as_str()))
                    {
                        runs.applies.insert(executor, s);
                    }
                }
                (step, Phase::Started, Some(s)) if s == service => {
                    runs.started.entry((&r.run, step)).or_insert(r);
                }
                _ => {}
            }
        }
        runs
    }
}

fn history_row(snapshot: &Snapshot, runs: &Runs, r: &Record) -> HistoryRow {
    let d = &r.detail;
    let text = |key: &str| d[key].as_str().map(str::to_string);
    let manual = r.step == MANUAL_ROLLBACK;
    let started = runs.started.get(&(r.run.as_str(), r.step.as_str()));
    let apply = runs.applies.get(r.run.as_str());
    let rolled_back = d["rolled_back"].as_bool() == Some(true);
    HistoryRow {
        at: started.map_or(r.at, |s| s.at),
        run: r.run.clone(),
        kind: if manual { "rollback" } else { "deploy" }.into(),
        succeeded: r.outcome.as_deref() == Some("succeeded"),
        seconds: d["seconds"]
            .as_f64()
            .or_else(|| started.map(|s| (r.at - s.at).num_milliseconds() as f64 / 1000.0)),
        revision: if manual {
            text("to")
        } else {
            text("new_task_definition").or_else(|| text("task_definition"))
        }
        .map(|t| short_td(&t).to_string()),
        reason: text("reason").or_else(|| text("failure")),
        rolled_back_to: rolled_back
            .then(|| text("task_definition"))
            .flatten()
            .map(|t| short_td(&t).to_string()),
        snapshot: runs.snapshots.get(r.run.as_str()).map(|s| s.to_string()),
        commit: apply
            .and_then(|a| a.detail["commit"].as_str())
            .map(|c| commit_link(snapshot, c)),
        pull_requests: apply.map(|a| prs(snapshot, a)).unwrap_or_default(),
        tag: apply.and_then(|a| a.detail["tag"].as_str().map(str::to_string)),
    }
}

/// The promotion tag of the environment's last applied commit, else that commit, short.
fn version(records: &[Record], env: &str) -> Option<String> {
    let applied = last_applied(records).remove(env)?;
    let tag = records
        .iter()
        .rev()
        .filter(|r| r.env == env && r.step == applied::STEP && r.phase == Phase::Finished)
        .find(|r| r.detail["commit"].as_str() == Some(applied.commit.as_str()))
        .and_then(|r| r.detail["tag"].as_str().map(str::to_string));
    Some(tag.unwrap_or_else(|| short(&applied.commit).to_string()))
}

/// The newest `apply` record of `env` for `commit` that names pull requests.
fn apply_of_commit<'r>(records: &'r [Record], env: &str, commit: &str) -> Option<&'r Record> {
    records.iter().rev().find(|r| {
        r.env == env
            && r.step == applied::STEP
            && r.detail["commit"].as_str() == Some(commit)
            && r.detail["pull_requests"].is_array()
    })
}

/// Why the run's deploy of `service` failed, when it did.
fn last_reason(records: &[Record], env: &str, service: &str, run: &str) -> Option<String> {
    records
        .iter()
        .rev()
        .find(|r| {
            r.env == env
                && r.run == run
                && r.service.as_deref() == Some(service)
                && r.phase == Phase::Finished
                && r.outcome.as_deref() != Some("succeeded")
        })
        .and_then(|r| {
            let d = &r.detail;
            d["reason"]
                .as_str()
                .or(d["failure"].as_str())
                .map(str::to_string)
        })
}

fn prs(snapshot: &Snapshot, apply: &Record) -> Vec<Link> {
    apply.detail["pull_requests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_u64)
        .map(|n| Link {
            text: format!("#{n}"),
            href: snapshot.github.as_ref().map(|g| format!("{g}/pull/{n}")),
        })
        .collect()
}

fn commit_link(snapshot: &Snapshot, commit: &str) -> Link {
    Link {
        text: short(commit).to_string(),
        href: snapshot
            .github
            .as_ref()
            .map(|g| format!("{g}/commit/{commit}")),
    }
}

fn short(s: &str) -> &str {
    s.get(..SHORT).unwrap_or(s)
}

/// `sha256:0123456789ab` of `sha256:0123…`.
pub fn short_digest(digest: &str) -> String {
    match digest.split_once(':') {
        Some((algo, hex)) => format!("{algo}:{}", short(hex)),
        None => short(digest).to_string(),
    }
}

/// A name as one URL path segment (environment and service names are DNS-like, but a link
/// must not break on anything else).
pub fn path_part(name: &str) -> String {
    // The form encoder writes a space as `+` (and a `+` as `%2B`): in a path it must be `%20`.
    url::form_urlencoded::byte_serialize(name.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
