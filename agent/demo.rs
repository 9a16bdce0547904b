//! `amagent demo`: the product end to end with no AWS account and no GitHub — the real agent
//! (`daemon::Agent`, the loop body of `amagent run`) on the simulator, real git repositories,
//! real images built by buildah and pushed to a local registry, the console reporter:
//!
//! - act 1: a merged PR deploys staging (build, push, RDS snapshot for a major version,
//!   rolling deploy gated on target health, ECR lifecycle);
//! - act 2: a second PR ships a crash-looping release: the gate fails it, it is rolled back, and
//!   the PR comment says why;
//! - act 3: tag `v1.0.0` promotes exactly staging's verified digests to production;
//! - act 4: a fix reaches staging, `v1.1.0` promotes it, and `amagent rollback` takes production
//!   back to `v1.0.0`'s revision through the same gate;
//! - act 5 (`demo/migration.rs`): a release with a database migration, run as a one-off task of
//!   the new revision before the service is updated;
//! - act 6 (`demo/approval.rs`): production needs an approver's `/amagent approve` before a
//!   tag promotes (a non-approver's changes nothing).
//!
//! Everything lives in a temporary directory; the simulator's clock is virtual.

mod approval;
mod migration;

use crate::cloud::sim::{FaultScript, ImageRule};
use crate::daemon::{Agent, Settings, TickReport};
use crate::metrics::Metrics;
use crate::repo::GitCredentials;
use crate::report::console::Console;
use crate::sandbox::Sandbox;
use crate::stages::deploy::{Outcome, Progress};
use crate::state::journal::{Journal, LocalJournal};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The bundled example, as the binary carries it.
const FILES: [(&str, &str); 3] = [
    (
        "environments/staging.yaml",
        include_str!("../environments/staging.yaml"),
    ),
    (
        "environments/production.yaml",
        include_str!("../environments/production.yaml"),
    ),
    ("pipelines/api.yaml", include_str!("../pipelines/api.yaml")),
];

/// The API's releases in the demo's source repository; `BROKEN` crash-loops.
const RELEASES: [&str; 4] = ["v2.0.0", "v2.1.0", "v2.1.1", migration::RELEASE];
const BROKEN: &str = "v2.1.0";

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the agent: {0}")]
    Agent(#[from] crate::daemon::AgentError),
    #[error("act {act}: {message}")]
    Act { act: u8, message: String },
}

#[derive(Clone, Debug, Serialize)]
pub struct Act {
    pub act: u8,
    pub title: String,
    /// What happened, in a line.
    pub outcome: String,
    /// Facts a test (or a script) can check: revisions, digests.
    pub facts: serde_json::Value,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub acts: Vec<Act>,
    /// The pull-request comments as GitHub would show them.
    pub comments: Vec<Comment>,
}

#[derive(Debug, Serialize)]
pub struct Comment {
    /// The pull request's number.
    pub pr: u64,
    /// The comment's Markdown.
    pub body: String,
}

/// A git work tree the demo commits to.
struct WorkTree {
    repo: git2::Repository,
    dir: PathBuf,
}

impl WorkTree {
    fn init(dir: &Path) -> Result<WorkTree, DemoError> {
        std::fs::create_dir_all(dir)?;
        let repo = git2::Repository::init_opts(
            dir,
            git2::RepositoryInitOptions::new().initial_head("main"),
        )?;
        Ok(WorkTree {
            repo,
            dir: dir.to_path_buf(),
        })
    }

    fn write(&self, path: &str, text: &str) -> Result<(), DemoError> {
        let full = self.dir.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)?;
        }
        Ok(std::fs::write(full, text)?)
    }

    fn commit(&self, message: &str) -> Result<String, DemoError> {
        let mut index = self.repo.index()?;
        index.add_all(["*"], git2::IndexAddOption::DEFAULT, None)?;
        index.write()?;
        let tree = self.repo.find_tree(index.write_tree()?)?;
        let sig = git2::Signature::now("Ada Lovelace", "ada@aussie-markets.example")?;
        let parent = self.repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        let id = self
            .repo
            .commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)?;
        Ok(id.to_string())
    }

    fn tag(&self, name: &str, commit: &str) -> Result<(), DemoError> {
        let object = self.repo.find_object(git2::Oid::from_str(commit)?, None)?;
        self.repo.tag_lightweight(name, &object, false)?;
        Ok(())
    }
}

