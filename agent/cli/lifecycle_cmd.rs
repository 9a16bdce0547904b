//! `amagent lifecycle --env E [--dry-run] [--policy] --sim SCENARIO`: what the environment's
//! ECR rules expire, with every running or rollback-target image protected.

use super::progress::ConsoleProgress;
use super::sim_cmd::{Session, load_environment, open_journal, runtime, scenario};
use super::{Exit, OutputFormat, print_json};
use crate::clock::Clock;
use crate::config::Environment;
use crate::executor::{self, Context, LifecycleReport};
use crate::stages::lifecycle::{ImageVerdict, Rules, ecr_policy_json};
use crate::state::journal::{Journal, JournalError, Phase, Record};
use std::path::Path;

pub fn run(
    dir: &Path,
    env_name: &str,
    dry_run: bool,
    (sim, region): (Option<&str>, Option<&str>),
    (journal_spec, force): (&str, bool),
    output: OutputFormat,
) -> Exit {
    let (_, env) = match load_environment(dir, env_name, output) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let faults = match scenario(sim, output) {
        Ok(f) => f,
        Err(code) => return code,
    };
    runtime(faults.is_some()).block_on(async {
        let session = Session::open(&env, faults, region).await;
        let journal = match open_journal(journal_spec, &session) {
            Ok(j) => j,
            Err(e) => {
                super::print_error(output, "usage", &e.to_string());
                return Exit::Usage;
            }
        };
        let journal = journal.as_ref();
        // A dry run changes nothing: it may look while an agent is active.
        if !dry_run {
            let who = (&session.clock, env.name.as_str(), "lifecycle");
            let leased = super::lease_guard::refuse_if_leased(
                journal_spec,
                &session.cloud.s3,
                journal,
                who,
                force,
                output,
            );
            if let Err(code) = leased.await {
                return code;
            }
        }
        let entry = JournalEntry {
            journal,
            clock: &session.clock,
            env: &env.name,
            run: format!(
                "{}-{}-lifecycle",
                env.name,
                session.clock.now().format("%Y%m%dT%H%M%SZ")
            ),
        };
        // Write-ahead: an unreadable journal stops it; deletions are journalled before made.
        if let Err(e) = entry.started(dry_run).await {
            super::print_error(output, "io", &format!("nothing deleted: {e}"));
            return Exit::Io;
        }
        let progress = ConsoleProgress::new(session.clock.clone());
        let ctx = Context::new(&session.cloud, &session.clock, journal, &progress);
        let services: Vec<_> = env.services.iter().collect();
        let reports = executor::run_lifecycle(&ctx, &env, &services, dry_run).await;
        let failed = reports.iter().any(|r| r.error.is_some());
        if !dry_run {
            entry.finished(failed, &reports).await;
        }
        print_reports(&env, dry_run, &reports, output);
        if failed { Exit::Refused } else { Exit::Ok }
    })
}

/// The manual lifecycle run's records in the journal.
struct JournalEntry<'a> {
    journal: &'a dyn Journal,
    clock: &'a Clock,
    env: &'a str,
    run: String,
}

impl JournalEntry<'_> {
    fn record(&self, phase: Phase, outcome: Option<&str>, detail: serde_json::Value) -> Record {
        Record {
            at: self.clock.now(),
            run: self.run.clone(),
            env: self.env.to_string(),
            service: None,
            step: "lifecycle".into(),
            phase,
            outcome: outcome.map(String::from),
            detail,
        }
    }

    /// The journal must be readable; a real run is recorded as started before it deletes.
    async fn started(&self, dry_run: bool) -> Result<(), JournalError> {
        self.journal.read(Some(self.env)).await?;
        if dry_run {
            return Ok(());
        }
        let detail = serde_json::json!({ "manual": true });
        self.journal
            .append(&self.record(Phase::Started, None, detail))
            .await
    }

    async fn finished(&self, failed: bool, reports: &[LifecycleReport]) {
        let outcome = if failed { "failed" } else { "succeeded" };
        let detail = serde_json::to_value(reports).unwrap_or_default();
        let record = self.record(Phase::Finished, Some(outcome), detail);
        if let Err(e) = self.journal.append(&record).await {
            tracing::error!(error = %e, "cannot write the journal");
        }
    }
}

fn print_reports(
    env: &Environment,
    dry_run: bool,
    reports: &[LifecycleReport],
    output: OutputFormat,
) {
    let policy = ecr_policy_json(Rules::from(&env.ecr.lifecycle));
    if output == OutputFormat::Json {
        print_json(&serde_json::json!({
            "env": env.name,
            "dry_run": dry_run,
            "repositories": reports,
            "ecr_policy": serde_json::from_str::<serde_json::Value>(&policy).unwrap_or_default(),
        }));
        return;
    }
    super::progress::close_line();
    for r in reports {
        let verb = if dry_run { "would expire" } else { "expired" };
        crate::outln!(
            "{} ({}): {verb} {} image(s)",
            r.repository,
            r.services.join(", "),
            r.expire.len()
        );
        if let Some(e) = &r.error {
            crate::outln!("  error: {e}");
        }
        for v in &r.expire {
            print_image('-', v);
        }
        for v in r.keep.iter().filter(|v| v.reason.starts_with("protected")) {
            print_image('=', v);
        }
    }
    crate::outln!(
        "\nEquivalent standing ECR lifecycle policy (ECR's own rules cannot protect running images):\n{policy}"
    );
}

/// One image line: `-` expired, `=` kept because protected.
fn print_image(mark: char, v: &ImageVerdict) {
    crate::outln!(
        "  {mark} {} {:<12} pushed {}  {}",
        &v.digest[..19.min(v.digest.len())],
        v.tags.join(","),
        v.pushed_at.format("%Y-%m-%d"),
        v.reason
    );
}
