//! Notifications (issue 18 item 4) from the agent applying real merges on the simulator to a
//! local HTTP receiver: a Slack incoming webhook, a Slack bot (one message per run, updated), a
//! signed generic webhook behind a flaky server (retried after a 500), one that answers 400
//! (not retried) and one that is down — none of which fails or holds up a deploy; secrets
//! (read from SSM) appear neither in the log nor in the journal.

mod support;

use amagent::cloud::sim::{FaultScript, ImageRule};
use amagent::notify::Notifier;
use amagent::sandbox::Sandbox;
use amagent::stages::deploy::Outcome;
use amagent::state::journal::{Journal, LocalJournal};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use support::envrepo::{self, edit, source_repo};
use support::receiver::{Receiver, SLACK_TS};

const SLACK_SECRET: &str = "T0AMAGENT/B0AMAGENT/xq9Zslackhooksecret";
/// The secret of a Slack webhook whose host is down: connection errors name their URL.
const SLACK_DOWN_SECRET: &str = "T0DOWN/B0DOWN/k7Wdownhooksecret";
const BOT_TOKEN: &str = "xoxb-0000-amagent-bot-token-secret";
const SIGNING_SECRET: &str = "whsec-amagent-signing-secret";

/// Everything logged by any thread of this test binary (the delivery thread included).
fn log() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        // As `amagent -vv` logs (debug, `log` records of the HTTP crates included).
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .try_init()
            .unwrap();
        buffer
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn notify_block(receiver: &str, down: &str) -> String {
    format!(
        "notify:
  - slack:
      webhookUrl: {{ssm: /aussie-markets/notify/slack-webhook}}
  - slack:
      botToken: {{ssm: /aussie-markets/notify/slack-bot}}
      channel: \"#deploys\"
  - webhook:
      url: {receiver}/flaky/amagent
      secret: {{ssm: /aussie-markets/notify/signing}}
    events: [started, succeeded, rolled_back]
  - webhook:
      url: {receiver}/refuse/amagent
    events: [failed, rolled_back]
  - webhook:
      url: {down}/down
  - slack:
      webhookUrl: {{ssm: /aussie-markets/notify/slack-webhook-down}}
    events: [started]
services:
"
    )
}

fn verify(secret: &str, body: &[u8], header: &str) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let hex = header.strip_prefix("sha256=").unwrap_or_default();
    mac.verify_slice(&hex::decode(hex).unwrap_or_default())
        .is_ok()
}