/// A merge of "pull request #n" moving staging's api to `release`.
fn merge(envs: &WorkTree, n: u64, release: &str) -> Result<String, DemoError> {
    let path = "environments/staging.yaml";
    let text = std::fs::read_to_string(envs.dir.join(path))?;
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("ref: "))
        .unwrap_or("ref: v1.3.0")
        .to_string();
    let indent = &line[..line.len() - line.trim_start().len()];
    envs.write(
        path,
        &text.replacen(&line, &format!("{indent}ref: {release}"), 1),
    )?;
    envs.commit(&format!(
        "Merge pull request #{n} from aussie-markets/api-{release}\n\nDeploy api {release} to staging"
    ))
}

/// Act headers go with the live progress, on stderr (stdout holds the result).
fn say(line: &str) {
    crate::errln!("{line}");
}

/// Run the six acts in `work` (an empty directory), building into `registry`
/// (`http://user:password@127.0.0.1:PORT`).
pub async fn run(
    work: &Path,
    registry: &str,
    progress: Arc<dyn Progress>,
) -> Result<Summary, DemoError> {
    let source = source_repo(work)?;
    let envs = environments_repo(work, &source)?;
    let mut demo = Demo::start(work, envs, registry, progress)?;
    demo.agent.tick().await?; // first sight: adopt what runs
    let (act1, pr1, staged_image) = demo.act1().await?;
    let act2 = demo.act2().await?;
    let (act3, v1_revision) = demo.act3(&pr1, &staged_image).await?;
    let act4 = demo.act4(v1_revision).await?;
    let act5 = demo.act5().await?;
    let act6 = demo.act6().await?;
    let comments = demo
        .console
        .comments()
        .into_iter()
        .map(|((pr, _), body)| Comment { pr, body })
        .collect();
    Ok(Summary {
        acts: vec![act1, act2, act3, act4, act5, act6],
        comments,
    })
}

/// The API's source: three releases, one of which crash-loops on the simulator.
fn source_repo(work: &Path) -> Result<WorkTree, DemoError> {
    let source = WorkTree::init(&work.join("api-src"))?;
    source.write(
        "Dockerfile",
        "FROM scratch\nARG NODE_VERSION\nCOPY release.txt /release.txt\n",
    )?;
    for release in RELEASES {
        source.write("release.txt", &format!("aussie-markets api {release}\n"))?;
        let c = source.commit(&format!("api {release}"))?;
        source.tag(release, &c)?;
    }
    Ok(source)
}

/// The environments repo: the bundled example, building from `source`.
fn environments_repo(work: &Path, source: &WorkTree) -> Result<WorkTree, DemoError> {
    let envs = WorkTree::init(&work.join("environments-repo"))?;
    for (path, text) in FILES {
        envs.write(
            path,
            &text.replace(
                "https://github.com/aussie-markets/api.git",
                &source.dir.display().to_string(),
            ),
        )?;
    }
    envs.commit("Aussie Markets environments")?;
    Ok(envs)
}

/// The demo's world: the environments repo, the agent on the simulator, and what it reports.
struct Demo {
    envs: WorkTree,
    model: crate::config::Model,
    agent: Agent,
    journal: Arc<dyn Journal>,
    console: Arc<Console>,
    progress: Arc<dyn Progress>,
}

impl Demo {
    fn start(
        work: &Path,
        envs: WorkTree,
        registry: &str,
        progress: Arc<dyn Progress>,
    ) -> Result<Demo, DemoError> {
        let model = crate::config::load_dir(&envs.dir).map_err(|e| DemoError::Act {
            act: 0,
            message: format!("the bundled example does not load: {e}"),
        })?;
        let faults = FaultScript::new()
            .image(
                ImageRule::new(format!(":{BROKEN}"))
                    .crash_after(5)
                    .stopped_reason("Essential container in task exited (exit code 1: Error: connect ECONNREFUSED 10.0.3.12:5432)"),
            )
            .one_off(migration::rule());
        let running: Vec<_> = model.environments.values().cloned().collect();
        let sandbox = Arc::new(Sandbox::for_environments(
            &running,
            faults,
            crate::sandbox::epoch(),
        ));
        sandbox.sim.use_registry(registry);
        let console = Arc::new(Console::quiet());
        let journal: Arc<dyn Journal> = Arc::new(LocalJournal::new(work.join("journal")));
        let mut agent = Agent::new(
            Settings {
                url: envs.dir.display().to_string(),
                branch: "main".into(),
                mirror: work.join("mirror"),
                cache: work.join("cache"),
                credentials: GitCredentials::default(),
                builder: None,
                parallel_builds: crate::daemon::PARALLEL_BUILDS,
            },
            sandbox.sim.cloud(),
            sandbox.clock.clone(),
            journal.clone(),
            console.clone(),
            progress.clone(),
            Arc::new(Metrics::default()),
        );
        let hook = sandbox.clone();
        agent.on_pushed = Some(Box::new(move |repository, digest, tags| {
            let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
            hook.sim
                .push_image(repository, digest, &tags, hook.clock.now());
        }));
        Ok(Demo {
            envs,
            model,
            agent,
            journal,
            console,
            progress,
        })
    }

