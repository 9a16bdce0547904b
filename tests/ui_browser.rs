//! The status page in a real browser (issue 18): Debian's headless Chromium (installed by
//! `scripts/test`, path in `AMAGENT_CHROMIUM`; a missing browser fails the test) driven over the
//! DevTools protocol against `amagent run --sim`. A merge appears on the overview and its
//! rollout updates the open page live (server-sent events; the page is never reloaded); a failed
//! deploy shows its reason; the page asks for the token when one is required.
//!
//! With `AMAGENT_UI_SHOTS=DIR` the tests also save screenshots there (docs/images/ holds the
//! ones in the docs) and print the page's weight, first render and SSE latency.

mod support;

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
use chromiumoxide::page::{Page, ScreenshotParams};
use futures_util::StreamExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use support::ui::{UiFixture, eventually};

const TOKEN: &str = "ui-token-for-browser-tests-42";

/// Headless Chromium with its protocol handler running; closed when dropped.
struct Chromium {
    browser: Browser,
    handler: tokio::task::JoinHandle<()>,
    _profile: tempfile::TempDir,
}

impl Chromium {
    async fn launch() -> Chromium {
        let path = std::env::var("AMAGENT_CHROMIUM")
            .ok()
            .or_else(|| which("chromium"))
            .expect("chromium not found: scripts/test installs it (ensure_chromium), or set AMAGENT_CHROMIUM");
        let profile = tempfile::tempdir().unwrap();
        let config = BrowserConfig::builder()
            .chrome_executable(path)
            .no_sandbox()
            .user_data_dir(profile.path())
            .window_size(1200, 900)
            .build()
            .unwrap();
        let (browser, mut handler) = Browser::launch(config).await.expect("chromium starts");
        let handler = tokio::spawn(async move { while handler.next().await.is_some() {} });
        Chromium {
            browser,
            handler,
            _profile: profile,
        }
    }

    async fn open(&self, url: &str) -> Page {
        let page = self.browser.new_page(url).await.expect("the page opens");
        page.wait_for_navigation().await.unwrap();
        page
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        self.handler.abort();
    }
}

fn which(name: &str) -> Option<String> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| PathBuf::from(d).join(name))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}

/// `expression` evaluated in the page, as JSON.
async fn eval(page: &Page, expression: &str) -> serde_json::Value {
    page.evaluate(expression)
        .await
        .unwrap_or_else(|e| panic!("{expression}: {e}"))
        .into_value()
        .unwrap_or(serde_json::Value::Null)
}