#[tokio::test(start_paused = true)]
async fn every_target_hears_each_run_and_none_holds_up_a_deploy() {
    let log = log();
    let receiver = Receiver::start();
    // A port nothing listens on: bound, then closed.
    let down = format!(
        "http://{}",
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    );
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("api-src");
    std::fs::create_dir_all(&source).unwrap();
    let (v14, v15) = source_repo(&source);
    let repo = tmp.path().join("envrepo");
    let block = notify_block(&receiver.url, &down);
    envrepo::example(&repo, |text| {
        let text = text.replace(
            "url: https://github.com/aussie-markets/api.git",
            &format!("url: {}", source.display()),
        );
        match text.contains("name: staging") {
            true => text.replacen("services:\n", &block, 1),
            false => text,
        }
    });
    let (good, bad) = (
        format!("sha256:{}", "4".repeat(64)),
        format!("sha256:{}", "5".repeat(64)),
    );
    let faults = FaultScript::new().image(ImageRule::new(&bad).crash_after(15));
    let model = amagent::config::load_dir(&repo).unwrap_or_else(|e| panic!("{e:?}"));
    let envs: Vec<_> = model.environments.values().cloned().collect();
    let sandbox = Sandbox::for_environments(&envs, faults, amagent::sandbox::epoch());
    let now = amagent::sandbox::epoch();
    sandbox
        .sim
        .push_image("aussie-markets/api", &good, &[&v14, "v1.4.0"], now);
    sandbox
        .sim
        .push_image("aussie-markets/api", &bad, &[&v15, "v1.5.0"], now);
    let slack_url = format!("{}/services/{SLACK_SECRET}", receiver.url);
    sandbox
        .sim
        .put_secure_parameter("/aussie-markets/notify/slack-webhook", &slack_url);
    sandbox
        .sim
        .put_secure_parameter("/aussie-markets/notify/slack-bot", BOT_TOKEN);
    let slack_down = format!("{down}/services/{SLACK_DOWN_SECRET}");
    sandbox
        .sim
        .put_secure_parameter("/aussie-markets/notify/slack-webhook-down", &slack_down);
    sandbox
        .sim
        .put_secure_parameter("/aussie-markets/notify/signing", SIGNING_SECRET);
    let journal: Arc<dyn Journal> = Arc::new(LocalJournal::new(tmp.path().join("journal")));
    let mut agent = envrepo::sim_agent(&repo, tmp.path(), &sandbox, journal.clone());
    let slack_api = format!("{}/api", receiver.url);
    agent.set_notifier(Arc::new(Notifier::start(
        Duration::from_millis(20),
        &slack_api,
    )));
    agent.tick().await.unwrap(); // adopt

    let file = "environments/staging.yaml";
    edit(
        &repo,
        file,
        "ref: v1.3.0",
        "ref: v1.4.0",
        "Merge pull request #11",
    );
    let tick = agent.tick().await.unwrap();
    assert_eq!(
        tick.applied[0].outcome,
        Outcome::Succeeded,
        "a receiver down fails nothing"
    );
    edit(
        &repo,
        file,
        "ref: v1.4.0",
        "ref: v1.5.0",
        "Merge pull request #12",
    );
    let tick = agent.tick().await.unwrap();
    assert!(tick.applied[0].deploys[0].rolled_back, "{tick:?}");
    assert!(
        agent.notifier().wait_idle(Duration::from_secs(60)),
        "deliveries finished"
    );

    // Slack incoming webhook: one message per event.
    let slack = receiver.to("/services/");
    let texts: Vec<String> = slack
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts.len(), 4, "{texts:#?}");
    assert!(
        texts[0].starts_with(":rocket: *staging* deploying"),
        "{}",
        texts[0]
    );
    assert!(
        texts[1].starts_with(":white_check_mark: *staging* deployed"),
        "{}",
        texts[1]
    );
    assert!(
        texts[3].starts_with(":rewind: *staging* deploy failed and rolled back"),
        "{}",
        texts[3]
    );
    assert!(texts[3].contains("#12"), "{}", texts[3]);

    // Slack bot: one message per run — posted at the start, updated with its ts at the end.
    let bot: Vec<(String, serde_json::Value)> = receiver
        .to("/api/")
        .iter()
        .map(|r| (r.path.clone(), r.json()))
        .collect();
    let paths: Vec<&str> = bot.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/api/chat.postMessage",
            "/api/chat.update",
            "/api/chat.postMessage",
            "/api/chat.update"
        ]
    );
    assert_eq!(bot[1].1["ts"], SLACK_TS);
    assert_eq!(bot[1].1["channel"], "#deploys");
    assert!(bot[0].1.get("ts").is_none());
    for r in receiver.to("/api/") {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {BOT_TOKEN}").as_str())
        );
    }

    // The signed webhook: each event's first try got a 500 and was sent again, same body.
    let flaky = receiver.to("/flaky/");
    assert_eq!(flaky.len(), 8, "4 events × (500, then 200)");
    let mut run_ids = Vec::new();
    for pair in flaky.chunks(2) {
        assert_eq!(pair[0].body, pair[1].body);
        let signature = pair[1].header("x-amagent-signature-256").unwrap();
        assert!(
            verify(SIGNING_SECRET, &pair[1].body, signature),
            "{signature}"
        );
        assert!(!verify("another secret", &pair[1].body, signature));
        let body = pair[1].json();
        assert_eq!(pair[1].header("x-amagent-event"), body["event"].as_str());
        run_ids.push((
            body["event"].as_str().unwrap().to_string(),
            body["run_id"].as_str().unwrap().to_string(),
        ));
    }
    let events: Vec<&str> = run_ids.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(
        events,
        ["started", "succeeded", "started", "rolled_back"],
        "filtered by `events`"
    );
    assert_eq!(
        run_ids[0].1, run_ids[1].1,
        "a run's events share its run_id"
    );
    assert_eq!(run_ids[2].1, run_ids[3].1);
    assert_ne!(run_ids[1].1, run_ids[2].1);
    let last = flaky[7].json();
    assert_eq!(last["environment"], "staging");
    assert_eq!(last["services"][0]["name"], "api");
    assert_eq!(last["services"][0]["rolled_back"], true);
    assert_eq!(last["pull_requests"], serde_json::json!([12]));

    // 400: said once, not retried; the down receiver: tried 3 times per event, given up.
    assert_eq!(receiver.to("/refuse/").len(), 1);
    let logged = String::from_utf8(log.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("notification not delivered"), "{logged}");
    assert!(logged.contains("HTTP 400"), "{logged}");
    assert!(logged.contains("staging notify[4] (webhook)"), "{logged}");
    assert!(logged.contains("staging notify[5] (slack)"), "{logged}");

    // Secrets: never in the log nor the journal.
    let journalled = format!("{:?}", journal.read(None).await.unwrap());
    for secret in [
        SLACK_SECRET,
        "xq9Zslackhooksecret",
        SLACK_DOWN_SECRET,
        "k7Wdownhooksecret",
        BOT_TOKEN,
        SIGNING_SECRET,
    ] {
        assert!(!logged.contains(secret), "the log holds {secret}");
        assert!(!journalled.contains(secret), "the journal holds {secret}");
    }
}