    /// Act 1: a merged PR deploys staging. Gives the merge commit and the image deployed.
    async fn act1(&mut self) -> Result<(Act, String, String), DemoError> {
        say("\n━━ Act 1 — PR #1 is merged: api v2.0.0 to staging ━━");
        let pr1 = merge(&self.envs, 1, "v2.0.0")?;
        let tick = self.agent.tick().await?;
        let staging = only(&tick, "staging", 1)?;
        let deploy = staging.deploys.first().cloned();
        if staging.outcome != Outcome::Succeeded {
            return Err(act_failed(1, "staging did not verify v2.0.0", &tick));
        }
        let staged_image = deploy.as_ref().map(|d| d.image.clone()).unwrap_or_default();
        let act = Act {
            act: 1,
            title: "a merged PR deploys staging".into(),
            outcome: format!(
                "deployed and verified {} ({})",
                short(deploy.as_ref().and_then(|d| d.task_definition.as_deref())),
                snapshot_note(staging)
            ),
            facts: serde_json::json!({
                "task_definition": deploy.as_ref().and_then(|d| d.task_definition.clone()),
                "image": staged_image,
                "snapshot": staging.snapshot.as_ref().map(|s| s.snapshot_id.clone()),
                "lifecycle_expired": staging.lifecycle.iter().map(|l| l.deleted.len()).sum::<usize>(),
            }),
        };
        Ok((act, pr1, staged_image))
    }

    /// Act 2: a crash-looping release fails the gate and is rolled back.
    async fn act2(&mut self) -> Result<Act, DemoError> {
        say("\n━━ Act 2 — PR #2 is merged: api v2.1.0, which crash-loops ━━");
        merge(&self.envs, 2, BROKEN)?;
        let tick = self.agent.tick().await?;
        let staging = only(&tick, "staging", 2)?;
        let failed = staging.deploys.first().cloned();
        let rolled_back = failed.as_ref().is_some_and(|d| d.rolled_back);
        if staging.outcome != Outcome::Failed || !rolled_back {
            return Err(act_failed(
                2,
                "the crash-looping release was not rolled back",
                &tick,
            ));
        }
        let reason = failed.as_ref().and_then(|d| d.reason.clone());
        Ok(Act {
            act: 2,
            title: "a crash-looping release fails the gate and is rolled back".into(),
            outcome: format!(
                "rolled back to {}: {}",
                short(failed.as_ref().and_then(|d| d.task_definition.as_deref())),
                reason.clone().unwrap_or_default()
            ),
            facts: serde_json::json!({
                "rolled_back": rolled_back,
                "running": failed.as_ref().and_then(|d| d.task_definition.clone()),
                "reason": reason,
            }),
        })
    }

    /// Act 3: tag v1.0.0 promotes staging's digest to production. Gives production's revision.
    async fn act3(
        &mut self,
        pr1: &str,
        staged_image: &str,
    ) -> Result<(Act, Option<String>), DemoError> {
        say("\n━━ Act 3 — tag v1.0.0 on PR #1's merge: promote to production ━━");
        self.envs.tag("v1.0.0", pr1)?;
        let tick = self.agent.tick().await?;
        let production = only(&tick, "production", 3)?;
        let promoted = production.deploys.first().cloned();
        let promoted_image = promoted
            .as_ref()
            .map(|d| d.image.clone())
            .unwrap_or_default();
        let same = digest(&promoted_image) == digest(staged_image) && !promoted_image.is_empty();
        if production.outcome != Outcome::Succeeded || !same {
            return Err(act_failed(
                3,
                "production did not get staging's digest",
                &tick,
            ));
        }
        let v1_revision = promoted.as_ref().and_then(|d| d.task_definition.clone());
        let promoted_digest = digest(&promoted_image);
        let act = Act {
            act: 3,
            title: "a tag promotes staging's verified digests to production".into(),
            outcome: format!(
                "production runs {} with staging's digest {} ({})",
                short(v1_revision.as_deref()),
                &promoted_digest[..19.min(promoted_digest.len())],
                snapshot_note(production)
            ),
            facts: serde_json::json!({
                "staging_digest": digest(staged_image),
                "production_digest": promoted_digest,
                "production_image": promoted_image,
                "task_definition": v1_revision,
                "snapshot": production.snapshot.as_ref().map(|s| s.snapshot_id.clone()),
            }),
        };
        Ok((act, v1_revision))
    }

