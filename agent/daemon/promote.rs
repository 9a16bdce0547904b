//! A promotion tag, applied: the source environment's verified digests at the tagged commit,
//! copied by digest and deployed (no build), or the tag refused once with why.

use super::*;
use image::copy::Side;

/// A tag chosen for promotion, with what the choice looked at.
struct Chosen {
    tag: SemverTag,
    tags: Vec<SemverTag>,
    records: Vec<Record>,
    last: Option<semver::Version>,
}

impl Agent {
    /// Promote the newest promotion tag to `env_name`, if it is new: the source environment's
    /// verified digests at the tagged commit, copied into this environment's repositories by
    /// digest, deployed through the same gate. Refusals are reported once, on the tagged commit.
    pub(super) async fn promote(
        &mut self,
        env_name: &str,
        pattern: &str,
    ) -> Result<Option<EnvReport>, AgentError> {
        let Some(Chosen {
            tag,
            tags,
            records,
            last,
        }) = self.choose_tag(env_name, pattern).await?
        else {
            return Ok(None);
        };
        let repo = self.repo.as_ref().expect("fetched");
        let model = repo.model_at(&tag.commit)?;
        let Some(env) = model.environments.get(env_name).cloned() else {
            return Ok(None);
        };
        let from = env
            .promotion
            .as_ref()
            .map(|p| p.from.clone())
            .unwrap_or_default();
        let services: Vec<String> = env.services.iter().map(|s| s.name.clone()).collect();
        let verified = match promotion::verified_images(&records, &from, &tag.commit, &services) {
            Ok(v) => v,
            Err(why) => return Err(self.refused(env_name, &tag, &why).await),
        };
        if self.soaking(&env, &tag, &records, &verified).await? {
            return Ok(None);
        }
        let (previous_commit, landed, notes) =
            self.since_last_promotion(&tag, &tags, last.as_ref());
        let resume_since = applied::interrupted_since(&records, env_name, &tag.commit);
        if self
            .awaiting_approval(&env, &tag, &records, &landed)
            .await?
        {
            return Ok(None);
        }
        let pull_requests = self.pull_requests(&landed).await;
        let run = format!(
            "{env_name}-promote-{}-{}",
            tag.name,
            self.clock.now().format("%Y%m%dT%H%M%SZ")
        );
        let plan = promotion::plan(&env, &from, &tag.name);
        tracing::info!(env = env_name, tag = %tag.name, from = %from, ?pull_requests, "promoting");
        let detail = serde_json::json!({ "commit": tag.commit, "tag": tag.name, "images": verified, "plan": plan });
        self.begin(env_name, &run, &tag.commit, &pull_requests, detail)
            .await?;
        let status_commits = vec![tag.commit.clone()];
        self.announce_promotion(&plan, &tag, &pull_requests, env_name)
            .await;
        let (images, failures) = self
            .copy_verified(&model, &env, &from, &verified, &tag)
            .await;
        let mut exec_plan = plan.clone();
        exec_plan
            .services
            .retain(|s| !failures.iter().any(|f| f.service == s.name));
        let report = self
            .deliver(Delivery {
                env: &env,
                plan: &exec_plan,
                images,
                failures,
                commit: &tag.commit,
                run: &run,
                pull_requests: &pull_requests,
                status_commits: &status_commits,
                detail: serde_json::json!({ "commit": tag.commit, "tag": tag.name, "version": tag.version.to_string(), "from": from, "images": verified }),
                resume_since,
                notes: Some(notes),
            })
            .await;
        self.metrics
            .applied(env_name, &tag.commit, previous_commit.as_deref());
        Ok(Some(report))
    }

    /// What the promotion carries since the last promoted tag: that tag's commit, the commits
    /// landed since (the first promotion: the tagged one), and the release notes.
    fn since_last_promotion(
        &self,
        tag: &SemverTag,
        tags: &[SemverTag],
        last: Option<&semver::Version>,
    ) -> (Option<String>, Vec<crate::repo::CommitInfo>, String) {
        let repo = self.repo.as_ref().expect("fetched");
        let previous = last.and_then(|v| tags.iter().find(|t| &t.version == v));
        let previous_commit = previous.map(|t| t.commit.clone());
        let since = previous_commit
            .clone()
            .unwrap_or_else(|| format!("{}~1", tag.commit));
        let landed = repo.landed_between(&since, &tag.commit).unwrap_or_default();
        let notes = crate::report::release_notes::release_notes(
            &tag.name,
            previous.map(|t| t.name.as_str()),
            &landed,
        );
        (previous_commit, landed, notes)
    }

