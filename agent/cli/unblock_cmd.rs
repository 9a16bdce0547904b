//! `amagent unblock --env E --service S --digest sha256:…`: clear a known-bad image (it failed
//! the health gate, or was rolled back from with a reason) so deploys and promotions take it
//! again. Journalled with who did it; the journal keeps why it was bad.

use super::sim_cmd::{load_environment, runtime};
use super::{Exit, OutputFormat, print_error, print_json};
use crate::state::journal::bad::{bad_digests, unblock_record};
use std::path::Path;

pub struct UnblockArgs<'a> {
    pub dir: &'a Path,
    pub env: &'a str,
    pub service: &'a str,
    pub digest: &'a str,
    pub actor: Option<&'a str>,
    pub journal: &'a str,
    pub region: Option<&'a str>,
    pub simulated: bool,
}

pub fn run(args: UnblockArgs<'_>, output: OutputFormat) -> Exit {
    let (_, env) = match load_environment(args.dir, args.env, output) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if let Err(code) = super::deploy_cmd::service_spec(&env, args.service, output) {
        return code;
    }
    let by = super::rollback_cmd::actor(args.actor);
    let done = runtime(false).block_on(async {
        let journal =
            super::status_cmd::journal_without_sim(args.journal, &env, args.region, args.simulated)
                .await
                .map_err(|e| (Exit::Usage, "usage", e.to_string()))?;
        let records = journal
            .read(Some(&env.name))
            .await
            .map_err(|e| (Exit::Io, "io", e.to_string()))?;
        let bad = bad_digests(&records, &env.name, args.service);
        let Some(found) = bad.iter().find(|b| b.digest == args.digest).cloned() else {
            let known: Vec<&str> = bad.iter().map(|b| b.digest.as_str()).collect();
            let known = match known.is_empty() {
                true => "none is".to_string(),
                false => format!("known bad: {}", known.join(", ")),
            };
            let why = format!(
                "{} is not known bad for {}/{} ({known})",
                args.digest, env.name, args.service
            );
            return Err((Exit::Usage, "usage", why));
        };
        // After the verdict it clears, also when that verdict was stamped by a simulator's
        // clock running ahead of this one (journals are read in time order).
        let latest = records.iter().map(|r| r.at).max();
        let now = crate::clock::Clock::system().now();
        let at = latest.map_or(now, |l| now.max(l + chrono::Duration::milliseconds(1)));
        let record = unblock_record(&env.name, args.service, args.digest, &by, at);
        journal
            .append(&record)
            .await
            .map_err(|e| (Exit::Io, "io", e.to_string()))?;
        Ok(found)
    });
    match done {
        Err((code, kind, message)) => {
            print_error(output, kind, &message);
            code
        }
        Ok(found) => {
            match output {
                OutputFormat::Json => print_json(&serde_json::json!({
                    "env": env.name, "service": args.service, "by": by, "unblocked": found,
                })),
                OutputFormat::Text => crate::outln!(
                    "{}/{}: {} unblocked by {by} (it was bad: {}, run {})",
                    env.name,
                    args.service,
                    args.digest,
                    found.reason,
                    found.run
                ),
            }
            Exit::Ok
        }
    }
}
