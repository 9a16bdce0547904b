//! `amagent run`: the agent. Wires the daemon to its surroundings — the environments repo, AWS
//! or the simulator, GitHub or the console, the webhook server, the poll timer and signals.
//!
//! Threads: the agent runs on the main thread's runtime (virtual time under `--sim`, so a
//! simulated rollout of minutes takes milliseconds); the webhook server and signal handling
//! run on a real-time runtime of their own; the poll timer is a plain thread. They talk over
//! channels.

use super::progress::ConsoleProgress;
use super::sim_cmd::{Session, open_journal, runtime, scenario};
use super::{Exit, OutputFormat, print_error, print_json};
use crate::clock::Clock;
use crate::cloud::aws::{Aws, Target};
use crate::config::{Environment, Model};
use crate::daemon::{self, Agent, Settings, Wake};
use crate::metrics::Metrics;
use crate::repo::{EnvRepo, GitCredentials, redact_url};
use crate::report::{Reporter, console::Console, github::GitHub};
use crate::sandbox::Sandbox;
use crate::secret::Secret;
use crate::stages::deploy::Outcome;
use crate::state::journal::crash::CrashAfter;
use crate::state::journal::{Journal, LocalJournal, Location, Record};
use crate::state::lease::{Lease, LeaseState};
use crate::watch::serve::{Connections, ServerLimits, serve};
use crate::watch::webhook::{self, WebhookState};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

pub struct RunArgs {
    pub repo: String,
    pub branch: String,
    pub sim: Option<String>,
    pub listen: Option<SocketAddr>,
    pub poll_interval: Duration,
    pub once: bool,
    pub shutdown_grace: Duration,
    pub mirror: Option<PathBuf>,
    pub cache: Option<PathBuf>,
    pub journal: String,
    pub region: Option<String>,
    pub builder: Option<String>,
    /// `promote`: (tag, commit) to create and push before the one look.
    pub promote: Option<(String, Option<String>)>,
    pub allow_downgrade: bool,
    /// With an S3 journal: how long the active agent's lease lasts unless renewed.
    pub lease_ttl: Duration,
}

/// Where the bare mirror of `url` lives by default: one directory per repository URL.
fn default_mirror(cache: &Path, url: &str) -> PathBuf {
    let hash = hex::encode(Sha256::digest(redact_url(url).as_bytes()));
    cache.join("envrepo").join(&hash[..16])
}

