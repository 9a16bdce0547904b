//! `amagent rollback`, `resume`, `status` and `history`. The flows that need several deploys
//! in one simulated world run through the library (the simulator lives per process, so a CLI
//! invocation starts a fresh world); what needs only the journal, or the world as the sandbox
//! sets it up, runs through the binary.

use amagent::cloud::retry::RetryPolicy;
use amagent::cloud::sim::{FaultScript, ImageRule};
use amagent::config::{Environment, load_dir};
use amagent::executor::{self, EnvRun};
use amagent::rollback::{self, RollbackError, Selector};
use amagent::sandbox::{Sandbox, fake_digest};
use amagent::stages::deploy::{Outcome, Silent};
use amagent::state::journal::pins::pins;
use amagent::state::journal::{Journal, LocalJournal, Phase, Record};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn staging() -> Environment {
    load_dir(root()).unwrap().environments["staging"].clone()
}

const API: &str = "aussie-markets-api-staging";

struct World {
    env: Environment,
    sandbox: Sandbox,
    journal: LocalJournal,
    _dir: tempfile::TempDir,
}

impl World {
    fn new(faults: FaultScript) -> World {
        let env = staging();
        let sandbox = Sandbox::for_environment(&env, faults);
        let dir = tempfile::tempdir().unwrap();
        World {
            journal: LocalJournal::new(dir.path()),
            _dir: dir,
            env,
            sandbox,
        }
    }

    async fn deploy(&self, tag: &str, commit: &str) -> Outcome {
        let cloud = self.sandbox.sim.cloud();
        let ctx = executor::Context::new(&cloud, &self.sandbox.clock, &self.journal, &Silent);
        let spec = &self.env.services[0];
        let image = self.sandbox.resolve_image(spec, tag).unwrap();
        let plan = amagent::plan::manual_deploy(&self.env, spec, tag);
        executor::execute(
            &ctx,
            EnvRun {
                env: &self.env,
                plan: &plan,
                images: BTreeMap::from([(spec.name.clone(), image)]),
                commit: Some(commit.to_string()),
                lifecycle_dry_run: true,
                resume_since: None,
            },
        )
        .await
        .outcome
    }

    async fn rollback(
        &self,
        selector: Selector,
    ) -> Result<rollback::RollbackReport, RollbackError> {
        let cloud = self.sandbox.sim.cloud();
        let ctx = rollback::Context {
            cloud: &cloud,
            clock: &self.sandbox.clock,
            journal: &self.journal,
            progress: &Silent,
            retry: RetryPolicy::default(),
        };
        rollback::rollback(
            &ctx,
            rollback::Request {
                env: &self.env,
                services: vec!["api".into()],
                selector,
                actor: "alice".into(),
                reason: Some("500s on /orders".into()),
            },
        )
        .await
    }

    fn running(&self) -> String {
        let td = self
            .sandbox
            .sim
            .running_task_definition(&self.env.ecs.cluster, API)
            .unwrap();
        td.rsplit('/').next().unwrap().to_string()
    }

    async fn records(&self) -> Vec<Record> {
        self.journal.read(Some("staging")).await.unwrap()
    }
}

/// v1.5.0 passes the gate and its bake, then (10 minutes after RUNNING) fails health checks.
fn missed_by_the_gate() -> FaultScript {
    FaultScript::new()
        .image(ImageRule::new(fake_digest("aussie-markets/api:v1.5.0")).unhealthy_after(600))
}