    /// Act 4: the fix reaches staging and is promoted as v1.1.0; `rollback` then returns
    /// production to `v1_revision` through the gate.
    async fn act4(&mut self, v1_revision: Option<String>) -> Result<Act, DemoError> {
        say("\n━━ Act 4 — the fix (PR #3, v2.1.1) is promoted as v1.1.0, then rolled back ━━");
        let v11_revision = self.promote_fix().await?;
        say("$ amagent rollback --env production --reason \"checkout errors after v1.1.0\"");
        let back = self.roll_back_production().await?;
        let now_running = back.services.first().and_then(|s| s.running.clone());
        if back.outcome != Outcome::Succeeded || now_running != v1_revision {
            return Err(DemoError::Act {
                act: 4,
                message: format!(
                    "the rollback did not return production to {v1_revision:?} ({back:?})"
                ),
            });
        }
        Ok(Act {
            act: 4,
            title: "amagent rollback returns production to the previous verified release".into(),
            outcome: format!(
                "{} → {}, verified healthy; api pinned until Git changes it",
                short(v11_revision.as_deref()),
                short(now_running.as_deref())
            ),
            facts: serde_json::json!({
                "from": v11_revision,
                "to": now_running,
                "promoted_v1_0_0": v1_revision,
            }),
        })
    }

    /// PR #3 verified on staging, then tag v1.1.0 to production; gives production's revision.
    async fn promote_fix(&mut self) -> Result<Option<String>, DemoError> {
        let pr3 = merge(&self.envs, 3, "v2.1.1")?;
        let tick = self.agent.tick().await?;
        if only(&tick, "staging", 4)?.outcome != Outcome::Succeeded {
            return Err(act_failed(4, "staging did not verify the fix", &tick));
        }
        self.envs.tag("v1.1.0", &pr3)?;
        let tick = self.agent.tick().await?;
        let production = only(&tick, "production", 4)?;
        if production.outcome != Outcome::Succeeded {
            return Err(act_failed(4, "production did not verify v1.1.0", &tick));
        }
        Ok(production
            .deploys
            .first()
            .and_then(|d| d.task_definition.clone()))
    }

    /// `amagent rollback --env production`, one verified step back.
    async fn roll_back_production(&self) -> Result<crate::rollback::RollbackReport, DemoError> {
        let ctx = crate::rollback::Context {
            cloud: &self.agent.cloud,
            clock: &self.agent.clock,
            journal: &*self.journal,
            progress: &*self.progress,
            retry: crate::cloud::retry::RetryPolicy::default(),
        };
        let production_env = self.model.environments["production"].clone();
        crate::rollback::rollback(
            &ctx,
            crate::rollback::Request {
                env: &production_env,
                services: Vec::new(),
                selector: crate::rollback::Selector::Steps(1),
                actor: "ada".into(),
                reason: Some("checkout errors after v1.1.0".into()),
            },
        )
        .await
        .map_err(|e| DemoError::Act {
            act: 4,
            message: format!("rollback: {e}"),
        })
    }
}

/// "snapshot <id> first", or "no snapshot".
fn snapshot_note(report: &crate::executor::EnvReport) -> String {
    report
        .snapshot
        .as_ref()
        .map(|s| format!("snapshot {} first", s.snapshot_id))
        .unwrap_or_else(|| "no snapshot".into())
}

fn only<'a>(
    tick: &'a TickReport,
    env: &str,
    act: u8,
) -> Result<&'a crate::executor::EnvReport, DemoError> {
    tick.applied
        .iter()
        .find(|r| r.env == env)
        .ok_or_else(|| act_failed(act, &format!("{env} was not applied"), tick))
}

fn act_failed(act: u8, what: &str, tick: &TickReport) -> DemoError {
    DemoError::Act {
        act,
        message: format!(
            "{what}: {}",
            serde_json::to_string(tick).unwrap_or_default()
        ),
    }
}

fn digest(image: &str) -> &str {
    image.split_once('@').map(|(_, d)| d).unwrap_or("")
}

fn short(td: Option<&str>) -> String {
    td.map(crate::stages::deploy::rollout::short_td)
        .unwrap_or("?")
        .to_string()
}
