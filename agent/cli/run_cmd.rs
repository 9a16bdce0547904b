//! `amagent run`: the agent. Wires the daemon to its surroundings — the environments repo, AWS
//! or the simulator, GitHub or the console, the webhook server, the poll timer and signals.
//!
//! Threads: the agent runs on the main thread's runtime (virtual time under `--sim`, so a
//! simulated rollout of minutes takes milliseconds); the webhook server and signal handling
//! run on a real-time runtime of their own; the poll timer is a plain thread. They talk over
//! channels.

use super::progress::ConsoleProgress;
use super::sim_cmd::{Session, open_journal, runtime, scenario};
use super::{Exit, OutputFormat, print_error};
use crate::clock::Clock;
use crate::cloud::aws::{Aws, Target};
use crate::cloud::sim::FaultScript;
use crate::config::{Environment, Model};
use crate::daemon::{self, Agent, Settings, Wake};
use crate::metrics::Metrics;
use crate::repo::{EnvRepo, GitCredentials, redact_url};
use crate::report::{Reporter, console::Console, github::GitHub};
use crate::sandbox::Sandbox;
use crate::secret::Secret;
use crate::state::journal::crash::CrashAfter;
use crate::state::journal::{Journal, LocalJournal, Location, Record};
use crate::state::lease::Lease;
use crate::watch::queue::DeliveryQueue;
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
    /// CodeBuild builds of one apply at once.
    pub parallel_builds: usize,
    /// `promote`: (tag, commit) to create and push before the one look.
    pub promote: Option<(String, Option<String>)>,
    pub allow_downgrade: bool,
    /// With an S3 journal: how long the active agent's lease lasts unless renewed.
    pub lease_ttl: Duration,
}

/// Where the bare mirror of `url` lives by default: one directory per repository URL.
pub(super) fn default_mirror(cache: &Path, url: &str) -> PathBuf {
    let hash = hex::encode(Sha256::digest(redact_url(url).as_bytes()));
    cache.join("envrepo").join(&hash[..16])
}

pub fn run(mut args: RunArgs, output: OutputFormat) -> Exit {
    match run_agent(&mut args, output) {
        Ok(exit) | Err(exit) => exit,
    }
}

/// Print `message` as an error of `kind` and give back the exit code it means.
fn fail(output: OutputFormat, kind: &str, message: &str, exit: Exit) -> Exit {
    print_error(output, kind, message);
    exit
}

/// The whole command; `Err` carries the exit code of an error already printed.
fn run_agent(args: &mut RunArgs, output: OutputFormat) -> Result<Exit, Exit> {
    let faults = scenario(args.sim.as_deref(), output)?;
    // A simulation never changes a real remote: `promote --sim` tags a scratch clone.
    let _scratch = match (&faults, &args.promote) {
        (Some(_), Some(_)) => use_scratch_remote(args, output)?,
        _ => None,
    };
    let secret = webhook_secret(args, output)?;
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
    let (repo, model) = open_repo(args, &mirror, &credentials, output)?;
    let location = Location::parse(&args.journal)
        .map_err(|e| fail(output, "usage", &e.to_string(), Exit::Usage))?;
    let metrics = Arc::new(Metrics::default());
    let (wake_tx, wake_rx) = mpsc::channel::<Wake>(64);
    let io = runtime(false);
    let mut seen = webhook::SeenDeliveries::default();
    let board = args.listen.map(|_| Arc::new(crate::ui::Board::default()));
    if let (Some(addr), Some(secret), Some(board)) = (args.listen, secret, &board) {
        let webhook = (secret, wake_tx.clone(), metrics.clone());
        seen = listen(&io, addr, webhook, board.clone(), output)?;
    }
    let signals = on_stop_signal(&io, args.shutdown_grace);
    if !args.once {
        daemon::poll_timer(args.poll_interval, wake_tx.clone());
    }
    let simulated = faults.is_some();
    let agent_rt = runtime(simulated);
    let surroundings = Surroundings {
        repo,
        model,
        settings: Settings {
            url: args.repo.clone(),
            branch: args.branch.clone(),
            mirror,
            cache,
            credentials,
            builder: args.builder.clone(),
            parallel_builds: args.parallel_builds.max(1),
        },
        metrics,
        board,
    };
    agent_rt.block_on(async {
        let mut agent = build_agent(args, faults, surroundings, &location, output).await?;
        let lease = lease_for(&agent, &location, args.lease_ttl);
        if lease.is_some() {
            hand_over(&mut agent, &location, seen, (!args.once).then(|| wake_tx.clone()));
        }
        if args.once {
            let exit = super::run_once::once_under_lease(&mut agent, lease, output).await;
            agent.drain_notifications();
            return Ok(exit);
        }
        tracing::info!(repo = %redact_url(&args.repo), branch = %args.branch, poll_seconds = args.poll_interval.as_secs(), simulated, "agent started");
        let (stop_rx, interrupt_rx) = signals;
        daemon::run(&mut agent, wake_rx, stop_rx, interrupt_rx, lease).await;
        tracing::info!("agent stopped");
        Ok(Exit::Ok)
    })
}

