//! The pre-deploy task in the PR comment: its row in the table, and for a failed one the exit
//! code, the stopped reason and the last lines of its log. Pure: result in, Markdown out.

use crate::stages::deploy::DeployResult;
use crate::stages::deploy::pre_deploy::PreDeployReport;
use crate::stages::deploy::rollout::short_td;
use std::fmt::Write;

/// The longest log line shown (the rest is cut): a comment is not a log viewer.
const MAX_LINE_CHARS: usize = 300;

/// The table row of a deploy's pre-deploy task, if it had one.
pub fn row(out: &mut String, d: &DeployResult) {
    let Some(p) = &d.pre_deploy else {
        return;
    };
    let status = if p.verdict.passed { "✅" } else { "❌" };
    let _ = writeln!(
        out,
        "| {} | pre-deploy | {status} | {}s | {} on `{}` |",
        d.service.replace('|', "\\|"),
        p.seconds.round() as u64,
        p.summary.replace('|', "\\|").replace('\n', " "),
        short_td(&p.task_definition)
    );
}

/// Under a failed deploy: what the pre-deploy task said, with its log's last lines.
pub fn failure_block(out: &mut String, p: &PreDeployReport) {
    if p.verdict.passed {
        return;
    }
    let code = p
        .verdict
        .exit_code
        .map_or("none".to_string(), |c| c.to_string());
    let reason = p.verdict.stopped_reason.as_deref().unwrap_or("none given");
    let _ = writeln!(
        out,
        "\nPre-deploy task exit code: **{code}**; stopped reason: {}",
        reason.replace('\n', " ")
    );
    match &p.log_tail {
        None => {
            let _ = writeln!(out, "\nlog not available");
        }
        Some(lines) if lines.is_empty() => {
            let _ = writeln!(out, "\nits log is empty");
        }
        Some(lines) => {
            let shown: Vec<String> = lines.iter().map(|l| printable(l)).collect();
            let fence = fence_for(&shown);
            let _ = writeln!(out, "\nLast {} line(s) of its log:\n", shown.len());
            let _ = writeln!(out, "{fence}text\n{}\n{fence}", shown.join("\n"));
        }
    }
}

/// A line without control characters, cut to [`MAX_LINE_CHARS`].
fn printable(line: &str) -> String {
    let mut s: String = line
        .chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                '�'
            } else {
                c
            }
        })
        .take(MAX_LINE_CHARS)
        .collect();
    if line.chars().count() > MAX_LINE_CHARS {
        s.push('…');
    }
    s
}

/// A code fence longer than any run of backticks in the lines, so none can close it.
fn fence_for(lines: &[String]) -> String {
    let longest = lines
        .iter()
        .flat_map(|l| l.split(|c| c != '`').map(str::len))
        .max()
        .unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::deploy::pre_deploy::Verdict;

    fn report(log: Option<Vec<&str>>) -> PreDeployReport {
        PreDeployReport {
            task: Some("arn:aws:ecs:ap-southeast-2:123456789012:task/c/abc".into()),
            task_definition: "arn:aws:ecs:ap-southeast-2:123456789012:task-definition/api:43"
                .into(),
            container: "api".into(),
            verdict: Verdict {
                passed: false,
                exit_code: Some(1),
                stopped_reason: Some("Essential container in task exited".into()),
                ..Verdict::default()
            },
            summary: "pre-deploy task failed: exit code 1".into(),
            log_tail: log.map(|l| l.iter().map(|s| s.to_string()).collect()),
            seconds: 42.0,
        }
    }

    #[test]
    fn a_failure_shows_exit_code_reason_and_log_lines_in_a_fence_they_cannot_close() {
        let mut out = String::new();
        failure_block(
            &mut out,
            &report(Some(vec!["migrating", "```", "ERROR: boom\u{1b}[31m"])),
        );
        assert!(out.contains("exit code: **1**"), "{out}");
        assert!(out.contains("Essential container in task exited"), "{out}");
        assert!(
            out.contains("````text\nmigrating\n```\nERROR: boom�[31m\n````"),
            "{out}"
        );
    }

    #[test]
    fn no_stream_says_log_not_available() {
        let mut out = String::new();
        failure_block(&mut out, &report(None));
        assert!(out.contains("log not available"), "{out}");
    }
}