#[tokio::test(start_paused = true)]
async fn the_gate_missed_it_rollback_returns_to_the_previous_verified_revision() {
    let w = World::new(missed_by_the_gate());
    assert_eq!(w.deploy("v1.4.0", "aaaaaaa1").await, Outcome::Succeeded);
    assert_eq!(w.running(), "aussie-markets-api-task:43");
    assert_eq!(w.deploy("v1.5.0", "bbbbbbb2").await, Outcome::Succeeded);
    assert_eq!(w.running(), "aussie-markets-api-task:44");
    // Later, v1.5.0 goes bad: someone rolls back.
    tokio::time::sleep(std::time::Duration::from_secs(900)).await;

    let report = w.rollback(Selector::Steps(1)).await.unwrap();
    assert_eq!(report.outcome, Outcome::Succeeded, "{report:#?}");
    let s = &report.services[0];
    assert!(s.to.ends_with("aussie-markets-api-task:43"), "{s:?}");
    assert!(s.from.as_deref().unwrap().ends_with(":44"));
    assert_eq!(w.running(), "aussie-markets-api-task:43");
    // No rebuild, no new revision: the old one deployed as it is.
    assert_eq!(
        w.sandbox.sim.calls().get("RegisterTaskDefinition").copied(),
        Some(2)
    );

    let records = w.records().await;
    // Its own run, journalled as a rollback with who and why, verified through the gate.
    let finished = records
        .iter()
        .find(|r| r.step == rollback::STEP && r.phase == Phase::Finished)
        .unwrap();
    assert_eq!(finished.run, report.run);
    assert_eq!(finished.outcome.as_deref(), Some("succeeded"));
    assert_eq!(finished.detail["actor"], "alice");
    assert_eq!(finished.detail["reason"], "500s on /orders");
    assert!(records.iter().any(|r| r.run == report.run
        && r.step == "gate"
        && r.outcome.as_deref() == Some("succeeded")));
    // Pinned, with the commit that was running when rolled back.
    let pinned = pins(&records);
    let pin = &pinned[&("staging".to_string(), "api".to_string())];
    assert_eq!(pin.by, "alice");
    assert_eq!(pin.commit.as_deref(), Some("bbbbbbb2"));
    assert!(pin.to.ends_with(":43"));
    // The engine's rollback target is now the revision rolled back to.
    assert!(
        amagent::state::journal::last_verified(&records, "staging", "api")
            .unwrap()
            .ends_with(":43")
    );

    // Status: running :43 (v1.4.0), verified, from commit aaaaaaa1, pinned by alice.
    let status = amagent::status::status(
        &w.sandbox.sim.cloud(),
        RetryPolicy::default(),
        &w.env,
        &records,
    )
    .await
    .unwrap();
    let api = &status[0];
    assert_eq!(api.revision.as_deref(), Some("aussie-markets-api-task:43"));
    assert_eq!(
        api.digest.as_deref(),
        Some(fake_digest("aussie-markets/api:v1.4.0").as_str())
    );
    assert_eq!(api.tags, ["v1.4.0"]);
    assert_eq!(api.commit.as_deref(), Some("aaaaaaa1"));
    assert!(api.verified);
    assert_eq!(api.last.as_ref().unwrap().kind, "rollback");
    assert_eq!(api.pin.as_ref().unwrap().by, "alice");

    // A second rollback goes further back (to the sandbox's :42 is not verified: none left).
    let err = w.rollback(Selector::Steps(1)).await.unwrap_err();
    assert!(matches!(err, RollbackError::Choice(_)), "{err}");
}

#[tokio::test(start_paused = true)]
async fn to_an_older_revision_or_steps_back() {
    let w = World::new(FaultScript::builtin("healthy").unwrap());
    for (tag, commit) in [("v1.4.0", "c1"), ("v1.5.0", "c2"), ("v1.6.0", "c3")] {
        assert_eq!(w.deploy(tag, commit).await, Outcome::Succeeded);
    }
    assert_eq!(w.running(), "aussie-markets-api-task:45");
    // --steps 2: two verified revisions back.
    let report = w.rollback(Selector::Steps(2)).await.unwrap();
    assert_eq!(report.outcome, Outcome::Succeeded);
    assert_eq!(w.running(), "aussie-markets-api-task:43");
    // --to by image digest: forward again to v1.6.0's revision.
    let digest = fake_digest("aussie-markets/api:v1.6.0");
    let report = w.rollback(Selector::To(digest)).await.unwrap();
    assert_eq!(report.outcome, Outcome::Succeeded);
    assert_eq!(w.running(), "aussie-markets-api-task:45");
    // --to by family:revision, two back.
    let report = w
        .rollback(Selector::To("aussie-markets-api-task:43".into()))
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Succeeded);
    assert_eq!(w.running(), "aussie-markets-api-task:43");
    // Already there: nothing to do.
    let report = w
        .rollback(Selector::To("aussie-markets-api-task:43".into()))
        .await
        .unwrap();
    assert!(report.services[0].unchanged);
    // Unknown: nothing changes, the verified ones are listed.
    let err = w
        .rollback(Selector::To("aussie-markets-api-task:7".into()))
        .await
        .unwrap_err();
    let RollbackError::Choice(choice) = err else {
        panic!("{err}")
    };
    let listed: Vec<&str> = choice
        .verified()
        .iter()
        .map(|v| v.task_definition.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(
        listed,
        [
            "aussie-markets-api-task:43",
            "aussie-markets-api-task:45",
            "aussie-markets-api-task:44"
        ]
    );
    assert_eq!(w.running(), "aussie-markets-api-task:43");
}

