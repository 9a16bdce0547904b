//! Building a plan's images before it is deployed: CodeBuild builds run at once, up to
//! `--parallel-builds`; local builds one at a time (they share the agent's CPU). A failed
//! build becomes a failed deploy result carrying the build log's last lines, and its service
//! is not deployed; the others go on.

use super::*;
use crate::config::codebuild::BuilderChoice;
use crate::config::{Pipeline, Service};
use crate::stages::image::codebuild::CodeBuildError;
use crate::stages::image::codebuild::ledger::{self, BuildKey, BuildLedger, JournalLedger};
use futures_util::StreamExt;

impl Agent {
    /// Build the services the plan builds; returns their images and the failed builds.
    pub(super) async fn build(
        &self,
        model: &Model,
        env: &crate::config::Environment,
        plan: &EnvironmentPlan,
        run: &str,
    ) -> (BTreeMap<String, String>, Vec<DeployResult>) {
        let cloud = self.cloud_for(env).await;
        let wanted: Vec<(&Service, &Pipeline)> = plan
            .services
            .iter()
            .filter(|s| s.stages.iter().any(|st| st.stage == StageKind::Build))
            .filter_map(|s| {
                let spec = env.service(&s.name)?;
                Some((spec, model.pipelines.get(&spec.pipeline)?))
            })
            .collect();
        let (remote, local): (Vec<_>, Vec<_>) = wanted
            .iter()
            .partition(|(_, p)| p.build.builder == BuilderChoice::Codebuild);
        let cloud = &cloud;
        let locally = async {
            let mut done = Vec::new();
            for &&(spec, pipeline) in &local {
                done.push((spec, self.build_one(cloud, env, run, spec, pipeline).await));
            }
            done
        };
        let remotely =
            futures_util::stream::iter(remote.iter().map(|&&(spec, pipeline)| async move {
                (spec, self.build_one(cloud, env, run, spec, pipeline).await)
            }))
            .buffer_unordered(self.settings.parallel_builds.max(1))
            .collect::<Vec<_>>();
        let (a, b) = tokio::join!(locally, remotely);
        let mut images = BTreeMap::new();
        let mut failures = Vec::new();
        // In the plan's order, whatever order the builds ended in.
        for (spec, _) in &wanted {
            let Some((_, result)) = a.iter().chain(&b).find(|(s, _)| s.name == spec.name) else {
                continue;
            };
            match result {
                Ok(image) => {
                    images.insert(spec.name.clone(), image.clone());
                }
                Err(reason) => {
                    failures.push(DeployResult::build_failed(
                        &env.name,
                        &spec.name,
                        reason.clone(),
                    ));
                }
            }
        }
        (images, failures)
    }

    /// One service's image: its reference, or why the build failed (told to the console too).
    async fn build_one(
        &self,
        cloud: &Cloud,
        env: &crate::config::Environment,
        run: &str,
        spec: &Service,
        pipeline: &Pipeline,
    ) -> Result<String, String> {
        self.progress.step(
            &env.name,
            &spec.name,
            &format!("building {}", spec.source.reference),
        );
        let clock = self.clock.clone();
        let now = move || clock.now();
        let ledger = TrackedLedger {
            inner: JournalLedger {
                journal: &*self.journal,
                env: &env.name,
                run,
                service: &spec.name,
                progress: &*self.progress,
                now: &now,
            },
            running: &self.running_builds,
            builds: cloud.builds.clone(),
        };
        let result = image::build_and_push(
            cloud,
            &ImageRequest {
                service: spec,
                pipeline,
                cache: &self.settings.cache,
                credentials: &self.settings.credentials,
                builder: self.settings.builder.as_deref(),
                now: self.clock.now(),
                ledger: &ledger,
                clock: &self.clock,
            },
        )
        .await;
        match result {
            Ok(built) => {
                if let Some(hook) = &self.on_pushed {
                    hook(&spec.image.repository, &built.digest, &built.tags);
                }
                let short = crate::stages::deploy::rollout::short_image(&built.image);
                self.progress
                    .step(&env.name, &spec.name, &format!("pushed {short}"));
                Ok(built.image)
            }
            Err(e) => {
                let reason = failure_reason(&spec.source.reference, &e);
                self.progress.done(&env.name, &spec.name, false, &reason);
                Err(reason)
            }
        }
    }
}

