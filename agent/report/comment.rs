//! Reporting a run to people: the Markdown body of the one pull-request comment per
//! environment (found again by its hidden marker, edited in place as stages progress), which
//! the console reporter prints too. Pure: report in, text out.

use crate::config::StageKind;
use crate::executor::{EnvReport, LifecycleReport};
use crate::plan::EnvironmentPlan;
use crate::stages::deploy::rollout::{short_image, short_td};
use crate::stages::deploy::{DeployResult, Outcome};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The hidden marker that identifies an environment's comment on a pull request.
pub fn marker(env: &str) -> String {
    format!("<!-- amagent:env={env} -->")
}

/// Table cells must not break the table.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// The comment while a run is under way: each planned stage, done or still to come. `images`
/// holds the images built so far (service → reference).
pub fn render_in_progress(
    plan: &EnvironmentPlan,
    commit: &str,
    doing: &str,
    images: &BTreeMap<String, String>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", marker(&plan.name));
    let _ = writeln!(
        out,
        "### ⏳ **{}**: {doing}
",
        plan.name
    );
    let _ = writeln!(out, "Applying `{}`.\n", &commit[..commit.len().min(7)]);
    let _ = writeln!(out, "| service | stage | status | details |");
    let _ = writeln!(out, "|---|---|---|---|");
    for s in &plan.services {
        for st in &s.stages {
            let (status, details) = match (st.stage, images.get(&s.name)) {
                (StageKind::Build, Some(image)) => {
                    ("✅", format!("image `{}`", short_image(image)))
                }
                _ => ("⏳", cell(&st.reason)),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {status} | {details} |",
                cell(&s.name),
                st.stage
            );
        }
    }
    out
}

/// The comment body for one environment's run.
pub fn render_comment(report: &EnvReport, commit: Option<&str>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", marker(&report.env));
    let rolled_back = report.deploys.iter().any(|d| d.rolled_back);
    let headline = match (report.outcome, rolled_back) {
        (Outcome::Succeeded, _) => format!("✅ **{}**: deployed and verified", report.env),
        (Outcome::Failed, true) => format!("❌ **{}**: deploy failed — rolled back", report.env),
        (Outcome::Failed, false) => format!("❌ **{}**: deploy failed", report.env),
    };
    let _ = writeln!(out, "### {headline}\n");
    let commit = commit
        .map(|c| format!(" for `{}`", &c[..c.len().min(7)]))
        .unwrap_or_default();
    let _ = writeln!(out, "Run `{}`{commit}.\n", report.run);
    let _ = writeln!(out, "| service | stage | status | time | details |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    if let Some(s) = &report.snapshot {
        let _ = writeln!(
            out,
            "| (database) | snapshot | ✅ | {} | `{}` |",
            duration(s.seconds),
            s.snapshot_id
        );
    }
    if let Some(e) = &report.snapshot_error {
        let _ = writeln!(out, "| (database) | snapshot | ❌ | | {} |", cell(e));
    }
    for d in &report.deploys {
        super::pre_deploy::row(&mut out, d);
        deploy_row(&mut out, d);
    }
    for l in &report.lifecycle {
        lifecycle_row(&mut out, l);
    }
    for d in report
        .deploys
        .iter()
        .filter(|d| d.outcome == Outcome::Failed)
    {
        let reason = d.reason.as_deref().unwrap_or("unknown reason");
        let _ = write!(out, "\n**{} failed:** {}", d.service, reason);
        match (d.rolled_back, &d.task_definition) {
            (true, Some(td)) => {
                let _ = writeln!(
                    out,
                    " Rolled back to `{}`, verified healthy again.",
                    short_td(td)
                );
            }
            _ => {
                let _ = writeln!(out);
            }
        }
        if let Some(p) = &d.pre_deploy {
            super::pre_deploy::failure_block(&mut out, p);
        }
    }
    out
}