pub fn run(mut args: RunArgs, output: OutputFormat) -> Exit {
    let faults = match scenario(args.sim.as_deref(), output) {
        Ok(f) => f,
        Err(code) => return code,
    };
    // A simulation never changes a real remote: `promote --sim` tags a scratch clone.
    let _scratch = match (&faults, &args.promote) {
        (Some(_), Some(_)) => match scratch_remote(&args.repo) {
            Ok(Some((dir, path))) => {
                args.repo = path;
                Some(dir)
            }
            Ok(None) => None,
            Err(e) => {
                print_error(output, "repository", &e);
                return Exit::Refused;
            }
        },
        _ => None,
    };
    let secret = std::env::var("AMAGENT_WEBHOOK_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
        .map(Secret::new);
    if args.listen.is_some() && secret.is_none() {
        print_error(
            output,
            "usage",
            "--listen needs the webhook secret in AMAGENT_WEBHOOK_SECRET (the one set on the \
             GitHub webhook): unsigned deliveries are never accepted",
        );
        return Exit::Usage;
    }
    let cache = args
        .cache
        .clone()
        .unwrap_or_else(super::build_cmd::default_cache);
    let mirror = args
        .mirror
        .clone()
        .unwrap_or_else(|| default_mirror(&cache, &args.repo));
    // The operator named this repository: a token may go to its host (and to github.com).
    let credentials = GitCredentials::from_env().trusting(&args.repo);
    let opened = EnvRepo::open_or_clone(&args.repo, &mirror, &credentials).and_then(|r| {
        let head = r.resolve(&format!("refs/heads/{}", args.branch))?;
        let model = r.model_at(&head.to_string())?;
        Ok((r, model))
    });
    let (repo, model) = match opened {
        Ok(m) => m,
        Err(e) => {
            print_error(
                output,
                "repository",
                &format!(
                    "{e} (watching {} branch {})",
                    redact_url(&args.repo),
                    args.branch
                ),
            );
            return Exit::Refused;
        }
    };
    let location = match Location::parse(&args.journal) {
        Ok(l) => l,
        Err(e) => {
            print_error(output, "usage", &e.to_string());
            return Exit::Usage;
        }
    };
    let metrics = Arc::new(Metrics::default());
    let (wake_tx, wake_rx) = mpsc::channel::<Wake>(64);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (interrupt_tx, interrupt_rx) = watch::channel(false);

    // The real-time side: webhook server and signals.
    let (events_tx, mut events_rx) = mpsc::channel(64);
    let io = runtime(false);
    let mut seen = webhook::SeenDeliveries::default();
    if let (Some(addr), Some(secret)) = (args.listen, secret) {
        let limits = match ServerLimits::from_env() {
            Ok(l) => l,
            Err(e) => {
                print_error(output, "usage", &e);
                return Exit::Usage;
            }
        };
        let state = Arc::new(WebhookState::new(secret, events_tx, metrics.clone()));
        seen = state.seen();
        let listener = match io.block_on(tokio::net::TcpListener::bind(addr)) {
            Ok(l) => l,
            Err(e) => {
                print_error(output, "io", &format!("cannot listen on {addr}: {e}"));
                return Exit::Io;
            }
        };
        tracing::info!(%addr, ?limits, "webhook server listening: POST /webhooks/github, GET /healthz, GET /metrics");
        let metrics = metrics.clone();
        io.spawn(serve(
            listener,
            webhook::router(state),
            limits,
            Connections::default(),
            metrics,
        ));
    }
    let forward = wake_tx.clone();
    io.spawn(async move {
        while let Some(event) = events_rx.recv().await {
            if forward.send(Wake::Event(event)).await.is_err() {
                return;
            }
        }
    });
    let grace = args.shutdown_grace;
    io.spawn(async move {
        stop_signal().await;
        tracing::warn!(
            grace_seconds = grace.as_secs(),
            "stop requested: no new deploys; a running deploy may finish within the grace period"
        );
        let _ = stop_tx.send(true);
        tokio::time::sleep(grace).await;
        let _ = interrupt_tx.send(true);
    });
    if !args.once {
        daemon::poll_timer(args.poll_interval, wake_tx.clone());
    }

    let simulated = faults.is_some();
    let kill_at = faults.as_ref().and_then(|f| f.kill_agent_at.clone());
    let agent_rt = runtime(simulated);
    agent_rt.block_on(async {
        let (cloud, clock, sandbox) = match faults {
            Some(faults) => {
                // The simulated account is shaped like each environment at the commit last
                // applied to it (what runs there now), as far as a local journal tells.
                let records = match &location {
                    Location::Dir(dir) => LocalJournal::new(dir).read(None).await.unwrap_or_default(),
                    Location::S3 { .. } => Vec::new(),
                };
                let running = running_environments(&repo, &model, &records);
                let sandbox = Sandbox::for_environments(&running, faults, chrono::Utc::now());
                (sandbox.sim.cloud(), sandbox.clock.clone(), Some(sandbox))
            }
            None => {
                // One account and region per agent: the first environment's, or --region.
                let env = model.environments.values().next();
                let aws = Aws::connect(Target {
                    account: env.map(|e| e.aws.account_id.clone()).unwrap_or_default(),
                    region: args
                        .region
                        .clone()
                        .or(env.map(|e| e.aws.region.clone()))
                        .unwrap_or_default(),
                })
                .await;
                (aws.cloud(), Clock::system(), None)
            }
        };
        let session = Session {
            cloud,
            clock,
            sandbox,
        };
        let mut journal: Arc<dyn Journal> = match open_journal(&args.journal, &session) {
            Ok(j) => Arc::from(j),
            Err(e) => {
                print_error(output, "usage", &e.to_string());
                return Exit::Usage;
            }
        };
        if let Some(step) = kill_at {
            journal = Arc::new(CrashAfter {
                inner: journal,
                step,
            });
        }
        if let Some((tag, commit)) = &args.promote {
            // Before any tag exists: which commit (the newest the source verified), or refuse.
            let records = journal.read(None).await.map_err(|e| e.to_string());
            let pushed = records
                .and_then(|r| {
                    daemon::promote_commit::commit_to_tag(&repo, &args.branch, tag, commit.as_deref(), &r)
                })
                .and_then(|(c, note)| {
                    if output == OutputFormat::Text {
                        crate::outln!("{note}");
                    }
                    tracing::info!(%tag, commit = %c, "{note}");
                    repo.tag_and_push(tag, &c, &args.repo, &credentials)
                        .map_err(|e| format!("cannot create and push {tag}: {e}"))
                });
            if let Err(e) = pushed {
                print_error(output, "repository", &e);
                return Exit::Refused;
            }
            tracing::info!(%tag, "tag pushed");
        }
        drop(repo);
        let Session {
            cloud,
            clock,
            sandbox,
        } = session;
        // GitHub when credentials are set (GITHUB_TOKEN, or a GitHub App), else the console.
        let reporter: Arc<dyn Reporter> = match GitHub::from_env(&args.repo).await {
            Ok(Some(github)) => {
                tracing::info!(?github, "reporting to GitHub");
                Arc::new(github)
            }
            Ok(None) => Arc::new(Console::new()),
            Err(e) => {
                print_error(output, "usage", &e.to_string());
                return Exit::Usage;
            }
        };
        // With a shared (S3) journal every change to AWS is fenced by the lease.
        let fence = matches!(location, Location::S3 { .. })
            .then(|| crate::state::fence::LeaseGuard::new(args.lease_ttl));
        let cloud = match &fence {
            Some(guard) => crate::state::fence::fenced(cloud, guard.clone()),
            None => cloud,
        };
        let mut agent = Agent::new(
            Settings {
                url: args.repo.clone(),
                branch: args.branch.clone(),
                mirror,
                cache,
                credentials,
                builder: args.builder.clone(),
            },
            cloud,
            clock.clone(),
            journal,
            reporter,
            Arc::new(ConsoleProgress::new(clock)),
            metrics,
        );
        agent.allow_downgrade = args.allow_downgrade;
        agent.promote_tag = args.promote.as_ref().map(|(tag, _)| tag.clone());
        agent.fence = fence.clone();
        if sandbox.is_none() {
            // Each environment in its own account and region, through its role if it names one.
            agent.accounts = Some(Arc::new(crate::daemon::accounts::Accounts::new(
                crate::cloud::aws::Options::default(),
                args.region.clone(),
                fence.clone(),
            )));
        }
        if let Some(sandbox) = sandbox {
            let sandbox = Arc::new(sandbox);
            agent.on_pushed = Some(Box::new(move |repository, digest, tags| {
                let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
                sandbox
                    .sim
                    .push_image(repository, digest, &tags, sandbox.clock.now());
            }));
        }
        // An S3 journal is shared: a lease beside it makes one agent active, others standbys.
        let mut lease = match &location {
            Location::S3 { bucket, prefix } => {
                let holder = format!(
                    "{}-{}",
                    std::env::var("HOSTNAME").unwrap_or_else(|_| "agent".into()),
                    std::process::id()
                );
                Some((
                    Lease::new(
                        agent.cloud.s3.clone(),
                        bucket.clone(),
                        Lease::key_for(prefix),
                        holder,
                        args.lease_ttl,
                    )
                    .with_guard(fence.clone().expect("an S3 journal is fenced")),
                    args.lease_ttl,
                ))
                .inspect(|_| {
                    // A standby hands the deliveries it gets to the holder through the bucket.
                    let inbox = crate::state::inbox::Inbox::new(agent.cloud.s3.clone(), bucket, prefix);
                    agent.handoff = Some(daemon::handoff::Handoff::new(inbox, seen.clone()));
                    if !args.once {
                        daemon::handoff::inbox_timer(daemon::handoff::INBOX_CHECK, wake_tx.clone());
                    }
                })
            }
            Location::Dir(_) => None,
        };
        if args.once {
            // One look acts like the agent: with a shared journal, only while holding the lease.
            if let Some((l, _)) = lease.as_mut() {
                match l.try_acquire(agent.clock.now()).await {
                    Ok(LeaseState::Held { .. }) => {}
                    Ok(LeaseState::HeldByOther { holder, expires_at }) => {
                        print_error(
                            output,
                            "refused",
                            &format!(
                                "another agent ({holder}) is active on this journal until {expires_at}: \
                                 push the tag with git and let it promote, or stop it first"
                            ),
                        );
                        return Exit::Refused;
                    }
                    Err(e) => {
                        print_error(output, "refused", &e.to_string());
                        return Exit::Refused;
                    }
                }
            }
            let exit = once(&mut agent, output).await;
            if let Some((l, _)) = lease.as_mut() {
                let _ = l.release(agent.clock.now()).await;
            }
            return exit;
        }
        tracing::info!(repo = %redact_url(&args.repo), branch = %args.branch, poll_seconds = args.poll_interval.as_secs(), simulated, "agent started");
        daemon::run(&mut agent, wake_rx, stop_rx, interrupt_rx, lease).await;
        tracing::info!("agent stopped");
        Exit::Ok
    })
}

/// For a simulated promotion of a network remote: a scratch bare clone of it (kept until the
/// command ends) and its path, so the tag is created and pushed there, never on the remote.
fn scratch_remote(url: &str) -> Result<Option<(tempfile::TempDir, String)>, String> {
    use crate::repo::remote_url::{RemoteUrl, Transport};
    if RemoteUrl::parse(url).transport == Transport::Local {
        return Ok(None);
    }
    let dir = tempfile::Builder::new()
        .prefix("amagent-sim-remote-")
        .tempdir()
        .map_err(|e| format!("cannot make a scratch clone: {e}"))?;
    let path = dir.path().join("env.git");
    let credentials = GitCredentials::from_env().trusting(url);
    EnvRepo::open_or_clone(url, &path, &credentials).map_err(|e| e.to_string())?;
    crate::errln!(
        "simulated: the tag goes to a scratch clone of {} ({}), not to the remote",
        redact_url(url),
        path.display()
    );
    Ok(Some((dir, path.display().to_string())))
}

/// Each environment as the commit last applied to it describes it (the head's, if none).
fn running_environments(repo: &EnvRepo, model: &Model, records: &[Record]) -> Vec<Environment> {
    let applied = daemon::applied::last_applied(records);
    model
        .environments
        .values()
        .map(|env| {
            let at = applied.get(&env.name).map(|a| a.commit.as_str());
            tracing::debug!(env = %env.name, commit = ?at, "simulated account shaped like the last applied commit");
            at.and_then(|c| repo.model_at(c).ok())
                .and_then(|m| m.environments.get(&env.name).cloned())
                .unwrap_or_else(|| env.clone())
        })
        .collect()
}

/// `--once`: one look, a summary, an exit code that says how it went.
async fn once(agent: &mut Agent, output: OutputFormat) -> Exit {
    match agent.tick().await {
        Ok(tick) => {
            let failed = tick.applied.iter().any(|r| r.outcome == Outcome::Failed);
            match output {
                OutputFormat::Json => print_json(&tick),
                OutputFormat::Text => {
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

/// SIGTERM (ECS stopping the task) or Ctrl-C.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
