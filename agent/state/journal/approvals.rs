//! PURE: approvals of promotions. A tag that would promote to an environment with
//! `promotion.approval` waits: the agent journals that it asked (`approval`, `awaiting`, with
//! the pull requests it asked on), then an approver's decision (`approved` / `rejected`, with
//! who and how) is journalled too. Decisions are per (environment, tag): an approval of an
//! older tag never lets a newer one through, and a restarted agent keeps waiting.

use super::{Phase, Record};
use chrono::{DateTime, Utc};

/// The journal step.
pub const STEP: &str = "approval";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nobody asked yet.
    NotAsked,
    /// Asked on these pull requests; no decision yet.
    Awaiting {
        pull_requests: Vec<u64>,
    },
    Approved {
        by: String,
    },
    Rejected {
        by: String,
        reason: Option<String>,
    },
}

/// Where a decision came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// `/amagent approve` on a pull request.
    Comment(u64),
    /// `amagent approve` in a terminal.
    Cli,
}

fn of(r: &Record, env: &str, tag: &str) -> bool {
    r.env == env && r.step == STEP && r.detail["tag"].as_str() == Some(tag)
}

/// The decision on promoting `tag` to `env` after `records` (oldest first).
pub fn decision(records: &[Record], env: &str, tag: &str) -> Decision {
    let mut out = Decision::NotAsked;
    for r in records.iter().filter(|r| of(r, env, tag)) {
        let by = || r.detail["by"].as_str().unwrap_or("unknown").to_string();
        out = match r.outcome.as_deref() {
            Some("approved") => Decision::Approved { by: by() },
            Some("rejected") => Decision::Rejected {
                by: by(),
                reason: r.detail["reason"].as_str().map(String::from),
            },
            _ => Decision::Awaiting {
                pull_requests: r.detail["pull_requests"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|n| n.as_u64()).collect())
                    .unwrap_or_default(),
            },
        };
    }
    out
}

/// The promotions awaiting a decision that asked on pull request `pr`: (env, tag).
pub fn awaiting_on(records: &[Record], pr: u64) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for r in records.iter().filter(|r| r.step == STEP) {
        let Some(tag) = r.detail["tag"].as_str() else {
            continue;
        };
        let key = (r.env.clone(), tag.to_string());
        if out.contains(&key) {
            continue;
        }
        if let Decision::Awaiting { pull_requests } = decision(records, &r.env, tag)
            && pull_requests.contains(&pr)
        {
            out.push(key);
        }
    }
    out
}

/// The record that says the agent asked.
pub fn asked(env: &str, tag: &str, pull_requests: &[u64], at: DateTime<Utc>) -> Record {
    Record {
        at,
        run: format!("{env}-approval-{tag}"),
        env: env.to_string(),
        service: None,
        step: STEP.into(),
        phase: Phase::Started,
        outcome: Some("awaiting".into()),
        detail: serde_json::json!({ "tag": tag, "pull_requests": pull_requests }),
    }
}

/// The record of a decision.
pub fn decided(
    env: &str,
    tag: &str,
    approve: bool,
    by: &str,
    reason: Option<&str>,
    via: Via,
    at: DateTime<Utc>,
) -> Record {
    let via = match via {
        Via::Comment(pr) => serde_json::json!({ "comment_on": pr }),
        Via::Cli => serde_json::json!("cli"),
    };
    Record {
        at,
        run: format!("{env}-approval-{tag}"),
        env: env.to_string(),
        service: None,
        step: STEP.into(),
        phase: Phase::Finished,
        outcome: Some(if approve { "approved" } else { "rejected" }.into()),
        detail: serde_json::json!({ "tag": tag, "by": by, "reason": reason, "via": via }),
    }
}

/// `/amagent approve [why]` or `/amagent reject [why]` on a comment's first line:
/// (approve?, reason).
pub fn command(body: &str) -> Option<(bool, Option<String>)> {
    let line = body.lines().next()?.trim();
    let rest = line
        .strip_prefix("/amagent")
        .filter(|r| r.starts_with(char::is_whitespace))?;
    let mut words = rest.trim_start().splitn(2, char::is_whitespace);
    let approve = match words.next()? {
        "approve" => true,
        "reject" => false,
        _ => return None,
    };
    let reason = words.next().map(str::trim).filter(|r| !r.is_empty());
    Some((approve, reason.map(String::from)))
}

/// Whether `login` is named among `approvers` (logins, case-insensitive as GitHub's are; a
/// team `org/name` is for the reporter to check).
pub fn listed(login: &str, approvers: &[String]) -> bool {
    approvers
        .iter()
        .any(|a| !a.contains('/') && a.trim_start_matches('@').eq_ignore_ascii_case(login))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(m: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + m * 60, 0).unwrap()
    }

    #[test]
    fn decisions_are_per_environment_and_tag() {
        let mut records = vec![asked("production", "v1.5.0", &[7, 8], at(0))];
        assert_eq!(
            decision(&records, "production", "v1.5.0"),
            Decision::Awaiting {
                pull_requests: vec![7, 8]
            }
        );
        assert_eq!(
            decision(&records, "production", "v1.6.0"),
            Decision::NotAsked
        );
        assert_eq!(
            awaiting_on(&records, 8),
            [("production".into(), "v1.5.0".into())]
        );
        assert!(awaiting_on(&records, 9).is_empty());
        records.push(decided(
            "production",
            "v1.4.0",
            true,
            "ada",
            None,
            Via::Cli,
            at(1),
        ));
        // An approval of an older tag lets nothing newer through.
        assert!(matches!(
            decision(&records, "production", "v1.5.0"),
            Decision::Awaiting { .. }
        ));
        records.push(decided(
            "production",
            "v1.5.0",
            false,
            "bob",
            Some("not on a Friday"),
            Via::Comment(7),
            at(2),
        ));
        assert_eq!(
            decision(&records, "production", "v1.5.0"),
            Decision::Rejected {
                by: "bob".into(),
                reason: Some("not on a Friday".into())
            }
        );
        assert!(awaiting_on(&records, 7).is_empty());
    }

    #[test]
    fn commands_and_approvers() {
        assert_eq!(command("/amagent approve"), Some((true, None)));
        assert_eq!(
            command("  /amagent reject   latency is up\nmore"),
            Some((false, Some("latency is up".into())))
        );
        assert_eq!(command("/amagent approved"), None);
        assert_eq!(command("LGTM /amagent approve"), None);
        assert_eq!(command("/amagentapprove"), None);
        let approvers = vec!["Ada".to_string(), "aussie-markets/platform".to_string()];
        assert!(listed("ada", &approvers));
        assert!(!listed("platform", &approvers));
        assert!(!listed("mallory", &approvers));
    }
}
