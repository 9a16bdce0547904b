//! `deploy`, `rollback` and `lifecycle` by hand while an agent holds the lease on the same
//! journal: refused (the agent may be deploying the same service), unless `--force` — an
//! emergency override that is journalled before anything acts.

use super::{Exit, OutputFormat, print_error};
use crate::clock::Clock;
use crate::cloud::ObjectStore;
use crate::state::journal::{Journal, Location, Phase, Record};
use crate::state::lease::Lease;
use std::sync::Arc;

/// The step a `--force` override is journalled as.
pub const OVERRIDE_STEP: &str = "lease-override";

/// Ok: go ahead (no lease, a lapsed one, or `--force`, journalled in `env`'s journal).
/// Err: the exit code, after saying who holds the lease and until when.
pub async fn refuse_if_leased(
    journal_spec: &str,
    store: &Arc<dyn ObjectStore>,
    journal: &dyn Journal,
    (clock, env, command): (&Clock, &str, &str),
    force: bool,
    output: OutputFormat,
) -> Result<(), Exit> {
    let Ok(Location::S3 { bucket, prefix }) = Location::parse(journal_spec) else {
        return Ok(()); // a local journal has no lease: one agent per directory by design
    };
    let lease = Lease::new(
        store.clone(),
        bucket,
        Lease::key_for(&prefix),
        "",
        Default::default(),
    );
    let holder = match lease.current().await {
        Ok(Some(record)) if record.expires_at > clock.now() => record,
        Ok(_) => return Ok(()),
        Err(e) => {
            // Unknown is not free: an unreadable lease could hide an active agent.
            print_error(
                output,
                "refused",
                &format!("cannot tell whether an agent is active: {e} (--force to act anyway)"),
            );
            return Err(Exit::Refused);
        }
    };
    if !force {
        print_error(
            output,
            "refused",
            &format!(
                "an agent ({}) holds the lease on {journal_spec} until {} (renewed {}): it may be deploying this environment right now. Let it, stop it, or pass --force in an emergency (journalled)",
                holder.holder, holder.expires_at, holder.renewed_at
            ),
        );
        return Err(Exit::Refused);
    }
    tracing::warn!(holder = %holder.holder, expires_at = %holder.expires_at, command, "--force: acting while another agent holds the lease");
    let record = Record {
        at: clock.now(),
        run: format!(
            "{env}-{}-{OVERRIDE_STEP}",
            clock.now().format("%Y%m%dT%H%M%SZ")
        ),
        env: env.to_string(),
        service: None,
        step: OVERRIDE_STEP.into(),
        phase: Phase::Finished,
        outcome: Some("forced".into()),
        detail: serde_json::json!({
            "command": command,
            "holder": holder.holder,
            "expires_at": holder.expires_at,
            "by": super::rollback_cmd::actor(None),
        }),
    };
    // Write-ahead: an override nobody can see afterwards is not made.
    journal.append(&record).await.map_err(|e| {
        print_error(
            output,
            "io",
            &format!("--force not journalled, nothing done: {e}"),
        );
        Exit::Io
    })
}
