//! Write-ahead, for real: nothing changes AWS unless the journal took the step's "started"
//! record first. A journal that stops taking appends at every possible point (a disk that
//! fills up mid-deploy) is put under deploys on the simulator — healthy, and crashing into a
//! rollback, with a snapshot — and the simulator's count of every mutating call is checked
//! against the started records that made it to disk.

use amagent::cli::{Exit, deploy_exit};
use amagent::cloud::sim::FaultScript;
use amagent::config::{Environment, load_dir};
use amagent::executor::{self, Context, EnvRun};
use amagent::sandbox::Sandbox;
use amagent::stages::deploy::{FailureKind, Silent};
use amagent::state::journal::{Journal, JournalError, LocalJournal, Phase, Record};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Takes the first `room` appends, then refuses every other one (ENOSPC).
struct FillsUp {
    inner: LocalJournal,
    room: usize,
    taken: AtomicUsize,
}

#[async_trait]
impl Journal for FillsUp {
    async fn append(&self, record: &Record) -> Result<(), JournalError> {
        if self.taken.fetch_add(1, Ordering::SeqCst) >= self.room {
            return Err(JournalError::Io {
                path: "journal/production.jsonl".into(),
                source: std::io::Error::from_raw_os_error(28),
            });
        }
        self.inner.append(record).await
    }
    async fn read(&self, env: Option<&str>) -> Result<Vec<Record>, JournalError> {
        self.inner.read(env).await
    }
}

fn production() -> Environment {
    load_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .environments["production"]
        .clone()
}

struct Outcome {
    calls: BTreeMap<String, u64>,
    started: BTreeMap<String, u64>,
    exit: Exit,
    journal_failures: bool,
    /// Appends attempted.
    appends: usize,
}

async fn deploy_with_room(scenario: &str, room: usize) -> Outcome {
    let env = production();
    let sandbox = Sandbox::for_environment(&env, FaultScript::builtin(scenario).unwrap());
    let cloud = sandbox.sim.cloud();
    let dir = tempfile::tempdir().unwrap();
    let journal = FillsUp {
        inner: LocalJournal::new(dir.path()),
        room,
        taken: AtomicUsize::new(0),
    };
    let ctx = Context::new(&cloud, &sandbox.clock, &journal, &Silent);
    let spec = env.service("api").unwrap();
    let plan = amagent::plan::manual_deploy(&env, spec, "v1.4.0");
    let image = sandbox.resolve_image(spec, "v1.4.0").unwrap();
    sandbox.sim.reset_calls();
    let report = executor::execute(
        &ctx,
        EnvRun {
            env: &env,
            plan: &plan,
            images: BTreeMap::from([("api".to_string(), image)]),
            commit: None,
            lifecycle_dry_run: false,
            resume_since: None,
        },
    )
    .await;
    let mut started = BTreeMap::new();
    for r in journal.inner.read(None).await.unwrap() {
        if r.phase == Phase::Started {
            *started.entry(r.step).or_insert(0) += 1;
        }
    }
    Outcome {
        calls: sandbox.sim.calls(),
        started,
        exit: deploy_exit(&report),
        appends: journal.taken.load(Ordering::SeqCst),
        journal_failures: report.journal_error.is_some()
            || report
                .deploys
                .iter()
                .any(|d| d.failure_kind == Some(FailureKind::Journal)),
    }
}

fn count(map: &BTreeMap<String, u64>, keys: &[&str]) -> u64 {
    keys.iter().map(|k| map.get(*k).copied().unwrap_or(0)).sum()
}

/// Every mutating call the simulator saw is covered by a started record on disk.
fn assert_write_ahead(o: &Outcome, case: &str) {
    let covered = [
        (&["RegisterTaskDefinition"][..], &["register"][..]),
        (
            &["UpdateService"],
            &["update-service", "rollback-update-service"],
        ),
        (&["CreateDBSnapshot", "DeleteDBSnapshot"], &["snapshot"]),
        (&["BatchDeleteImage"], &["lifecycle"]),
    ];
    for (calls, steps) in covered {
        let made = count(&o.calls, calls);
        let recorded = count(&o.started, steps);
        assert!(
            made == 0 || recorded > 0,
            "{case}: {calls:?} made {made} time(s) with no started {steps:?} record on disk; calls {:?}, started {:?}",
            o.calls,
            o.started
        );
        if calls == ["UpdateService"] || calls == ["RegisterTaskDefinition"] {
            assert!(
                made <= recorded,
                "{case}: {made} {calls:?} for {recorded} started record(s)"
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_journal_that_fills_up_at_any_step_stops_every_change_after_it() {
    for scenario in ["healthy", "crash"] {
        // With room for everything, the deploy runs as usual: that is the number of appends.
        let full = deploy_with_room(scenario, usize::MAX).await;
        assert!(!full.journal_failures, "{scenario}");
        assert!(count(&full.calls, &["UpdateService"]) >= 1, "{scenario}");
        for room in 0..full.appends {
            let o = deploy_with_room(scenario, room).await;
            assert_write_ahead(&o, &format!("{scenario}, room for {room} record(s)"));
        }
        // No room at all: nothing happened, and the exit code says the journal is at fault.
        let none = deploy_with_room(scenario, 0).await;
        assert_eq!(
            count(
                &none.calls,
                &[
                    "RegisterTaskDefinition",
                    "UpdateService",
                    "CreateDBSnapshot",
                    "BatchDeleteImage"
                ]
            ),
            0,
            "{scenario}: {:?}",
            none.calls
        );
        assert!(none.journal_failures);
        assert_eq!(none.exit, Exit::Io);
    }
}