/// `promote --sim` of a network remote: point `args.repo` at a scratch clone, kept alive by
/// the returned directory until the command ends.
fn use_scratch_remote(
    args: &mut RunArgs,
    output: OutputFormat,
) -> Result<Option<tempfile::TempDir>, Exit> {
    match scratch_remote(&args.repo) {
        Ok(Some((dir, path))) => {
            args.repo = path;
            Ok(Some(dir))
        }
        Ok(None) => Ok(None),
        Err(e) => Err(fail(output, "repository", &e, Exit::Refused)),
    }
}

/// The webhook secret, required with `--listen`: unsigned deliveries are never accepted.
fn webhook_secret(args: &RunArgs, output: OutputFormat) -> Result<Option<Secret>, Exit> {
    let secret = std::env::var("AMAGENT_WEBHOOK_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
        .map(Secret::new);
    if args.listen.is_some() && secret.is_none() {
        return Err(fail(
            output,
            "usage",
            "--listen needs the webhook secret in AMAGENT_WEBHOOK_SECRET (the one set on the \
             GitHub webhook): unsigned deliveries are never accepted",
            Exit::Usage,
        ));
    }
    Ok(secret)
}

/// The environments repo's mirror and the model at the watched branch's head.
fn open_repo(
    args: &RunArgs,
    mirror: &Path,
    credentials: &GitCredentials,
    output: OutputFormat,
) -> Result<(EnvRepo, Model), Exit> {
    let opened = EnvRepo::open_or_clone(&args.repo, mirror, credentials).and_then(|r| {
        let head = r.resolve(&format!("refs/heads/{}", args.branch))?;
        let model = r.model_at(&head.to_string())?;
        Ok((r, model))
    });
    opened.map_err(|e| {
        let message = format!(
            "{e} (watching {} branch {})",
            redact_url(&args.repo),
            args.branch
        );
        fail(output, "repository", &message, Exit::Refused)
    })
}

/// `promote`: create `tag` on the commit named (else the branch head) and push it.
fn push_tag(
    args: &RunArgs,
    repo: &EnvRepo,
    credentials: &GitCredentials,
    (tag, commit): (&str, Option<&str>),
    records: &[Record],
    output: OutputFormat,
) -> Result<(), Exit> {
    // Before any tag exists: which commit (the newest the source verified), or refuse.
    let pushed = daemon::promote_commit::commit_to_tag(repo, &args.branch, tag, commit, records)
        .and_then(|(c, note)| {
            if output == OutputFormat::Text {
                crate::outln!("{note}");
            }
            tracing::info!(%tag, commit = %c, "{note}");
            repo.tag_and_push(tag, &c, &args.repo, credentials)
                .map_err(|e| format!("cannot create and push {tag}: {e}"))
        });
    if let Err(e) = pushed {
        return Err(fail(output, "repository", &e, Exit::Refused));
    }
    tracing::info!(%tag, "tag pushed");
    Ok(())
}

/// A standby hands the deliveries it gets to the lease holder through the journal's bucket;
/// the holder reads that inbox at each wake-up and every `INBOX_CHECK` (`wakes`, unless once).
fn hand_over(
    agent: &mut Agent,
    location: &Location,
    seen: webhook::SeenDeliveries,
    wakes: Option<mpsc::Sender<Wake>>,
) {
    let Location::S3 { bucket, prefix } = location else {
        return;
    };
    let inbox = crate::state::inbox::Inbox::new(agent.cloud.s3.clone(), bucket, prefix);
    agent.handoff = Some(daemon::handoff::Handoff::new(inbox, seen));
    if let Some(wakes) = wakes {
        daemon::handoff::inbox_timer(daemon::handoff::INBOX_CHECK, wakes);
    }
}

/// Serve the webhook endpoint (its events wake the agent) and the status page on `addr`.
fn listen(
    io: &tokio::runtime::Runtime,
    addr: SocketAddr,
    (secret, wakes, metrics): (Secret, mpsc::Sender<Wake>, Arc<Metrics>),
    board: Arc<crate::ui::Board>,
    output: OutputFormat,
) -> Result<webhook::SeenDeliveries, Exit> {
    let limits = ServerLimits::from_env().map_err(|e| fail(output, "usage", &e, Exit::Usage))?;
    let ui =
        super::run_ui::router(addr, board).map_err(|e| fail(output, "usage", &e, Exit::Usage))?;
    let events = Arc::new(DeliveryQueue::default());
    let state = Arc::new(WebhookState::new(secret, events.clone(), metrics.clone()));
    let seen = state.seen();
    let listener = io
        .block_on(tokio::net::TcpListener::bind(addr))
        .map_err(|e| {
            let message = format!("cannot listen on {addr}: {e}");
            fail(output, "io", &message, Exit::Io)
        })?;
    tracing::info!(%addr, ?limits, "webhook server listening: POST /webhooks/github, GET /healthz, GET /metrics; status page: GET /");
    io.spawn(serve(
        listener,
        webhook::router(state).merge(ui),
        limits,
        Connections::default(),
        metrics,
    ));
    io.spawn(async move {
        // Waits for room rather than drop: the queue keeps folding meanwhile.
        loop {
            let event = events.next().await;
            if wakes.send(Wake::Event(event)).await.is_err() {
                return;
            }
        }
    });
    Ok(seen)
}

/// On SIGTERM or Ctrl-C: `stop` turns true at once, `interrupt` after the grace period.
fn on_stop_signal(
    io: &tokio::runtime::Runtime,
    grace: Duration,
) -> (watch::Receiver<bool>, watch::Receiver<bool>) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let (interrupt_tx, interrupt_rx) = watch::channel(false);
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
    (stop_rx, interrupt_rx)
}

