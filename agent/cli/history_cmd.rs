//! `amagent history [--env E] [--service S] [--outcome O] [--since T] [--limit N]`: what the
//! journal recorded, newest run first; manual rollbacks show as such (who, why, from → to).

use super::{Exit, OutputFormat, print_error, print_json};
use crate::cloud::aws::{Aws, Target};
use crate::config::suggest::did_you_mean;
use crate::state::journal::{
    Journal, JournalError, LocalJournal, Location, Phase, Record, S3Journal,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `journal`: a directory or `s3://bucket/prefix` (then AWS through the standard credential
/// chain, in `region`).
pub struct Filters<'a> {
    pub env: Option<&'a str>,
    pub service: Option<&'a str>,
    /// Runs with a deploy or rollback of this outcome.
    pub outcome: Option<&'a str>,
    /// Runs started at or after.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub limit: usize,
}

/// `journal`: the spec, and whether it is the journal of simulated runs.
pub fn run(
    dir: &Path,
    (journal, simulated): (&str, bool),
    region: Option<&str>,
    filters: Filters<'_>,
    output: OutputFormat,
) -> Exit {
    let location = match locate(journal, simulated, region) {
        Ok(l) => l,
        Err(message) => {
            print_error(output, "usage", &message);
            return Exit::Usage;
        }
    };
    let records = match read(&location, region) {
        Ok(r) => r,
        Err(e) => {
            print_error(output, "io", &e.to_string());
            return Exit::Io;
        }
    };
    if let Some(env) = filters.env
        && let Err(message) = known_environment(env, &records, dir)
    {
        print_error(output, "usage", &message);
        return Exit::Usage;
    }
    let service = filters.service;
    let records: Vec<Record> = records
        .into_iter()
        .filter(|r| filters.env.is_none_or(|e| r.env == e))
        .filter(|r| service.is_none() || r.service.as_deref() == service || r.service.is_none())
        .collect();
    let mut runs = Runs::of(&records);
    runs.select(&filters);
    match output {
        OutputFormat::Json => print_json(&serde_json::json!({ "runs": runs.to_json(service) })),
        OutputFormat::Text => runs.print_text(&location, service),
    }
    Exit::Ok
}

/// The journal's location, claimed for real or simulated runs; an s3:// one needs a region.
fn locate(journal: &str, simulated: bool, region: Option<&str>) -> Result<Location, String> {
    let location = Location::parse(journal)
        .and_then(|l| {
            crate::state::journal::realm::claim(&l, simulated)?;
            Ok(l)
        })
        .map_err(|e| e.to_string())?;
    if matches!(location, Location::S3 { .. }) && region.is_none() {
        return Err(
            "an s3:// journal needs the bucket's region: --journal-region or AWS_REGION".into(),
        );
    }
    Ok(location)
}

/// `--env` must name an environment the journal recorded or the checkout at `dir` has (when
/// neither knows any, there is nothing to check against).
fn known_environment(env: &str, records: &[Record], dir: &Path) -> Result<(), String> {
    let mut known: BTreeSet<String> = records.iter().map(|r| r.env.clone()).collect();
    if let Ok(model) = crate::config::load_dir(dir) {
        known.extend(model.environments.into_keys());
    }
    if known.is_empty() || known.contains(env) {
        return Ok(());
    }
    let names: Vec<&str> = known.iter().map(String::as_str).collect();
    let hint = did_you_mean(env, &names)
        .map(|n| format!(" — did you mean `{n}`?"))
        .unwrap_or_default();
    Err(format!(
        "no environment `{env}` in the journal or in {}/environments (environments: {}){hint}",
        dir.display(),
        names.join(", ")
    ))
}

/// Every record, from a directory or S3 (the standard credential chain).
fn read(location: &Location, region: Option<&str>) -> Result<Vec<Record>, JournalError> {
    let runtime = super::sim_cmd::runtime(false);
    runtime.block_on(async {
        match location {
            Location::Dir(dir) => LocalJournal::new(dir).read(None).await,
            Location::S3 { bucket, prefix } => {
                let aws = Aws::connect(Target {
                    // Only S3 is called: no account-scoped ARNs are built.
                    account: String::new(),
                    region: region.unwrap_or_default().to_string(),
                })
                .await;
                S3Journal::new(aws.cloud().s3, bucket, prefix)
                    .read(None)
                    .await
            }
        }
    })
}

/// The journal's records grouped by run, and the runs shown, newest first.
struct Runs<'a> {
    by_id: BTreeMap<String, Vec<&'a Record>>,
    order: Vec<(chrono::DateTime<chrono::Utc>, String)>,
}

