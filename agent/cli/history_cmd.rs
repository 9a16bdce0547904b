//! `amagent history [--env E] [--service S] [--outcome O] [--since T] [--limit N]`: what the
//! journal recorded, newest run first; manual rollbacks show as such (who, why, from → to).

use super::{Exit, OutputFormat, print_error, print_json};
use crate::cloud::aws::{Aws, Target};
use crate::state::journal::{
    Journal, JournalError, LocalJournal, Location, Phase, Record, S3Journal,
};
use std::collections::BTreeMap;

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
    (journal, simulated): (&str, bool),
    region: Option<&str>,
    filters: Filters<'_>,
    output: OutputFormat,
) -> Exit {
    let Filters {
        env,
        service,
        outcome,
        since,
        limit,
    } = filters;
    let location = match Location::parse(journal).and_then(|l| {
        crate::state::journal::realm::claim(&l, simulated)?;
        Ok(l)
    }) {
        Ok(l) => l,
        Err(e) => {
            print_error(output, "usage", &e.to_string());
            return Exit::Usage;
        }
    };
    let read = |location: &Location| -> Result<Vec<Record>, JournalError> {
        let runtime = super::sim_cmd::runtime(false);
        runtime.block_on(async {
            match location {
                Location::Dir(dir) => LocalJournal::new(dir).read(env).await,
                Location::S3 { bucket, prefix } => {
                    let aws = Aws::connect(Target {
                        // Only S3 is called: no account-scoped ARNs are built.
                        account: String::new(),
                        region: region.unwrap_or_default().to_string(),
                    })
                    .await;
                    S3Journal::new(aws.cloud().s3, bucket, prefix)
                        .read(env)
                        .await
                }
            }
        })
    };
    if matches!(location, Location::S3 { .. }) && region.is_none() {
        print_error(
            output,
            "usage",
            "an s3:// journal needs the bucket's region: --region or AWS_REGION",
        );
        return Exit::Usage;
    }
    let records = match read(&location) {
        Ok(r) => r,
        Err(e) => {
            print_error(output, "io", &e.to_string());
            return Exit::Io;
        }
    };
    let records: Vec<Record> = records
        .into_iter()
        .filter(|r| service.is_none() || r.service.as_deref() == service || r.service.is_none())
        .collect();
    // Runs in order of their first record, newest first.
    let mut runs: BTreeMap<String, Vec<&Record>> = BTreeMap::new();
    let mut order: Vec<(chrono::DateTime<chrono::Utc>, String)> = Vec::new();
    for r in &records {
        let entry = runs.entry(r.run.clone()).or_default();
        if entry.is_empty() {
            order.push((r.at, r.run.clone()));
        }
        entry.push(r);
    }
    // A manual rollback's run: who, why, and per service from → to.
    let rollback_of = |run: &[&Record]| -> Option<serde_json::Value> {
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
    };
    let finished_deploys = |run: &[&Record]| -> Vec<serde_json::Value> {
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
    };
    order.sort_by(|a, b| b.cmp(a));
    order.retain(|(at, id)| {
        let run = &runs[id];
        let in_time = since.is_none_or(|t| *at >= t);
        let deploys = finished_deploys(run);
        let rollback = rollback_of(run);
        // With --service, runs that did nothing to it are left out.
        let touched = service.is_none()
            || !deploys.is_empty()
            || rollback
                .as_ref()
                .is_some_and(|r| r["services"].as_array().is_some_and(|s| !s.is_empty()))
            || run.iter().any(|r| r.service.as_deref() == service);
        let outcome_ok = outcome.is_none_or(|o| {
            deploys.iter().any(|d| d["outcome"] == o)
                || rollback.as_ref().is_some_and(|r| {
                    r["services"]
                        .as_array()
                        .is_some_and(|s| s.iter().any(|x| x["outcome"] == o))
                })
        });
        in_time && touched && outcome_ok
    });
    order.truncate(limit);
    match output {
        OutputFormat::Json => {
            let list: Vec<serde_json::Value> = order
                .iter()
                .map(|(at, id)| {
                    serde_json::json!({
                        "run": id,
                        "started_at": at,
                        "env": runs[id].first().map(|r| r.env.clone()),
                        "deploys": finished_deploys(&runs[id]),
                        "rollback": rollback_of(&runs[id]),
                        "steps": runs[id],
                    })
                })
                .collect();
            print_json(&list);
        }
        OutputFormat::Text => {
            if order.is_empty() {
                crate::outln!("No deployments recorded in {location}.");
            }
            for (at, id) in &order {
                crate::outln!("{} {id}", at.format("%Y-%m-%d %H:%M:%S"));
                if let Some(rb) = rollback_of(&runs[id]) {
                    let reason = rb["reason"]
                        .as_str()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default();
                    crate::outln!(
                        "  ROLLBACK by {}{reason}",
                        rb["actor"].as_str().unwrap_or("unknown")
                    );
                    let short = |v: &serde_json::Value| {
                        v.as_str()
                            .map(crate::stages::deploy::rollout::short_td)
                            .unwrap_or("-")
                            .to_string()
                    };
                    for s in rb["services"].as_array().into_iter().flatten() {
                        let failure = s["failure"]
                            .as_str()
                            .map(|f| format!(": {f}"))
                            .unwrap_or_default();
                        crate::outln!(
                            "  {:<10} {:<9} rollback {} → {}{failure}",
                            s["service"].as_str().unwrap_or("-"),
                            s["outcome"].as_str().unwrap_or("-"),
                            short(&s["from"]),
                            short(&s["to"]),
                        );
                    }
                    continue;
                }
                for d in finished_deploys(&runs[id]) {
                    let td = d["task_definition"]
                        .as_str()
                        .map(crate::stages::deploy::rollout::short_td)
                        .unwrap_or("-");
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
                        "  {:<10} {:<9} {td}{rolled}{reason}",
                        d["service"].as_str().unwrap_or("-"),
                        d["outcome"].as_str().unwrap_or("-")
                    );
                }
            }
        }
    }
    Exit::Ok
}