/// What the agent is built from, gathered before its runtime starts.
struct Surroundings {
    repo: EnvRepo,
    model: Model,
    settings: Settings,
    metrics: Arc<Metrics>,
    /// The status page's board, with a listen address.
    board: Option<Arc<crate::ui::Board>>,
}

/// The agent: its cloud (AWS or the simulator), journal, reporter and fence.
async fn build_agent(
    args: &RunArgs,
    faults: Option<FaultScript>,
    surroundings: Surroundings,
    location: &Location,
    output: OutputFormat,
) -> Result<Agent, Exit> {
    let Surroundings {
        repo,
        model,
        settings,
        metrics,
        board,
    } = surroundings;
    let kill_at = faults.as_ref().and_then(|f| f.kill_agent_at.clone());
    let session = match faults {
        Some(faults) => simulated_session(&repo, &model, location, faults).await,
        None => aws_session(&model, args.region.clone()).await,
    };
    let mut journal: Arc<dyn Journal> = open_journal(&args.journal, &session)
        .map(Arc::from)
        .map_err(|e| fail(output, "usage", &e.to_string(), Exit::Usage))?;
    if let Some((tag, commit)) = &args.promote {
        let records = journal
            .read(None)
            .await
            .map_err(|e| fail(output, "repository", &e.to_string(), Exit::Refused))?;
        let named = (tag.as_str(), commit.as_deref());
        push_tag(args, &repo, &settings.credentials, named, &records, output)?;
    }
    drop(repo);
    if let Some(step) = kill_at {
        journal = Arc::new(CrashAfter {
            inner: journal,
            step,
        });
    }
    let reporter = reporter_for(&args.repo, output).await?;
    let Session {
        cloud,
        clock,
        sandbox,
    } = session;
    // With a shared (S3) journal every change to AWS is fenced by the lease.
    let fence = matches!(location, Location::S3 { .. })
        .then(|| crate::state::fence::LeaseGuard::new(args.lease_ttl));
    let cloud = match &fence {
        Some(guard) => crate::state::fence::fenced(cloud, guard.clone()),
        None => cloud,
    };
    let progress = super::run_ui::progress(ConsoleProgress::new(clock.clone()), board.clone());
    let mut agent = Agent::new(settings, cloud, clock, journal, reporter, progress, metrics);
    agent.board = board;
    agent.allow_downgrade = args.allow_downgrade;
    agent.promote_tag = args.promote.as_ref().map(|(tag, _)| tag.clone());
    agent.fence = fence.clone();
    // Each environment in its own account (and region, through its role if it names one).
    agent.accounts = Some(Arc::new(crate::daemon::accounts::Accounts::for_run(
        sandbox.as_ref().map(|s| s.sim.clone()),
        args.region.clone(),
        fence,
    )));
    if let Some(sandbox) = sandbox {
        let sandbox = Arc::new(sandbox);
        agent.on_pushed = Some(Box::new(move |repository, digest, tags| {
            let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
            sandbox
                .sim
                .push_image(repository, digest, &tags, sandbox.clock.now());
        }));
    }
    Ok(agent)
}