/// A failed build in words for the PR comment: with the build log's last lines when there are.
fn failure_reason(reference: &str, e: &image::ImageError) -> String {
    let block = |tail: &str| format!("\n\n```\n{tail}\n```");
    match e {
        image::ImageError::Build(image::builder::BuildError::Failed {
            program,
            code,
            tail,
        }) => format!(
            "build of {reference} failed ({program} exit {}); last lines of the build log:{}",
            code.map(|c| c.to_string())
                .unwrap_or_else(|| "signal".into()),
            block(tail)
        ),
        image::ImageError::CodeBuild(CodeBuildError::Failed { id, ending, tail }) => format!(
            "build of {reference} failed on CodeBuild ({ending}; build {id}); last lines of the build log:{}",
            block(tail)
        ),
        e => format!("build of {reference} failed: {e}"),
    }
}

/// CodeBuild builds this agent started (or re-attached to) and has not seen end: stopped when
/// the agent is stopped mid-apply, so nothing builds on for nobody.
#[derive(Default)]
pub struct RunningBuilds(std::sync::Mutex<Vec<RunningBuild>>);

struct RunningBuild {
    id: String,
    env: String,
    run: String,
    service: String,
    builds: Arc<dyn crate::cloud::Builds>,
}

impl RunningBuilds {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RunningBuild>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A [`JournalLedger`] that also keeps [`RunningBuilds`] up to date.
struct TrackedLedger<'a> {
    inner: JournalLedger<'a>,
    running: &'a RunningBuilds,
    builds: Arc<dyn crate::cloud::Builds>,
}

#[async_trait::async_trait]
impl BuildLedger for TrackedLedger<'_> {
    async fn records(&self) -> Vec<Record> {
        self.inner.records().await
    }
    async fn started(
        &self,
        key: &BuildKey,
        build_id: &str,
    ) -> Result<(), crate::state::journal::JournalError> {
        self.inner.started(key, build_id).await?;
        self.following(build_id);
        Ok(())
    }
    async fn finished(&self, build_id: &str, outcome: &str) {
        self.running.lock().retain(|b| b.id != build_id);
        self.inner.finished(build_id, outcome).await;
    }
    fn phase(&self, text: &str) {
        self.inner.phase(text);
    }
    fn forget(&self, build_id: &str) {
        self.running.lock().retain(|b| b.id != build_id);
    }
    fn following(&self, build_id: &str) {
        let mut running = self.running.lock();
        if !running.iter().any(|b| b.id == build_id) {
            running.push(RunningBuild {
                id: build_id.to_string(),
                env: self.inner.env.to_string(),
                run: self.inner.run.to_string(),
                service: self.inner.service.to_string(),
                builds: self.builds.clone(),
            });
        }
    }
}

impl Agent {
    /// Stop the CodeBuild builds still running for this agent and journal them stopped.
    pub(super) async fn stop_running_builds(&self) {
        let running = std::mem::take(&mut *self.running_builds.lock());
        for b in running {
            tracing::warn!(build = %b.id, service = %b.service, "stopping the CodeBuild build: the agent is stopping");
            if let Err(e) = b.builds.stop_build(&b.id).await {
                // Left unfinished in the journal: the next start looks at the build again
                // (follows it, or records how it ended and builds again).
                tracing::warn!(error = %e, build = %b.id, "StopBuild failed; the next start looks at the build again");
                continue;
            }
            let record = Record {
                at: self.clock.now(),
                run: b.run,
                env: b.env,
                service: Some(b.service),
                step: ledger::STEP.into(),
                phase: Phase::Finished,
                outcome: Some("stopped".into()),
                detail: serde_json::json!({ "build_id": b.id }),
            };
            if let Err(e) = self.journal.append(&record).await {
                tracing::warn!(error = %e, "cannot journal a stopped build");
            }
        }
    }
}
