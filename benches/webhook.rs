//! Latency from a GitHub push webhook to the first AWS call of the deploy it starts, on real
//! time, in process, wired as `amagent run` wires it: the axum webhook server on a loopback
//! socket, the event forwarded to the agent's loop as a [`Wake`], the loop's tick (git fetch of
//! the bare remote, plan from the commit last applied), the executor on the simulator.
//!
//! Each iteration has its own environments repo (the bundled environments/ and pipelines/ in a
//! git work tree pushed to a bare remote), simulated account, journal and agent. The loop's
//! first look adopts the head as the baseline; then a config-only change to staging (one more
//! environment variable: a new task definition, no build) is pushed to the remote, and the
//! clock runs from just before a signed `push` delivery is POSTed until the simulator has seen
//! its first call (polled every 100 µs). Then the agent is interrupted and everything dropped.
//!
//! Breakdown, from the agent's own log events (a tracing layer stamps them): POST → delivery
//! accepted (HTTP, HMAC), → event forwarded (the channel hop to the loop's wake queue), → repo
//! fetched (loop wake-up + git fetch), → `applying` (model at head, journal read, plan, landed
//! commits), → first AWS call (journal record, pull-request comment and status on the quiet
//! console reporter, executor start).
//!
//! `cargo bench --bench webhook` prints min / median / p95 / max (about 3 s of wall time);
//! `cargo bench --profile dev --bench webhook` runs it unoptimized without a release build.

use amagent::cloud::sim::FaultScript;
use amagent::config::load_dir;
use amagent::daemon::{self, Agent, Settings, Wake};
use amagent::metrics::Metrics;
use amagent::repo::GitCredentials;
use amagent::report::console::Console;
use amagent::sandbox::Sandbox;
use amagent::secret::Secret;
use amagent::stages::deploy::Silent;
use amagent::state::journal::LocalJournal;
use amagent::watch::queue::DeliveryQueue;
use amagent::watch::serve;
use amagent::watch::webhook::{self, WebhookState, sign};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{Layer, filter::Targets};

const ITERATIONS: usize = 20;
const SECRET: &str = "webhook-secret-for-the-bench";
const PUSH: &str = include_str!("../tests/fixtures/github-push-event.json");

/// Instants of the log events the breakdown is made of, in order.
#[derive(Clone, Default)]
struct Marks(Arc<Mutex<Vec<(&'static str, Instant)>>>);

impl Marks {
    fn push(&self, name: &'static str) {
        self.0.lock().unwrap().push((name, Instant::now()));
    }
    fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
    /// The first instant of `name`.
    fn first(&self, name: &str) -> Option<Instant> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, at)| *at)
    }
}

struct Message(Option<String>);

impl tracing::field::Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Marks {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut message = Message(None);
        event.record(&mut message);
        let name = match message.0.as_deref() {
            Some("webhook accepted") => "accepted",
            Some("fetched environments repo") => "fetched",
            Some("applying") => "applying",
            _ => return,
        };
        self.push(name);
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=Ada", "-c", "user.email=ada@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A work tree with the bundled environments and pipelines, pushed to a bare remote.
struct EnvRepo {
    tmp: tempfile::TempDir,
    work: PathBuf,
    remote: PathBuf,
}

impl EnvRepo {
    fn new() -> EnvRepo {
        let tmp = tempfile::tempdir().unwrap();
        let work = tmp.path().join("envrepo");
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for sub in ["environments", "pipelines"] {
            std::fs::create_dir_all(work.join(sub)).unwrap();
            for entry in std::fs::read_dir(root.join(sub)).unwrap() {
                let entry = entry.unwrap();
                std::fs::copy(entry.path(), work.join(sub).join(entry.file_name())).unwrap();
            }
        }
        git(&work, &["init", "-q", "-b", "main"]);
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-qm", "environments"]);
        let remote = tmp.path().join("remote.git");
        git(
            tmp.path(),
            &[
                "clone",
                "-q",
                "--bare",
                work.to_str().unwrap(),
                remote.to_str().unwrap(),
            ],
        );
        git(
            &work,
            &["remote", "add", "origin", remote.to_str().unwrap()],
        );
        EnvRepo { tmp, work, remote }
    }