/// `amagent run --once` on the simulator, secrets from its environment: a merge's deploy is
/// told to a signed webhook and to Slack, a Slack webhook whose host is down fails nothing, and
/// neither URL nor secret reaches stderr (at `-vv`) or the journal.
#[test]
fn the_agent_process_notifies_and_never_prints_a_secret() {
    let receiver = Receiver::start();
    let down = format!(
        "http://{}",
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    );
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("envrepo");
    let block = "notify:
  - slack:
      webhookUrl: {env: AMAGENT_TEST_SLACK_URL}
  - webhook:
      url: RECEIVER/hooks/amagent
      secret: {env: AMAGENT_TEST_SIGNING}
  - slack:
      webhookUrl: {env: AMAGENT_TEST_SLACK_DOWN}
    events: [succeeded]
services:
"
    .replace("RECEIVER", &receiver.url);
    envrepo::example(&repo, |text| match text.contains("name: staging") {
        true => text.replacen("services:\n", &block, 1),
        false => text.to_string(),
    });
    let run = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_amagent"))
            .args([
                "-vv",
                "run",
                "--once",
                "--sim",
                "healthy",
                "--repo",
                repo.to_str().unwrap(),
            ])
            .env("AMAGENT_JOURNAL", tmp.path().join("journal"))
            .env("AMAGENT_CACHE", tmp.path().join("cache"))
            .env(
                "AMAGENT_TEST_SLACK_URL",
                format!("{}/services/{SLACK_SECRET}", receiver.url),
            )
            .env(
                "AMAGENT_TEST_SLACK_DOWN",
                format!("{down}/services/{SLACK_DOWN_SECRET}"),
            )
            .env("AMAGENT_TEST_SIGNING", SIGNING_SECRET)
            .env_remove("GITHUB_TOKEN")
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{stderr}");
        stderr
    };
    let adopted = run();
    edit(
        &repo,
        "environments/staging.yaml",
        "memory: 512",
        "memory: 1024",
        "Merge pull request #21",
    );
    let applied = run();
    let slack = receiver.to("/services/");
    let texts: Vec<String> = slack
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts.len(), 2, "{texts:#?}\n{applied}");
    assert!(
        texts[1].starts_with(":white_check_mark: *staging* deployed"),
        "{}",
        texts[1]
    );
    let hooks = receiver.to("/hooks/");
    assert_eq!(hooks.len(), 2, "started, succeeded");
    for hook in &hooks {
        let signature = hook.header("x-amagent-signature-256").unwrap();
        assert!(verify(SIGNING_SECRET, &hook.body, signature));
    }
    assert!(applied.contains("staging notify[2] (slack)"), "{applied}");
    assert!(applied.contains("notification not delivered"), "{applied}");
    let journal = std::fs::read_dir(tmp.path().join("journal"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .collect::<String>();
    assert!(
        journal.contains("succeeded"),
        "the journal was read: {journal}"
    );
    for secret in [
        SLACK_SECRET,
        SLACK_DOWN_SECRET,
        "k7Wdownhooksecret",
        SIGNING_SECRET,
    ] {
        for (what, text) in [
            ("stderr", &adopted),
            ("stderr", &applied),
            ("journal", &journal),
        ] {
            assert!(!text.contains(secret), "the {what} holds {secret}:\n{text}");
        }
    }
}

/// Slack refuses with HTTP 200 and `ok: false` (a bad token, an unknown channel): not retried,
/// and the next target still gets the event.
#[test]
fn a_slack_refusal_is_not_retried() {
    use amagent::notify::{Destination, Event, Resolved};
    let log = log();
    let receiver = Receiver::start();
    let notifier = Notifier::start(Duration::from_millis(5), &format!("{}/api", receiver.url));
    let target = |channel: &str| Resolved {
        label: format!("test slack {channel}"),
        destination: Destination::SlackBot {
            token: amagent::secret::Secret::new(BOT_TOKEN),
            channel: channel.into(),
        },
    };
    let event = Event {
        kind: amagent::config::EventKind::Failed,
        run_id: "staging-apply-1".into(),
        environment: "staging".into(),
        commit: None,
        summary: "failed".into(),
        services: Vec::new(),
        pull_requests: Vec::new(),
        at: amagent::sandbox::epoch(),
    };
    notifier.send(vec![target("#refused"), target("#deploys")], event);
    assert!(notifier.wait_idle(Duration::from_secs(30)));
    let channels: Vec<serde_json::Value> = receiver
        .to("/api/")
        .iter()
        .map(|r| r.json()["channel"].clone())
        .collect();
    assert_eq!(channels, ["#refused", "#deploys"], "one try each");
    let logged = String::from_utf8(log.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains("Slack chat.postMessage refused: channel_not_found"),
        "{logged}"
    );
}
