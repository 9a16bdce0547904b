//! `amagent approve --env E --tag T [--reject] [--reason …]`: decide a promotion that waits for
//! approval (`promotion.approval`) from a terminal. Journalled with who; the agent's next look
//! promotes an approved tag (or refuses a rejected one). A decision is for that tag only.

use super::sim_cmd::{load_environment, runtime};
use super::{Exit, OutputFormat, print_error, print_json};
use crate::state::journal::approvals::{Decision, Via, decided, decision};
use std::path::Path;

pub struct ApproveArgs<'a> {
    pub dir: &'a Path,
    pub env: &'a str,
    pub tag: &'a str,
    pub reject: bool,
    pub reason: Option<&'a str>,
    pub actor: Option<&'a str>,
    pub journal: &'a str,
    pub region: Option<&'a str>,
    pub simulated: bool,
}

pub fn run(args: ApproveArgs<'_>, output: OutputFormat) -> Exit {
    let (_, env) = match load_environment(args.dir, args.env, output) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let Some(promotion) = env.promotion.as_ref() else {
        let why = format!(
            "{} is not promoted to (it has no `promotion`): nothing to approve",
            env.name
        );
        print_error(output, "usage", &why);
        return Exit::Usage;
    };
    if promotion.matching_version(args.tag).is_none() {
        let why = format!(
            "{} does not match {}'s tagPattern {}",
            args.tag, env.name, promotion.tag_pattern
        );
        print_error(output, "usage", &why);
        return Exit::Usage;
    }
    let by = super::rollback_cmd::actor(args.actor);
    let approve = !args.reject;
    let done = runtime(false).block_on(async {
        let journal =
            super::status_cmd::journal_without_sim(args.journal, &env, args.region, args.simulated)
                .await
                .map_err(|e| (Exit::Usage, e.to_string()))?;
        let records = journal
            .read(Some(&env.name))
            .await
            .map_err(|e| (Exit::Io, e.to_string()))?;
        let before = decision(&records, &env.name, args.tag);
        if matches!(
            before,
            Decision::Approved { .. } | Decision::Rejected { .. }
        ) {
            return Err((
                Exit::Usage,
                format!("{} {} is already decided: {before:?}", env.name, args.tag),
            ));
        }
        let now = crate::clock::Clock::system().now();
        let at = records
            .iter()
            .map(|r| r.at)
            .max()
            .map_or(now, |l| now.max(l + chrono::Duration::milliseconds(1)));
        let record = decided(&env.name, args.tag, approve, &by, args.reason, Via::Cli, at);
        journal
            .append(&record)
            .await
            .map_err(|e| (Exit::Io, e.to_string()))?;
        Ok(matches!(before, Decision::Awaiting { .. }))
    });
    match done {
        Err((code, message)) => {
            print_error(
                output,
                if code == Exit::Io { "io" } else { "usage" },
                &message,
            );
            code
        }
        Ok(was_waiting) => {
            print_decision(&env.name, args.tag, approve, &by, was_waiting, output);
            Exit::Ok
        }
    }
}

fn print_decision(
    env: &str,
    tag: &str,
    approve: bool,
    by: &str,
    was_waiting: bool,
    output: OutputFormat,
) {
    let verdict = if approve { "approved" } else { "rejected" };
    match output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "env": env, "tag": tag, "decision": verdict, "by": by, "was_waiting": was_waiting,
        })),
        OutputFormat::Text => crate::outln!(
            "{env}: {tag} {verdict} by {by}{}",
            if was_waiting {
                "; the agent acts on it at its next look"
            } else {
                " ahead of time; it applies when the tag would promote"
            }
        ),
    }
}
