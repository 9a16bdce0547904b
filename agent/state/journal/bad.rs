//! Known-bad images: a digest that failed the health gate for a service, or that someone rolled
//! back from with a reason, is bad for that service until someone clears it (`amagent
//! unblock`, an `unblock` record). Deploys and promotions refuse a bad digest unless told to
//! allow it. Pure: read from the journal's records, so it survives restarts.

use super::{Phase, Record};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The journal step that clears a bad digest.
pub const UNBLOCK: &str = "unblock";

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BadDigest {
    pub digest: String,
    /// What made it bad: the gate's verdict or the rollback's reason.
    pub reason: String,
    pub run: String,
    pub at: DateTime<Utc>,
}

/// `host/repo@sha256:…` → `sha256:…`.
pub fn digest_of(image: &str) -> Option<&str> {
    image.split_once('@').map(|(_, d)| d)
}

/// The digests bad for (env, service) now, newest verdict first, one entry per digest.
pub fn bad_digests(records: &[Record], env: &str, service: &str) -> Vec<BadDigest> {
    let mine = records
        .iter()
        .filter(|r| r.env == env && r.service.as_deref() == Some(service));
    let mut bad: Vec<BadDigest> = Vec::new();
    for r in mine {
        if r.step == UNBLOCK {
            if let Some(d) = r.detail["digest"].as_str() {
                bad.retain(|b| b.digest != d);
            }
            continue;
        }
        if let Some((digest, reason)) = verdict(records, r) {
            bad.retain(|b| b.digest != digest);
            bad.push(BadDigest {
                digest,
                reason,
                run: r.run.clone(),
                at: r.at,
            });
        }
    }
    bad.reverse();
    bad
}

/// Whether `r` declares a digest bad: a deploy the gate failed, or a manual rollback away
/// from a revision with a reason (the revision's image, from the deploy that verified it).
fn verdict(records: &[Record], r: &Record) -> Option<(String, String)> {
    if r.phase != Phase::Finished {
        return None;
    }
    let d = &r.detail;
    match r.step.as_str() {
        // Rolled and failed: a deploy stopped before rolling (no new revision) says nothing
        // about its image.
        "deploy"
            if r.outcome.as_deref() == Some("failed")
                && d["failure_kind"] == "rollout"
                && d["new_task_definition"].is_string() =>
        {
            let digest = digest_of(d["image"].as_str()?)?.to_string();
            let why = d["reason"].as_str().unwrap_or("failed the health gate");
            Some((digest, format!("failed the health gate: {why}")))
        }
        crate::rollback::STEP if r.outcome.as_deref() == Some("succeeded") => {
            let reason = d["reason"].as_str()?;
            let from = digest_of(verified_image(records, r, d["from"].as_str()?)?)?;
            // Back to the same image: the configuration was at fault, not the image.
            let to = d["to"]
                .as_str()
                .and_then(|to| verified_image(records, r, to));
            if to.and_then(digest_of) == Some(from) {
                return None;
            }
            let by = d["actor"].as_str().unwrap_or("someone");
            Some((from.to_string(), format!("rolled back by {by}: {reason}")))
        }
        _ => None,
    }
}

/// The image the deploy that verified `task_definition` for `r`'s service ran.
fn verified_image<'r>(records: &'r [Record], r: &Record, task_definition: &str) -> Option<&'r str> {
    records.iter().rev().find_map(|x| {
        (x.step == "deploy"
            && x.env == r.env
            && x.service == r.service
            && x.outcome.as_deref() == Some("succeeded")
            && x.detail["task_definition"] == task_definition)
            .then(|| x.detail["image"].as_str())
            .flatten()
    })
}

/// The record that clears `digest` for (env, service).
pub fn unblock_record(
    env: &str,
    service: &str,
    digest: &str,
    by: &str,
    at: DateTime<Utc>,
) -> Record {
    Record {
        at,
        run: format!("{env}-unblock-{}", at.format("%Y%m%dT%H%M%SZ")),
        env: env.to_string(),
        service: Some(service.to_string()),
        step: UNBLOCK.into(),
        phase: Phase::Finished,
        outcome: Some("succeeded".into()),
        detail: serde_json::json!({ "digest": digest, "by": by }),
    }
}

#[cfg(test)]
mod tests;
