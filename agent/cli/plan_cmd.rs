//! `amagent plan [--from A] [--to B] [--repo DIR]`.

use super::{Exit, OutputFormat, print_error, print_json};
use crate::config::Model;
use crate::plan::{self, Change, Plan, Trigger};
use crate::repo::{EnvRepo, RepoError};
use std::path::Path;

/// With `exit_code`, a change that plans anything exits 1 (as `git diff --exit-code`).
pub fn run(
    repo_dir: &Path,
    (from, to): (Option<&str>, &str),
    exit_code: bool,
    output: OutputFormat,
) -> Exit {
    match compute(repo_dir, from, to) {
        Ok(result) => {
            if output == OutputFormat::Text && !result.not_planned.is_empty() {
                crate::errln!(
                    "note: uncommitted changes are not planned (plan reads commits): {}",
                    result.not_planned.join(", ")
                );
            }
            match output {
                OutputFormat::Json => print_json(&result),
                // Commit titles and authors are anyone's text: no raw escapes to the terminal.
                OutputFormat::Text => crate::out!(
                    "{}",
                    crate::config::printable::for_terminal(&render(&result))
                ),
            }
            match exit_code && !result.plan.is_empty() {
                true => Exit::Failed,
                false => Exit::Ok,
            }
        }
        Err(e) => {
            let (kind, code) = match &e {
                RepoError::InvalidConfig { .. } => ("invalid-config", Exit::Usage),
                _ => ("repository", Exit::Refused),
            };
            match (&e, output) {
                (RepoError::InvalidConfig { diagnostics, .. }, OutputFormat::Json) => {
                    print_json(&serde_json::json!({
                        "error": { "kind": kind, "message": e.to_string(), "diagnostics": diagnostics,
                            "problems": diagnostics.len(), "not_shown": diagnostics.not_shown() }
                    }))
                }
                _ => print_error(output, kind, &e.to_string()),
            }
            code
        }
    }
}

#[derive(serde::Serialize)]
struct PlanResult {
    /// None when planning from nothing (the first commit).
    from: Option<String>,
    to: String,
    commits: Vec<crate::repo::CommitInfo>,
    plan: Plan,
    /// Uncommitted files under environments/ or pipelines/: not in the plan.
    not_planned: Vec<String>,
}

/// `rev` in `repo`, with a message that says how deep the history is when `REV~N` is deeper.
fn resolve(repo: &EnvRepo, repo_dir: &Path, rev: &str) -> Result<String, RepoError> {
    repo.resolve(rev).map(|o| o.to_string()).map_err(|e| {
        match super::plan_git::beyond_history(repo_dir, rev) {
            Some(message) => RepoError::RevisionNotFound {
                rev: rev.to_string(),
                message,
            },
            None => e,
        }
    })
}

fn compute(repo_dir: &Path, from: Option<&str>, to: &str) -> Result<PlanResult, RepoError> {
    let repo = EnvRepo::open(repo_dir)?;
    let to_id = resolve(&repo, repo_dir, to)?;
    let from_id = match from {
        Some(rev) => Some(resolve(&repo, repo_dir, rev)?),
        // Default: the parent of --to; none for a first commit.
        None => repo
            .resolve(&format!("{to_id}~1"))
            .ok()
            .map(|o| o.to_string()),
    };
    let old = match &from_id {
        Some(id) => repo.model_at(id)?,
        None => Model::default(),
    };
    let new = repo.model_at(&to_id)?;
    let commits = match &from_id {
        Some(id) => repo.commits_between(id, &to_id)?,
        None => Vec::new(),
    };
    tracing::info!(from = ?from_id, to = %to_id, commits = commits.len(), "planning");
    Ok(PlanResult {
        plan: plan::plan(&old, &new),
        from: from_id,
        to: to_id,
        commits,
        not_planned: super::plan_git::uncommitted_config(repo_dir),
    })
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

fn render(r: &PlanResult) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let from = r.from.as_deref().map(short).unwrap_or("(nothing)");
    let _ = writeln!(out, "Plan {from} → {}", short(&r.to));
    for c in &r.commits {
        // Squash titles already end in "(#N)"; merge commits name the PR differently.
        let pr = c
            .pull_request
            .filter(|n| !c.summary.contains(&format!("(#{n})")))
            .map(|n| format!(" (PR #{n})"))
            .unwrap_or_default();
        let _ = writeln!(out, "  {} {}{pr}", &c.id[..7], c.summary);
    }
    if r.plan.is_empty() {
        let _ = writeln!(out, "\nNo changes: nothing to build or deploy.");
        return out;
    }
    for env in &r.plan.environments {
        let trigger = match &env.trigger {
            Trigger::Merge => "applied on merge".to_string(),
            Trigger::Tag { pattern, from } => {
                format!("applied when a tag matching {pattern} promotes {from}'s images")
            }
        };
        let change = match env.change {
            Change::Added => " [new]",
            Change::Removed => " [removed]",
            Change::Modified => "",
        };
        let _ = writeln!(out, "\n{}{change} ({trigger})", env.name);
        let width = env
            .services
            .iter()
            .map(|s| s.name.len())
            .max()
            .unwrap_or(0)
            .max(7);
        let _ = writeln!(out, "  {:width$}  {:9}  REASON", "SERVICE", "STAGE");
        for s in &env.services {
            if s.change == Change::Removed {
                let _ = writeln!(
                    out,
                    "  {:width$}  {:9}  removed from the spec; its AWS resources are left as they are",
                    s.name, "-"
                );
                continue;
            }
            for (i, stage) in s.stages.iter().enumerate() {
                let name = if i == 0 { s.name.as_str() } else { "" };
                let _ = writeln!(
                    out,
                    "  {name:width$}  {:9}  {}",
                    stage.stage.name(),
                    stage.reason
                );
            }
        }
    }
    let services: usize = r.plan.environments.iter().map(|e| e.services.len()).sum();
    let _ = writeln!(
        out,
        "\n{} stage(s) for {services} service(s) in {} environment(s).",
        r.plan.stage_count(),
        r.plan.environments.len()
    );
    out
}