/// Wait until `expression` is true in the page (two minutes at most). While the page navigates
/// there is no context to evaluate in: that is "not yet".
async fn until(page: &Page, what: &str, expression: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let value = page
            .evaluate(expression)
            .await
            .ok()
            .and_then(|v| v.into_value().ok());
        if value == Some(serde_json::Value::Bool(true)) {
            return;
        }
        if Instant::now() > deadline {
            let html = eval(page, "document.body.innerText").await;
            panic!(
                "timed out waiting for: {what}\npage:\n{}",
                html.as_str().unwrap_or("")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every text the rollout's card shows, recorded as the DOM changes (before anything else can
/// change it again), and whether the page was reloaded since.
const WATCH: &str = r#"
window.__notReloaded = true; window.__cards = []; window.__latency = [];
new MutationObserver(function () {
  var card = document.getElementById('live-staging-api');
  if (card) { var t = card.innerText; if (window.__cards[window.__cards.length - 1] !== t) window.__cards.push(t); }
  if (document.body.dataset.latencyMs) window.__latency.push(+document.body.dataset.latencyMs);
}).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
true"#;

fn shots() -> Option<PathBuf> {
    std::env::var_os("AMAGENT_UI_SHOTS").map(PathBuf::from)
}

async fn screenshot(page: &Page, name: &str) {
    if let Some(dir) = shots() {
        let params = ScreenshotParams::builder().full_page(true).build();
        let png = page.screenshot(params).await.unwrap();
        std::fs::write(dir.join(name), png).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_appears_on_the_overview_and_its_rollout_updates_the_page_live() {
    let f = UiFixture::new();
    let agent = f.start("healthy", "127.0.0.1", &[]);
    eventually("the first snapshot", || {
        reqwest_blocking_body(&agent.url("/")).contains("svc-staging-api")
    });
    let chromium = Chromium::launch().await;
    let page = chromium.open(&agent.url("/")).await;
    until(
        &page,
        "the event stream",
        "document.getElementById('live-status').textContent.includes('live')",
    )
    .await;
    let before = eval(
        &page,
        "document.querySelector('#svc-staging-api [data-label=Revision]').innerText",
    )
    .await;
    assert_eq!(eval(&page, WATCH).await, true);
    if shots().is_some() {
        // Hold the first state with all new tasks healthy and the bake running on screen: the
        // page stops following the feed there (for the screenshot of a rollout in flight).
        eval(&page, r#"window.amagentEvents.addEventListener('service', function (e) {
            var s = JSON.parse(e.data);
            if (s.id === 'live-staging-api' && s.finished === null && /bake <b>[0-9]{1,2} s/.test(s.html)) window.amagentEvents.close();
        }); true"#).await;
    }
    f.merge(41, "api-41.example.com");
    let mut latency = Vec::new();
    if shots().is_some() {
        until(
            &page,
            "a rollout in flight",
            "window.amagentEvents.readyState === 2",
        )
        .await;
        screenshot(&page, "status-rollout.png").await;
        latency = serde_json::from_value(eval(&page, "window.__latency").await).unwrap();
        page.reload().await.unwrap();
        assert_eq!(eval(&page, WATCH).await, true);
    }
    until(
        &page,
        "the rollout's end",
        "document.getElementById('live-staging-api')?.dataset.finished === 'true'",
    )
    .await;
    until(
        &page,
        "the overview after the merge",
        "document.querySelector('#svc-staging-api [data-label=Commit]').innerText.includes('#41')",
    )
    .await;
    assert_eq!(
        eval(&page, "window.__notReloaded === true").await,
        true,
        "never reloaded"
    );
    let after = eval(
        &page,
        "document.querySelector('#svc-staging-api [data-label=Revision]').innerText",
    )
    .await;
    assert_ne!(before, after, "the new revision shows");
    if shots().is_none() {
        let cards = eval(&page, "window.__cards").await;
        let cards: Vec<String> = serde_json::from_value(cards).unwrap();
        assert!(
            cards.len() >= 3,
            "the card changed as the rollout went: {cards:#?}"
        );
        assert!(
            cards
                .iter()
                .any(|c| c.contains("running") && c.contains("old")),
            "{cards:#?}"
        );
        assert!(
            cards.iter().any(|c| c.contains("bake")),
            "the bake countdown: {cards:#?}"
        );
        assert!(
            cards.last().unwrap().contains("verified healthy"),
            "{cards:#?}"
        );
    }
    screenshot(&page, "status-overview.png").await;
    latency
        .extend(serde_json::from_value::<Vec<f64>>(eval(&page, "window.__latency").await).unwrap());
    report_figures(&page, &agent.url("/"), latency).await;
    if shots().is_some() {
        // A phone's screen: each row a block, each cell labelled.
        let phone = SetDeviceMetricsOverrideParams::new(390, 844, 2.0, true);
        page.execute(phone).await.unwrap();
        screenshot(&page, "status-phone.png").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_deploy_shows_its_reason_in_the_open_page() {
    let f = UiFixture::new();
    let agent = f.start("access-denied", "127.0.0.1", &[]);
    eventually("the first snapshot", || {
        reqwest_blocking_body(&agent.url("/")).contains("svc-staging-api")
    });
    let chromium = Chromium::launch().await;
    let page = chromium.open(&agent.url("/")).await;
    until(
        &page,
        "the event stream",
        "document.getElementById('live-status').textContent.includes('live')",
    )
    .await;
    assert_eq!(eval(&page, WATCH).await, true);
    f.merge(42, "api-42.example.com");
    until(
        &page,
        "the failed card",
        "document.getElementById('live-staging-api')?.dataset.finished === 'false'",
    )
    .await;
    until(&page, "the reason on the overview",
        "(document.querySelector('#svc-staging-api .last')?.innerText || '').includes('ecs:UpdateService')").await;
    assert_eq!(
        eval(&page, "window.__notReloaded === true").await,
        true,
        "never reloaded"
    );
    let card = eval(
        &page,
        "document.getElementById('live-staging-api').innerText",
    )
    .await;
    assert!(card.as_str().unwrap().contains("UpdateService"), "{card}");
    page.goto(agent.url("/services/staging/api")).await.unwrap();
    let history = eval(&page, "document.getElementById('history').innerText").await;
    let history = history.as_str().unwrap();
    assert!(
        history.contains("deploy failed") && history.contains("#42"),
        "{history}"
    );
    screenshot(&page, "status-failed-history.png").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_loopback_the_browser_signs_in_with_the_token_first() {
    let f = UiFixture::new();
    let agent = f.start("healthy", "0.0.0.0", &[("AMAGENT_UI_TOKEN", TOKEN)]);
    let chromium = Chromium::launch().await;
    let page = chromium.open(&agent.url("/")).await;
    let text = eval(&page, "document.body.innerText").await;
    assert!(text.as_str().unwrap().contains("Sign in"), "{text}");
    assert!(
        !text.as_str().unwrap().contains("What runs where"),
        "{text}"
    );
    eval(&page, "document.getElementById('token').value = 'not-the-right-token-123'; document.forms[0].submit(); true").await;
    until(
        &page,
        "the refusal",
        "document.body.innerText.includes('not the one')",
    )
    .await;
    let submit = format!(
        "document.getElementById('token').value = '{TOKEN}'; document.forms[0].submit(); true"
    );
    eval(&page, &submit).await;
    until(
        &page,
        "the page after signing in",
        "document.body.innerText.includes('What runs where')",
    )
    .await;
    until(
        &page,
        "the event stream with the cookie",
        "document.getElementById('live-status').textContent.includes('live')",
    )
    .await;
    let cookie_visible = eval(&page, "document.cookie.includes('amagent_ui')").await;
    assert_eq!(
        cookie_visible, false,
        "HttpOnly: scripts cannot read the session"
    );
}

/// The page's body over plain HTTP ("" while the agent is not answering yet).
fn reqwest_blocking_body(url: &str) -> String {
    let url = url.to_string();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            match reqwest::get(&url).await {
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            }
        })
    })
    .join()
    .unwrap()
}

/// Page weight, first render and SSE latency, printed for the record (not asserted).
async fn report_figures(page: &Page, url: &str, latency: Vec<f64>) {
    let bytes = reqwest_blocking_body(url).len();
    let timing = eval(page, r#"(function () {
        var n = performance.getEntriesByType('navigation')[0];
        var p = performance.getEntriesByType('paint').find(function (e) { return e.name === 'first-contentful-paint'; });
        return { ttfb: n.responseStart, dom: n.domContentLoadedEventEnd, fcp: p ? p.startTime : null };
    })()"#).await;
    let mut sorted = latency.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN);
    let (min, max) = (
        sorted.first().copied().unwrap_or(f64::NAN),
        sorted.last().copied().unwrap_or(f64::NAN),
    );
    // The simulator sends a rollout's events in a burst (virtual time): the later ones wait
    // behind the earlier in the browser, so `min` is one event's latency, `max` the backlog's.
    amagent::errln!(
        "status page: {bytes} bytes; navigation {timing}; SSE Progress→DOM latency over {} events: min {min} ms, median {median} ms, max {max} ms",
        latency.len()
    );
}