/// The simulated account, shaped like each environment at the commit last applied to it (what
/// runs there now), as far as a local journal tells.
async fn simulated_session(
    repo: &EnvRepo,
    model: &Model,
    location: &Location,
    faults: FaultScript,
) -> Session {
    let records = match location {
        Location::Dir(dir) => LocalJournal::new(dir).read(None).await.unwrap_or_default(),
        Location::S3 { .. } => Vec::new(),
    };
    let running = running_environments(repo, model, &records);
    let sandbox = Sandbox::for_environments(&running, faults, chrono::Utc::now());
    sandbox.add_build_projects(model.pipelines.values());
    Session {
        cloud: sandbox.sim.cloud(),
        clock: sandbox.clock.clone(),
        sandbox: Some(sandbox),
    }
}

/// AWS: one account and region per agent, the first environment's, or --region.
async fn aws_session(model: &Model, region: Option<String>) -> Session {
    let env = model.environments.values().next();
    let aws = Aws::connect(Target {
        account: env.map(|e| e.aws.account_id.clone()).unwrap_or_default(),
        region: region
            .or(env.map(|e| e.aws.region.clone()))
            .unwrap_or_default(),
    })
    .await;
    Session {
        cloud: aws.cloud(),
        clock: Clock::system(),
        sandbox: None,
    }
}

/// GitHub when credentials are set (GITHUB_TOKEN, or a GitHub App), else the console.
async fn reporter_for(repo: &str, output: OutputFormat) -> Result<Arc<dyn Reporter>, Exit> {
    match GitHub::from_env(repo).await {
        Ok(Some(github)) => {
            tracing::info!(?github, "reporting to GitHub");
            Ok(Arc::new(github))
        }
        Ok(None) => Ok(Arc::new(Console::new())),
        Err(e) => Err(fail(output, "usage", &e.to_string(), Exit::Usage)),
    }
}

/// An S3 journal is shared: a lease beside it makes one agent active, others standbys.
fn lease_for(agent: &Agent, location: &Location, ttl: Duration) -> Option<(Lease, Duration)> {
    let Location::S3 { bucket, prefix } = location else {
        return None;
    };
    let holder = format!(
        "{}-{}",
        std::env::var("HOSTNAME").unwrap_or_else(|_| "agent".into()),
        std::process::id()
    );
    let guard = agent.fence.clone().expect("an S3 journal is fenced");
    let lease = Lease::new(
        agent.cloud.s3.clone(),
        bucket.clone(),
        Lease::key_for(prefix),
        holder,
        ttl,
    )
    .with_guard(guard);
    Some((lease, ttl))
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