/// One deploy's row: outcome, time, image and the revision running at the end.
fn deploy_row(out: &mut String, d: &DeployResult) {
    let status = match (d.outcome, d.rolled_back) {
        (Outcome::Succeeded, _) => "✅",
        (Outcome::Failed, true) => "❌ rolled back",
        (Outcome::Failed, false) => "❌",
    };
    let mut details = Vec::new();
    if !d.image.is_empty() {
        details.push(format!("image `{}`", short_image(&d.image)));
    }
    if let Some(td) = &d.task_definition {
        details.push(format!("running `{}`", short_td(td)));
    }
    let _ = writeln!(
        out,
        "| {} | deploy | {status} | {} | {} |",
        cell(&d.service),
        if d.seconds > 0.0 {
            duration(d.seconds)
        } else {
            String::new()
        },
        cell(&details.join(", "))
    );
}

/// One repository's lifecycle row.
fn lifecycle_row(out: &mut String, l: &LifecycleReport) {
    let (status, details) = match &l.error {
        Some(e) => ("❌", cell(e)),
        None if l.dry_run => (
            "✅",
            format!(
                "`{}`: would expire {} image(s)",
                l.repository,
                l.expire.len()
            ),
        ),
        None => (
            "✅",
            format!(
                "`{}`: expired {} image(s), kept {}",
                l.repository,
                l.deleted.len(),
                l.keep.len()
            ),
        ),
    };
    let _ = writeln!(
        out,
        "| {} | lifecycle | {status} | | {details} |",
        cell(&l.services.join(", "))
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::deploy::{DeployResult, FailureKind};

    fn result(outcome: Outcome, rolled_back: bool, reason: Option<&str>) -> DeployResult {
        DeployResult {
            env: "staging".into(),
            service: "api".into(),
            outcome,
            rolled_back,
            failure_kind: (outcome == Outcome::Failed).then_some(FailureKind::Rollout),
            reason: reason.map(String::from),
            task_definition: Some("arn:aws:ecs:ap-southeast-2:123456789012:task-definition/aussie-markets-api-task:42".into()),
            image: "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com/aussie-markets/api@sha256:4f1c0f8a9b2d3e4c5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f".into(),
            previous_task_definition: None,
            new_task_definition: None,
            seconds: 382.0,
            pre_deploy: None,
        }
    }

    fn report(outcome: Outcome, deploy: DeployResult) -> EnvReport {
        EnvReport {
            env: "staging".into(),
            run: "staging-20261125T090000Z-3e1a9d7-abc123".into(),
            outcome,
            snapshot: None,
            snapshot_error: None,
            deploys: vec![deploy],
            lifecycle: Vec::new(),
            journal_error: None,
        }
    }

    #[test]
    fn a_rolled_back_deploy_says_why_and_to_what() {
        let r = report(
            Outcome::Failed,
            result(
                Outcome::Failed,
                true,
                Some("new task 1a2b stopped: Essential container in task exited"),
            ),
        );
        let body = render_comment(&r, Some("3e1a9d7c5b2f4e6a8c0b1d3f5e7a9c2b4d6f8e0a"));
        assert!(body.starts_with("<!-- amagent:env=staging -->\n"));
        assert!(body.contains("❌ **staging**: deploy failed — rolled back"));
        assert!(body.contains("| api | deploy | ❌ rolled back | 6m22s | image `api@sha256:4f1c0f8a9b2d`, running `aussie-markets-api-task:42` |"), "{body}");
        assert!(body.contains("**api failed:** new task 1a2b stopped: Essential container in task exited Rolled back to `aussie-markets-api-task:42`"), "{body}");
        assert!(body.contains("for `3e1a9d7`"));
    }

    #[test]
    fn success_and_table_safety() {
        let mut d = result(Outcome::Succeeded, false, None);
        d.service = "a|b".into();
        let body = render_comment(&report(Outcome::Succeeded, d), None);
        assert!(body.contains("✅ **staging**: deployed and verified"));
        assert!(body.contains("| a\\|b | deploy | ✅ |"), "{body}");
        assert!(!body.contains("failed:"));
    }
}