impl<'a> Runs<'a> {
    /// Runs in order of their first record, newest first.
    fn of(records: &'a [Record]) -> Runs<'a> {
        let mut by_id: BTreeMap<String, Vec<&Record>> = BTreeMap::new();
        let mut order = Vec::new();
        for r in records {
            let entry = by_id.entry(r.run.clone()).or_default();
            if entry.is_empty() {
                order.push((r.at, r.run.clone()));
            }
            entry.push(r);
        }
        order.sort_by(|a, b| b.cmp(a));
        Runs { by_id, order }
    }

    /// Keep the runs that pass `--since`, `--service` and `--outcome`, at most `--limit`.
    fn select(&mut self, filters: &Filters<'_>) {
        let Runs { by_id, order } = self;
        order.retain(|(at, id)| {
            let run = &by_id[id];
            let in_time = filters.since.is_none_or(|t| *at >= t);
            in_time && touches(run, filters.service) && has_outcome(run, filters)
        });
        order.truncate(filters.limit);
    }

    fn to_json(&self, service: Option<&str>) -> Vec<serde_json::Value> {
        self.order
            .iter()
            .map(|(at, id)| {
                let run = &self.by_id[id];
                serde_json::json!({
                    "run": id,
                    "started_at": at,
                    "env": run.first().map(|r| r.env.clone()),
                    "deploys": finished_deploys(run, service),
                    "rollback": rollback_of(run, service),
                    "steps": run,
                })
            })
            .collect()
    }

    fn print_text(&self, location: &Location, service: Option<&str>) {
        if self.order.is_empty() {
            crate::outln!("No deployments recorded in {location}.");
        }
        for (at, id) in &self.order {
            crate::outln!("{} {id}", at.format("%Y-%m-%d %H:%M:%S"));
            let run = &self.by_id[id];
            match rollback_of(run, service) {
                Some(rollback) => print_rollback(&rollback),
                None => print_deploys(&finished_deploys(run, service)),
            }
        }
    }
}

/// With --service, runs that did nothing to it are left out.
fn touches(run: &[&Record], service: Option<&str>) -> bool {
    service.is_none()
        || !finished_deploys(run, service).is_empty()
        || rollback_of(run, service)
            .as_ref()
            .is_some_and(|r| r["services"].as_array().is_some_and(|s| !s.is_empty()))
        || run.iter().any(|r| r.service.as_deref() == service)
}

/// With --outcome, runs with a deploy or rollback of that outcome.
fn has_outcome(run: &[&Record], filters: &Filters<'_>) -> bool {
    filters.outcome.is_none_or(|o| {
        finished_deploys(run, filters.service)
            .iter()
            .any(|d| d["outcome"] == o)
            || rollback_of(run, filters.service).is_some_and(|r| {
                r["services"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|x| x["outcome"] == o))
            })
    })
}

/// A manual rollback's run: who, why, and per service from → to.
fn rollback_of(run: &[&Record], service: Option<&str>) -> Option<serde_json::Value> {
    let header = run.iter().find(|r| {
        r.step == "run" && r.detail.get("kind").and_then(|k| k.as_str()) == Some("rollback")
    })?;
    let services: Vec<serde_json::Value> = run
        .iter()
        .filter(|r| r.step == crate::rollback::STEP && r.phase == Phase::Finished)
        .filter(|r| service.is_none() || r.service.as_deref() == service)
        .map(|r| {
            serde_json::json!({
                "service": r.service,
                "outcome": r.outcome,
                "from": r.detail.get("from"),
                "to": r.detail.get("to"),
                "running": r.detail.get("running"),
                "failure": r.detail.get("failure"),
            })
        })
        .collect();
    Some(serde_json::json!({
        "actor": header.detail.get("actor"),
        "reason": header.detail.get("reason"),
        "services": services,
    }))
}

/// The run's finished deploys (of `service`, if given).
fn finished_deploys(run: &[&Record], service: Option<&str>) -> Vec<serde_json::Value> {
    run.iter()
        .filter(|r| r.step == "deploy" && r.phase == Phase::Finished)
        .filter(|r| service.is_none() || r.service.as_deref() == service)
        .map(|r| {
            serde_json::json!({
                "service": r.service,
                "outcome": r.outcome,
                "at": r.at,
                "task_definition": r.detail.get("task_definition"),
                "rolled_back": r.detail.get("rolled_back"),
                "reason": r.detail.get("reason"),
            })
        })
        .collect()
}

fn short_td(v: &serde_json::Value) -> String {
    v.as_str()
        .map(crate::stages::deploy::rollout::short_td)
        .unwrap_or("-")
        .to_string()
}

fn print_rollback(rollback: &serde_json::Value) {
    let reason = rollback["reason"]
        .as_str()
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    crate::outln!(
        "  ROLLBACK by {}{reason}",
        rollback["actor"].as_str().unwrap_or("unknown")
    );
    for s in rollback["services"].as_array().into_iter().flatten() {
        let failure = s["failure"]
            .as_str()
            .map(|f| format!(": {f}"))
            .unwrap_or_default();
        crate::outln!(
            "  {:<10} {:<9} rollback {} → {}{failure}",
            s["service"].as_str().unwrap_or("-"),
            s["outcome"].as_str().unwrap_or("-"),
            short_td(&s["from"]),
            short_td(&s["to"]),
        );
    }
}

fn print_deploys(deploys: &[serde_json::Value]) {
    for d in deploys {
        let rolled = if d["rolled_back"] == serde_json::json!(true) {
            ", rolled back"
        } else {
            ""
        };
        let reason = d["reason"]
            .as_str()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        crate::outln!(
            "  {:<10} {:<9} {}{rolled}{reason}",
            d["service"].as_str().unwrap_or("-"),
            d["outcome"].as_str().unwrap_or("-"),
            short_td(&d["task_definition"])
        );
    }
}