    /// The tag to promote now, if any: adopts on first sight, refuses (once) what cannot be
    /// promoted, and leaves alone a tag promoted before (a deliberate step back).
    async fn choose_tag(
        &mut self,
        env_name: &str,
        pattern: &str,
    ) -> Result<Option<Chosen>, AgentError> {
        let prefix = pattern.trim_end_matches('*');
        let repo = self.repo.as_ref().expect("fetched");
        let tags = repo.semver_tags(prefix)?;
        let records = self.all_records().await?;
        let last = promotion::last_promoted(&records, env_name);
        // First sight of promotion for this environment: no promotion decision recorded yet
        // (merge-applies from before it had `promotion` do not count). `amagent promote` names
        // its tag: never a first sight.
        let first_sight = self.promote_tag.is_none()
            && !records.iter().any(|r| {
                r.env == env_name && r.step == applied::STEP && r.detail.get("tag").is_some()
            });
        if first_sight && tags.is_empty() {
            // Nothing promoted yet: the first tag pushed from now on is promoted.
            self.record(
                env_name,
                &format!("{env_name}-adopt"),
                Phase::Finished,
                Some(outcome::ADOPTED),
                serde_json::json!({ "tag": null }),
            )
            .await;
            return Ok(None);
        }
        // `amagent promote` names its tag; the agent looks at the newest.
        let tags: Vec<SemverTag> = match &self.promote_tag {
            Some(name) => tags.into_iter().filter(|t| &t.name == name).collect(),
            None => tags,
        };
        let newest = tags.last().map(|t| t.commit.clone()).unwrap_or_default();
        let decision = match repo
            .model_at(&newest)
            .ok()
            .and_then(|m| m.environments.get(env_name).cloned())
        {
            Some(env) => promotion::decide_tag(
                &env,
                &tags,
                last.as_ref(),
                first_sight,
                self.allow_downgrade,
            ),
            None => TagDecision::NoTag,
        };
        let tag = match decision {
            TagDecision::NoTag | TagDecision::UpToDate => return Ok(None),
            TagDecision::Adopt(tag) => {
                self.adopt_tag(env_name, &tag).await;
                return Ok(None);
            }
            TagDecision::Refuse(tag, why) => return Err(self.refused(env_name, &tag, &why).await),
            TagDecision::Promote(tag)
                if self.promote_tag.is_none()
                    && promotion::promoted_before(&records, env_name, &tag.version) =>
            {
                // Someone stepped back on purpose (`promote --allow-downgrade`): leave it.
                tracing::debug!(env = env_name, tag = %tag.name, "already promoted once; not promoting it again by itself");
                return Ok(None);
            }
            TagDecision::Promote(tag) => tag,
        };
        Ok(Some(Chosen {
            tag,
            tags,
            records,
            last,
        }))
    }

    /// True while the source environment has not run the tag's digests for the soak time:
    /// said once per tag (pending status with when it will promote); a digest that went bad
    /// there refuses the tag.
    async fn soaking(
        &mut self,
        env: &crate::config::Environment,
        tag: &SemverTag,
        records: &[Record],
        verified: &BTreeMap<String, String>,
    ) -> Result<bool, AgentError> {
        let Some(p) = &env.promotion else {
            return Ok(false);
        };
        let Some(minutes) = p.soak_minutes else {
            return Ok(false);
        };
        let soak = chrono::Duration::minutes(i64::from(minutes));
        let now = self.clock.now();
        match super::soak::soaking_until(records, &p.from, verified, soak, now) {
            Err(why) => Err(self.refused(&env.name, tag, &why).await),
            Ok(None) => Ok(false),
            Ok(Some(until)) => {
                let key = (env.name.clone(), format!("{}@soak", tag.name));
                if self.refused_tags.insert(key) {
                    let what = format!(
                        "{} promotes at {} UTC, after {minutes} min in {}",
                        tag.name,
                        until.format("%Y-%m-%d %H:%M"),
                        p.from
                    );
                    tracing::info!(env = %env.name, tag = %tag.name, %until, "soaking before promotion");
                    let commits = std::slice::from_ref(&tag.commit);
                    self.status(commits, &env.name, Status::Pending, &what)
                        .await;
                }
                Ok(true)
            }
        }
    }

    async fn adopt_tag(&mut self, env_name: &str, tag: &SemverTag) {
        tracing::info!(env = env_name, tag = %tag.name, "first sight: adopting the newest promotion tag as what runs, deploying nothing");
        self.record(
            env_name,
            &format!("{env_name}-adopt-{}", tag.name),
            Phase::Finished,
            Some(outcome::ADOPTED),
            serde_json::json!({ "commit": tag.commit, "tag": tag.name, "version": tag.version.to_string() }),
        )
        .await;
    }