#[tokio::test(start_paused = true)]
async fn a_deregistered_target_is_refused_and_nothing_changes() {
    let w = World::new(
        FaultScript::builtin("healthy")
            .unwrap()
            .deny("DescribeTaskDefinition"),
    );
    // With DescribeTaskDefinition denied nothing can be verified: write the journal by hand.
    let td = |n: u32| {
        format!(
            "arn:aws:ecs:ap-southeast-2:123456789012:task-definition/aussie-markets-api-task:{n}"
        )
    };
    for (n, at) in [(40, 1), (41, 2)] {
        w.journal
            .append(&Record {
                at: chrono::DateTime::from_timestamp(1_790_000_000 + at, 0).unwrap(),
                run: format!("r{n}"),
                env: "staging".into(),
                service: Some("api".into()),
                step: "deploy".into(),
                phase: Phase::Finished,
                outcome: Some("succeeded".into()),
                detail: serde_json::json!({ "task_definition": td(n) }),
            })
            .await
            .unwrap();
    }
    let err = w.rollback(Selector::Steps(1)).await.unwrap_err();
    assert!(matches!(err, RollbackError::Cloud { .. }), "{err}");
    assert_eq!(w.running(), "aussie-markets-api-task:42");
    assert!(!w.records().await.iter().any(|r| r.step == rollback::STEP));
}

// ---- through the binary ----

fn amagent(args: &[&str], journal: &Path) -> (Option<i32>, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_amagent"));
    command.args(args);
    // `history` reads only the journal.
    if !args.contains(&"history") {
        command.arg("--dir").arg(root());
    }
    let out = command
        .env("AMAGENT_JOURNAL", journal)
        .env("USER", "carol")
        .env_remove("AMAGENT_REPO")
        .env_remove("GITHUB_TOKEN")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn unknown_to_is_a_usage_error_listing_the_verified_revisions() {
    let journal = tempfile::tempdir().unwrap();
    let deploy = amagent(
        &[
            "deploy",
            "--env",
            "staging",
            "--service",
            "api",
            "--image",
            "v1.4.0",
            "--sim",
            "healthy",
        ],
        journal.path(),
    );
    assert_eq!(deploy.0, Some(0), "{}", deploy.2);
    let (code, _, stderr) = amagent(
        &[
            "rollback",
            "--env",
            "staging",
            "--service",
            "api",
            "--to",
            "aussie-markets-api-task:7",
            "--sim",
            "healthy",
        ],
        journal.path(),
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("no verified deploy of api used `aussie-markets-api-task:7`"),
        "{stderr}"
    );
    assert!(stderr.contains("verified revisions"), "{stderr}");
    assert!(
        stderr.contains("aussie-markets-api-task:43  verified "),
        "{stderr}"
    );
    // JSON: the same, for scripts.
    let (code, stdout, _) = amagent(
        &[
            "--output", "json", "rollback", "--env", "staging", "--to", "nope", "--sim", "healthy",
        ],
        journal.path(),
    );
    assert_eq!(code, Some(2));
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["error"]["kind"], "usage");
    assert!(
        json["error"]["verified"][0]["task_definition"]
            .as_str()
            .unwrap()
            .ends_with("aussie-markets-api-task:43")
    );
    // --to and --steps together: clap refuses.
    let (code, _, _) = amagent(
        &["rollback", "--env", "staging", "--to", "x", "--steps", "2"],
        journal.path(),
    );
    assert_eq!(code, Some(2));
}