    /// Merge "pull request #n": staging's api gets one more environment variable (a config
    /// change: new task definition, no build). Returns the merge commit.
    fn merge_config_change(&self, n: usize) -> String {
        let path = self.work.join("environments/staging.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        let changed = text.replacen(
            "      NODE_ENV: staging\n",
            &format!("      NODE_ENV: staging\n      BENCH_ITERATION: \"{n}\"\n"),
            1,
        );
        assert_ne!(text, changed, "staging.yaml has NODE_ENV: staging");
        std::fs::write(&path, changed).unwrap();
        git(
            &self.work,
            &[
                "commit",
                "-qam",
                &format!("Merge pull request #{n} from team/bench\n\nOne more env var"),
            ],
        );
        git(&self.work, &["push", "-q", "origin", "main"]);
        git(&self.work, &["rev-parse", "HEAD"])
    }

    fn journal(&self) -> PathBuf {
        self.tmp.path().join("journal")
    }

    /// The first look adopted both environments (staging on merge; production, promoted by
    /// tag, with no tag yet — written last in a tick).
    fn adopted(&self) -> bool {
        ["staging", "production"].iter().all(|env| {
            std::fs::read_to_string(self.journal().join(format!("{env}.jsonl")))
                .is_ok_and(|t| t.contains("\"adopted\""))
        })
    }
}

/// One measurement, in ms from just before the POST.
struct Sample {
    total: f64,
    response: f64,
    accepted: f64,
    forwarded: f64,
    fetched: f64,
    applying: f64,
    first_calls: Vec<String>,
}

async fn iteration(n: usize, marks: &Marks, client: &reqwest::Client) -> Sample {
    let repo = EnvRepo::new();
    let model = load_dir(&repo.work).unwrap();
    let envs: Vec<_> = model.environments.values().cloned().collect();
    let sandbox = Sandbox::for_environments(&envs, FaultScript::default(), chrono::Utc::now());
    let sim = sandbox.sim.clone();
    let metrics = Arc::new(Metrics::default());
    let mut agent = Agent::new(
        Settings {
            url: repo.remote.to_str().unwrap().to_string(),
            branch: "main".into(),
            mirror: repo.tmp.path().join("mirror"),
            cache: repo.tmp.path().join("cache"),
            credentials: GitCredentials::default(),
            builder: None,
            parallel_builds: amagent::daemon::PARALLEL_BUILDS,
        },
        sandbox.sim.cloud(),
        sandbox.clock.clone(),
        Arc::new(LocalJournal::new(repo.journal())),
        Arc::new(Console::quiet()),
        Arc::new(Silent),
        metrics.clone(),
    );

    // Wired as `amagent run` wires it: webhook → delivery queue → forwarder → wakes → loop.
    let (wake_tx, wake_rx) = mpsc::channel::<Wake>(64);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (interrupt_tx, interrupt_rx) = watch::channel(false);
    let events = Arc::new(DeliveryQueue::default());
    let state = Arc::new(WebhookState::new(
        Secret::new(SECRET),
        events.clone(),
        metrics,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(serve::serve(
        listener,
        webhook::router(state),
        serve::ServerLimits::for_fd_limit(serve::fd_limit()),
        serve::Connections::default(),
        Arc::new(amagent::metrics::Metrics::default()),
    ));
    let forward_marks = marks.clone();
    let forwarder = tokio::spawn(async move {
        loop {
            let event = events.next().await;
            forward_marks.push("forwarded");
            if wake_tx.send(Wake::Event(event)).await.is_err() {
                return;
            }
        }
    });
    // As in `amagent run`, the agent's loop is driven by the thread that blocks on the runtime
    // (it is not `Send`: it holds the git2 mirror); the server and forwarder run on the workers.
    let agent_loop = daemon::run(&mut agent, wake_rx, stop_rx, interrupt_rx, None);
    let measure = async {
        // The loop's first look (its initial poll) adopts the head; wait for it to be done.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !repo.adopted() {
            assert!(Instant::now() < deadline, "the first look did not adopt");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;

        let head = repo.merge_config_change(n);
        let mut payload: serde_json::Value = serde_json::from_str(PUSH).unwrap();
        payload["after"] = head.clone().into();
        payload["head_commit"]["id"] = head.into();
        let body = serde_json::to_vec(&payload).unwrap();
        let signature = sign(SECRET, &body);
        sim.reset_calls();
        marks.clear();

        let poller = {
            let sim = sim.clone();
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    let calls = sim.calls();
                    if !calls.is_empty() {
                        return (Instant::now(), calls);
                    }
                    assert!(Instant::now() < deadline, "no AWS call within 30 s");
                    std::thread::sleep(Duration::from_micros(100));
                }
            })
        };
        // The POST runs on a worker, so its answer is timed independently of the agent's thread.
        let request = client
            .post(format!("http://{addr}/webhooks/github"))
            .header("Content-Type", "application/json")
            .header("X-GitHub-Event", "push")
            .header("X-GitHub-Delivery", format!("bench-{n}"))
            .header("X-Hub-Signature-256", signature)
            .body(body);
        let start = Instant::now();
        let post = tokio::spawn(async move {
            let response = request.send().await.unwrap();
            (Instant::now(), response.status())
        });
        let (first_call, calls): (Instant, BTreeMap<String, u64>) =
            tokio::task::spawn_blocking(move || poller.join().unwrap())
                .await
                .unwrap();
        let (responded, status) = post.await.unwrap();
        assert_eq!(status, 202);

        let ms = |at: Option<Instant>| {
            at.map(|at| at.saturating_duration_since(start).as_secs_f64() * 1000.0)
                .unwrap_or(f64::NAN)
        };
        let sample = Sample {
            total: ms(Some(first_call)),
            response: ms(Some(responded)),
            accepted: ms(marks.first("accepted")),
            forwarded: ms(marks.first("forwarded")),
            fetched: ms(marks.first("fetched")),
            applying: ms(marks.first("applying")),
            first_calls: calls.keys().cloned().collect(),
        };

        // Finish no more: the apply is recorded as interrupted and the loop returns.
        let _ = stop_tx.send(true);
        let _ = interrupt_tx.send(true);
        sample
    };
    let (sample, ()) = tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(measure, agent_loop)
    })
    .await
    .expect("the iteration finishes and the loop stops when interrupted");
    server.abort();
    forwarder.abort();
    sample
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(name: &str, mut values: Vec<f64>) {
    values.sort_by(f64::total_cmp);
    println!(
        "  {name:<34} {:8.1} {:8.1} {:8.1} {:8.1}",
        values[0],
        percentile(&values, 50.0),
        percentile(&values, 95.0),
        values[values.len() - 1]
    );
}