    /// Reports the refusal (once) and returns the error the tick ends with.
    pub(super) async fn refused(
        &mut self,
        env_name: &str,
        tag: &SemverTag,
        why: &str,
    ) -> AgentError {
        self.refuse_promotion(env_name, tag, why).await;
        AgentError::Refused(format!("{env_name}: {} refused: {why}", tag.name))
    }

    async fn announce_promotion(
        &self,
        plan: &crate::plan::EnvironmentPlan,
        tag: &SemverTag,
        pull_requests: &[u64],
        env_name: &str,
    ) {
        let what = format!("promoting {}", tag.name);
        let body = report::render_in_progress(plan, &tag.commit, &what, &BTreeMap::new());
        self.comment(pull_requests, env_name, &body).await;
        let commits = std::slice::from_ref(&tag.commit);
        self.status(commits, env_name, Status::Pending, &what).await;
    }

    /// The same digests, in this environment's repositories: copied by digest where the
    /// source environment uses another repository or another registry (another account or
    /// region: read with the source environment's own access, written with this one's).
    /// Returns the images and the failures.
    async fn copy_verified(
        &self,
        model: &crate::config::Model,
        env: &crate::config::Environment,
        from: &str,
        verified: &BTreeMap<String, String>,
        tag: &SemverTag,
    ) -> (BTreeMap<String, String>, Vec<DeployResult>) {
        let mut images = BTreeMap::new();
        let mut failures = Vec::new();
        let cloud = self.cloud_for(env).await;
        let source_env = model.environments.get(from);
        let source_cloud = match source_env {
            Some(source) => self.cloud_for(source).await,
            None => cloud.clone(),
        };
        let same_registry = source_cloud.ecr.registry_host() == cloud.ecr.registry_host();
        for spec in &env.services {
            let Some(source_image) = verified.get(&spec.name) else {
                continue;
            };
            let Some(digest) = promotion::digest_of(source_image).map(String::from) else {
                failures.push(DeployResult::build_failed(
                    &env.name,
                    &spec.name,
                    format!(
                        "{from} ran {source_image}, not pinned by digest: nothing exact to promote"
                    ),
                ));
                continue;
            };
            let source_repo = source_env
                .and_then(|e| e.service(&spec.name))
                .map(|s| s.image.repository.clone())
                .unwrap_or_else(|| spec.image.repository.clone());
            if same_registry && source_repo == spec.image.repository {
                images.insert(spec.name.clone(), source_image.clone());
                continue;
            }
            let source = Side {
                cloud: &source_cloud,
                repository: &source_repo,
            };
            match self.copy_one(source, &cloud, spec, &digest, tag).await {
                Ok(image) => {
                    images.insert(spec.name.clone(), image);
                }
                Err(e) => {
                    let why = format!(
                        "cannot copy {}/{source_repo}@{digest} to {}/{}: {e}",
                        source_cloud.ecr.registry_host(),
                        cloud.ecr.registry_host(),
                        spec.image.repository
                    );
                    tracing::error!(env = %env.name, service = %spec.name, "{why}");
                    failures.push(DeployResult::build_failed(&env.name, &spec.name, why));
                }
            }
        }
        (images, failures)
    }

    async fn copy_one(
        &self,
        source: Side<'_>,
        cloud: &Cloud,
        spec: &crate::config::Service,
        digest: &str,
        tag: &SemverTag,
    ) -> Result<String, image::push::PushError> {
        let tags = vec![tag.name.clone()];
        let to = &spec.image.repository;
        let target = Side {
            cloud,
            repository: to,
        };
        let copied = image::copy::copy_by_digest(source, target, digest, &tags).await?;
        if let Some(hook) = &self.on_pushed {
            hook(to, digest, &tags);
        }
        tracing::info!(service = %spec.name, image = %copied.image, mounted = copied.blobs_mounted, uploaded = copied.blobs_uploaded, manifests = copied.manifests_copied, "copied by digest");
        Ok(copied.image)
    }

    pub(super) async fn refuse_promotion(&mut self, env_name: &str, tag: &SemverTag, why: &str) {
        if !self
            .refused_tags
            .insert((env_name.to_string(), tag.name.clone()))
        {
            return;
        }
        tracing::error!(env = env_name, tag = %tag.name, "promotion refused: {why}");
        self.record(
            env_name,
            &format!("{env_name}-promote-{}", tag.name),
            Phase::Finished,
            Some(outcome::REFUSED),
            serde_json::json!({ "commit": tag.commit, "tag": tag.name, "reason": why }),
        )
        .await;
        self.status(
            std::slice::from_ref(&tag.commit),
            env_name,
            Status::Failure,
            &format!("{} not promoted: {why}", tag.name),
        )
        .await;
    }
}