/// A journal as `amagent rollback` leaves it: v1.4.0 verified as :42 (what the sandbox runs in
/// every process), then rolled back to by dave, pinned.
fn pinned_journal(dir: &Path) {
    let td = "arn:aws:ecs:ap-southeast-2:123456789012:task-definition/aussie-markets-api-task:42";
    let at = |s: i64| chrono::DateTime::from_timestamp(1_790_000_000 + s, 0).unwrap();
    let rec =
        |s, run: &str, service: Option<&str>, step: &str, outcome: Option<&str>, detail| Record {
            at: at(s),
            run: run.into(),
            env: "staging".into(),
            service: service.map(String::from),
            step: step.into(),
            phase: if outcome.is_some() {
                Phase::Finished
            } else {
                Phase::Started
            },
            outcome: outcome.map(String::from),
            detail,
        };
    let records = vec![
        rec(
            0,
            "r1",
            None,
            "run",
            None,
            serde_json::json!({ "commit": "1234567abc" }),
        ),
        rec(
            1,
            "r1",
            Some("api"),
            "deploy",
            None,
            serde_json::json!({ "image": "x/aussie-markets/api@sha256:0", "spec": "s1" }),
        ),
        rec(
            2,
            "r1",
            Some("api"),
            "deploy",
            Some("succeeded"),
            serde_json::json!({ "task_definition": td }),
        ),
        rec(
            3,
            "rb",
            None,
            "run",
            None,
            serde_json::json!({ "kind": "rollback", "actor": "dave", "reason": "bad v2" }),
        ),
        rec(
            4,
            "rb",
            Some("api"),
            rollback::STEP,
            Some("succeeded"),
            serde_json::json!({ "from": td.replace(":42", ":43"), "to": td }),
        ),
        rec(
            5,
            "rb",
            Some("api"),
            "pin",
            Some("succeeded"),
            serde_json::json!({ "by": "dave", "reason": "bad v2", "to": td }),
        ),
    ];
    let journal = LocalJournal::new(dir);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for r in &records {
        rt.block_on(journal.append(r)).unwrap();
    }
}

#[test]
fn status_shows_what_runs_where_it_came_from_and_the_pin() {
    let journal = tempfile::tempdir().unwrap();
    pinned_journal(journal.path());
    // Read by `status --sim`: the journal of simulated runs.
    amagent::state::journal::realm::mark_simulated(journal.path()).unwrap();
    let (code, stdout, stderr) = amagent(
        &[
            "--output", "json", "status", "--env", "staging", "--sim", "healthy",
        ],
        journal.path(),
    );
    assert_eq!(code, Some(0), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["environments"][0]["env"], "staging");
    let api = &json["environments"][0]["services"][0];
    assert_eq!(api["service"], "api");
    assert_eq!(api["revision"], "aussie-markets-api-task:42");
    assert!(
        api["task_definition"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:ecs:")
    );
    assert_eq!(api["digest"], fake_digest("aussie-markets/api:v1.3.0"));
    assert_eq!(api["tags"], serde_json::json!(["v1.3.0"]));
    assert_eq!(api["verified"], true);
    assert_eq!(api["commit"], "1234567abc");
    assert_eq!(api["since"], "2026-09-21T14:13:22Z");
    assert_eq!(api["last"]["kind"], "rollback");
    assert_eq!(api["last"]["outcome"], "succeeded");
    assert_eq!(api["pin"]["by"], "dave");
    assert_eq!(api["pin"]["reason"], "bad v2");

    let (code, stdout, _) = amagent(
        &["status", "--env", "staging", "--sim", "healthy"],
        journal.path(),
    );
    assert_eq!(code, Some(0));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "staging");
    assert!(lines[1].starts_with("SERVICE  REVISION"), "{stdout}");
    assert!(
        lines[2].starts_with("api      aussie-markets-api-task:42  sha256:"),
        "{stdout}"
    );
    // Columns line up: each header starts where its values start.
    for column in ["REVISION", "TAGS", "COMMIT", "LAST", "PINNED"] {
        let at = lines[1].find(column).unwrap();
        assert_eq!(&lines[2][at - 2..at], "  ", "{column} in\n{stdout}");
    }
    assert!(lines[2].contains("1234567"));
    assert!(lines[2].ends_with("yes, by dave"), "{stdout}");
    assert!(
        stdout.contains("api: pinned: rolled back by dave at "),
        "{stdout}"
    );
}

