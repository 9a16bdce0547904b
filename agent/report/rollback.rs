//! The comment a manual rollback leaves on the pull request whose change it undid: who, why,
//! what went back to what, and that the service is pinned. Pure.

use crate::rollback::RollbackReport;
use crate::stages::deploy::Outcome;
use crate::stages::deploy::rollout::short_td;
use std::fmt::Write;

/// The hidden marker of one rollback's comment (one comment per rollback run).
pub fn marker(run: &str) -> String {
    format!("<!-- amagent:rollback={run} -->")
}

pub fn render_rollback(report: &RollbackReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", marker(&report.run));
    let verdict = match report.outcome {
        Outcome::Succeeded => "rolled back",
        Outcome::Failed => "rollback attempted, and it failed",
    };
    let _ = writeln!(
        out,
        "### ↩️ **{}**: {verdict} by {}\n",
        report.env, report.actor
    );
    if let Some(reason) = &report.reason {
        let _ = writeln!(out, "Why: {}\n", reason.replace('\n', " "));
    }
    let _ = writeln!(out, "| service | from | to | status |\n|---|---|---|---|");
    for s in &report.services {
        let status = match (s.outcome, s.unchanged) {
            (_, true) => "already there".to_string(),
            (Outcome::Succeeded, _) => "✅ verified healthy".to_string(),
            (Outcome::Failed, _) => format!(
                "❌ {}",
                s.reason.as_deref().unwrap_or("failed").replace('|', "\\|")
            ),
        };
        let _ = writeln!(
            out,
            "| {} | `{}` | `{}` | {status} |",
            s.service,
            s.from.as_deref().map(short_td).unwrap_or("?"),
            short_td(&s.to),
        );
    }
    write_failures(&mut out, report);
    if report.services.iter().any(|s| s.pin.is_some()) {
        let _ = writeln!(
            out,
            "\nThe agent will not deploy this change again until the service's spec changes in \
             Git (a fix or a revert), or `amagent resume --env {}` is run.",
            report.env
        );
    }
    out
}

/// For a failed rollback: what each failed service runs now, and that nothing was pinned.
fn write_failures(out: &mut String, report: &RollbackReport) {
    let failed: Vec<_> = report
        .services
        .iter()
        .filter(|s| s.outcome == Outcome::Failed)
        .collect();
    if failed.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nRunning now:");
    for s in &failed {
        let _ = writeln!(
            out,
            "- **{}**: `{}` (the rollback to `{}` did not verify)",
            s.service,
            s.running.as_deref().map(short_td).unwrap_or("unknown"),
            short_td(&s.to)
        );
    }
    let _ = writeln!(
        out,
        "\nNothing was pinned for these: the agent deploys them on the next change as before. \
         `amagent status --env {}` shows what runs; `amagent history --env {}` the attempt.",
        report.env, report.env
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollback::ServiceRollback;
    use crate::state::journal::pins::Pin;

    #[test]
    fn says_who_why_what_and_that_it_is_pinned() {
        let td = |n: u32| {
            format!(
                "arn:aws:ecs:ap-southeast-2:123456789012:task-definition/aussie-markets-api-task:{n}"
            )
        };
        let report = RollbackReport {
            env: "production".into(),
            run: "production-20261125T100000Z-rollback-abc123".into(),
            actor: "ada".into(),
            reason: Some("checkout errors after v1.1.0".into()),
            outcome: Outcome::Succeeded,
            services: vec![ServiceRollback {
                service: "api".into(),
                outcome: Outcome::Succeeded,
                unchanged: false,
                from: Some(td(44)),
                to: td(43),
                image: "reg/aussie-markets/api@sha256:aaa".into(),
                running: Some(td(43)),
                reason: None,
                failure_kind: None,
                pin: Some(Pin {
                    env: "production".into(),
                    service: "api".into(),
                    by: "ada".into(),
                    at: chrono::Utc::now(),
                    reason: None,
                    commit: Some("3e1a9d7".into()),
                    spec: None,
                    from: Some(td(44)),
                    to: td(43),
                    restores: None,
                    run: "r".into(),
                }),
                seconds: 300.0,
            }],
        };
        let body = render_rollback(&report);
        assert!(
            body.starts_with(
                "<!-- amagent:rollback=production-20261125T100000Z-rollback-abc123 -->"
            )
        );
        assert!(
            body.contains("↩️ **production**: rolled back by ada"),
            "{body}"
        );
        assert!(body.contains("Why: checkout errors after v1.1.0"), "{body}");
        assert!(
            body.contains("| api | `aussie-markets-api-task:44` | `aussie-markets-api-task:43` | ✅ verified healthy |"),
            "{body}"
        );
        assert!(body.contains("amagent resume --env production"), "{body}");
    }
}
