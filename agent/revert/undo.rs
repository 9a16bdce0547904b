//! PURE: what a revert pull request undoes — a manual rollback (`amagent rollback`) or the
//! health gate's automatic one — as the services to restore and the commit whose spec
//! deployed what each runs now.

use crate::rollback::{RollbackReport, verifications};
use crate::stages::deploy::DeployResult;
use crate::state::journal::Record;

/// The actor of the gate's automatic rollbacks.
pub const GATE: &str = "the health gate";

/// One service to put back in Git.
#[derive(Clone, Debug, PartialEq)]
pub struct Restore {
    pub service: String,
    /// The task definition rolled back from (what Git says), and to (what runs).
    pub from: Option<String>,
    pub to: String,
    /// The commit whose spec deployed `to`.
    pub restores: String,
}

/// A rollback, as a revert needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Undo {
    pub env: String,
    /// The rollback's run (or the deploy's, for the gate's): names the branch.
    pub run: String,
    /// Who rolled back: a person, or the health gate.
    pub actor: String,
    pub reason: Option<String>,
    pub services: Vec<Restore>,
}

impl Undo {
    /// A manual rollback: its services that verified and were pinned with a known commit.
    pub fn of_rollback(report: &RollbackReport) -> Undo {
        Undo {
            env: report.env.clone(),
            run: report.run.clone(),
            actor: report.actor.clone(),
            reason: report.reason.clone(),
            services: report
                .services
                .iter()
                .filter_map(|s| {
                    let pin = s.pin.as_ref()?;
                    Some(Restore {
                        service: s.service.clone(),
                        from: s.from.clone(),
                        to: pin.to.clone(),
                        restores: pin.restores.clone()?,
                    })
                })
                .collect(),
        }
    }

    /// The gate's rollbacks in one run of `env`: each service that was rolled back to a
    /// revision a commit's deploy verified. None when there is none.
    pub fn of_deploys(
        env: &str,
        run: &str,
        results: &[DeployResult],
        records: &[Record],
    ) -> Option<Undo> {
        let services: Vec<Restore> = results
            .iter()
            .filter(|r| r.rolled_back)
            .filter_map(|r| {
                let to = r.task_definition.clone()?;
                // Not this run's own record of the revision it returned to: its commit is the
                // one that failed.
                let restores = verifications(records, env, &r.service)
                    .into_iter()
                    .rev()
                    .find(|v| v.task_definition == to && v.run != run)?
                    .commit?;
                Some(Restore {
                    service: r.service.clone(),
                    from: r.new_task_definition.clone(),
                    to,
                    restores,
                })
            })
            .collect();
        let reasons: Vec<String> = results
            .iter()
            .filter(|r| r.rolled_back)
            .filter_map(|r| Some(format!("{}: {}", r.service, r.reason.as_deref()?)))
            .collect();
        (!services.is_empty()).then(|| Undo {
            env: env.to_string(),
            run: run.to_string(),
            actor: GATE.into(),
            reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
            services,
        })
    }
}
