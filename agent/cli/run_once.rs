//! `amagent run --once` and `amagent promote`: one look, a summary and an exit code — with a
//! shared journal only while holding the lease.

use super::{Exit, OutputFormat, print_error, print_json};
use crate::daemon::Agent;
use crate::stages::deploy::Outcome;
use crate::state::lease::{Lease, LeaseState};
use std::time::Duration;

/// One look acts like the agent: with a shared journal, only while holding the lease.
pub(super) async fn once_under_lease(
    agent: &mut Agent,
    mut lease: Option<(Lease, Duration)>,
    output: OutputFormat,
) -> Exit {
    if let Some((l, _)) = lease.as_mut() {
        match l.try_acquire(agent.clock.now()).await {
            Ok(LeaseState::Held { .. }) => {}
            Ok(LeaseState::HeldByOther { holder, expires_at }) => {
                let message = format!(
                    "another agent ({holder}) is active on this journal until {expires_at}: \
                     push the tag with git and let it promote, or stop it first"
                );
                print_error(output, "refused", &message);
                return Exit::Refused;
            }
            Err(e) => {
                print_error(output, "refused", &e.to_string());
                return Exit::Refused;
            }
        }
    }
    let exit = once(agent, output).await;
    if let Some((l, _)) = lease.as_mut() {
        let _ = l.release(agent.clock.now()).await;
    }
    exit
}

/// `--once`: one look, a summary, an exit code that says how it went.
async fn once(agent: &mut Agent, output: OutputFormat) -> Exit {
    match agent.tick().await {
        Ok(tick) => {
            let failed = tick.applied.iter().any(|r| r.outcome == Outcome::Failed);
            match output {
                OutputFormat::Json => print_json(&tick),
                OutputFormat::Text => {
                    super::progress::close_line();
                    crate::outln!("head {}", &tick.head[..tick.head.len().min(12)]);
                    for env in &tick.adopted {
                        crate::outln!("  {env:<12} adopted as the baseline (nothing deployed)");
                    }
                    for r in &tick.applied {
                        crate::outln!(
                            "  {:<12} {} ({} deploy(s), run {})",
                            r.env,
                            match r.outcome {
                                Outcome::Succeeded => "deployed and verified",
                                Outcome::Failed => "FAILED",
                            },
                            r.deploys.len(),
                            r.run
                        );
                    }
                    if tick.invalid {
                        crate::outln!(
                            "  the configuration at the head is invalid: nothing deployed"
                        );
                    }
                    for why in &tick.refused {
                        crate::outln!("  refused: {why}");
                    }
                    if tick.adopted.is_empty()
                        && tick.applied.is_empty()
                        && !tick.invalid
                        && tick.refused.is_empty()
                    {
                        crate::outln!("  up to date");
                    }
                }
            }
            if tick.invalid {
                Exit::Usage
            } else if !tick.refused.is_empty() {
                Exit::Refused
            } else if tick.applied.iter().any(|r| r.journal_error.is_some()) {
                Exit::Io
            } else if failed {
                Exit::Failed
            } else {
                Exit::Ok
            }
        }
        Err(e @ crate::daemon::AgentError::Journal(_)) => {
            print_error(output, "io", &e.to_string());
            Exit::Io
        }
        Err(e) => {
            print_error(output, "repository", &e.to_string());
            Exit::Refused
        }
    }
}