#[test]
fn resume_unpins_and_history_shows_the_rollback_with_filters() {
    let journal = tempfile::tempdir().unwrap();
    pinned_journal(journal.path());
    // History: the rollback run, with who and why.
    let (code, stdout, _) = amagent(&["history", "--env", "staging"], journal.path());
    assert_eq!(code, Some(0));
    assert!(stdout.contains("ROLLBACK by dave: bad v2"), "{stdout}");
    assert!(
        stdout.contains(
            "api        succeeded rollback aussie-markets-api-task:43 → aussie-markets-api-task:42"
        ),
        "{stdout}"
    );
    let (_, stdout, _) = amagent(
        &["--output", "json", "history", "--env", "staging"],
        journal.path(),
    );
    let runs: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(runs["runs"][0]["rollback"]["actor"], "dave");
    assert_eq!(runs["runs"][1]["deploys"][0]["outcome"], "succeeded");
    // Filters: --limit, --since, --outcome, --service.
    let count = |args: &[&str]| {
        let mut all = vec!["--output", "json", "history", "--env", "staging"];
        all.extend_from_slice(args);
        let (code, stdout, stderr) = amagent(&all, journal.path());
        assert_eq!(code, Some(0), "{stderr}");
        serde_json::from_str::<serde_json::Value>(&stdout).unwrap()["runs"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count(&[]), 2);
    assert_eq!(count(&["--limit", "1"]), 1);
    assert_eq!(count(&["--since", "2026-09-21T14:13:23Z"]), 1);
    assert_eq!(count(&["--since", "2030-01-01"]), 0);
    assert_eq!(count(&["--outcome", "failed"]), 0);
    assert_eq!(count(&["--outcome", "succeeded"]), 2);
    assert_eq!(count(&["--service", "worker"]), 0);
    assert_eq!(
        amagent(&["history", "--since", "yesterday"], journal.path()).0,
        Some(2)
    );

    // Resume: unpinned, by $USER.
    let (code, stdout, stderr) = amagent(
        &["resume", "--env", "staging", "--service", "api"],
        journal.path(),
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("staging api: unpinned (was pinned to aussie-markets-api-task:42 by dave"),
        "{stdout}"
    );
    let records = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(LocalJournal::new(journal.path()).read(Some("staging")))
        .unwrap();
    assert!(pins(&records).is_empty());
    let resume = records.last().unwrap();
    assert_eq!(resume.step, "resume");
    assert_eq!(resume.detail["by"], "carol");
    let (_, stdout, _) = amagent(&["resume", "--env", "staging"], journal.path());
    assert!(stdout.contains("nothing pinned"), "{stdout}");
}

/// `--revert-pr` without the environments repo's URL: a usage error before anything changes.
#[test]
fn revert_pr_without_a_repository_url_changes_nothing() {
    let journal = tempfile::tempdir().unwrap();
    let (code, _, stderr) = amagent(
        &[
            "rollback",
            "--env",
            "staging",
            "--sim",
            "healthy",
            "--revert-pr",
        ],
        journal.path(),
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--revert-pr needs AMAGENT_REPO"),
        "{stderr}"
    );
    let written: Vec<_> = walk(journal.path());
    assert!(
        written.iter().all(|t| !t.contains("rollback")),
        "{written:?}"
    );
}

/// Every file's text under `dir`, recursively.
fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(std::fs::read_to_string(e.path()).unwrap_or_default());
        }
    }
    out
}