fn main() {
    let marks = Marks::default();
    let subscriber = tracing_subscriber::registry().with(
        marks
            .clone()
            .with_filter(Targets::new().with_target("amagent", tracing::Level::DEBUG)),
    );
    tracing::subscriber::set_global_default(subscriber).unwrap();
    // A normal multi-thread runtime on real time, as `amagent run` without --sim has.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let wall = Instant::now();
    let samples: Vec<Sample> = runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut samples = Vec::new();
        for n in 1..=ITERATIONS {
            samples.push(iteration(n, &marks, &client).await);
        }
        samples
    });
    let first_calls: std::collections::BTreeSet<String> = samples
        .iter()
        .flat_map(|s| s.first_calls.iter().cloned())
        .collect();
    println!(
        "push webhook → first AWS call of the deploy (config-only change to staging, real time, \
         {ITERATIONS} iterations, fresh repo and agent each):"
    );
    println!(
        "  {:<34} {:>8} {:>8} {:>8} {:>8}",
        "ms since the POST started", "min", "median", "p95", "max"
    );
    let col = |f: fn(&Sample) -> f64| samples.iter().map(f).collect::<Vec<_>>();
    summary("202 response received", col(|s| s.response));
    summary("delivery accepted (handler)", col(|s| s.accepted));
    summary("event forwarded to the loop", col(|s| s.forwarded));
    summary("environments repo fetched", col(|s| s.fetched));
    summary("planned (`applying`)", col(|s| s.applying));
    summary("FIRST AWS CALL (total)", col(|s| s.total));
    println!("  stages (ms, each from the previous):");
    summary("HTTP + HMAC → accepted", col(|s| s.accepted));
    summary("accepted → forwarded", col(|s| s.forwarded - s.accepted));
    summary(
        "forwarded → fetched (wake + fetch)",
        col(|s| s.fetched - s.forwarded),
    );
    summary("fetched → planned", col(|s| s.applying - s.fetched));
    summary("planned → first AWS call", col(|s| s.total - s.applying));
    println!(
        "  first call(s) seen: {}",
        first_calls.into_iter().collect::<Vec<_>>().join(", ")
    );
    println!("  wall time: {:.1} s", wall.elapsed().as_secs_f64());
}
