//! The status page's HTML (maud): server-rendered, readable without JavaScript; a small inline
//! script only swaps in what `/events` sends (a rollout's card, the overview after a look).
//! Narrow screens get each table row as a block, each cell labelled.

use super::live::LiveState;
use super::model::{ChainLink, EnvView, HistoryRow, Link, Overview, ServiceRow};
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};

const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("live.js");

/// The whole document around `body`; `live` adds the script that follows `/events`.
fn layout(title: &str, body: Markup, live: bool) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · amagent" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header { a href="/" { "amagent" } " " span.muted { "status" }
                    @if live { span #live-status .muted { "" } } }
                main { (body) }
                @if live { script { (PreEscaped(SCRIPT)) } }
            }
        }
    }
}

/// `GET /`: the live rollouts, the promotion chain and every environment's services.
pub fn overview(o: &Overview, live: &[LiveState]) -> Markup {
    let body = html! {
        h1 { "What runs where" }
        p.muted { "head " code { (short(&o.head)) } " · looked " (time(o.at)) }
        (live_section(live))
        div #overview {
            @if !o.chain.is_empty() {
                section.chain { h2 { "Promotion" } @for link in &o.chain { (chain(link)) } }
            }
            @for env in &o.environments { (environment(env, o.at)) }
        }
    };
    layout("status", body, true)
}

/// Before the agent's first look there is nothing to show yet.
pub fn not_ready(live: &[LiveState]) -> Markup {
    let body = html! {
        h1 { "What runs where" }
        p { "The agent has not finished its first look at the environments repository yet." }
        (live_section(live))
        div #overview {}
    };
    layout("status", body, true)
}

fn live_section(live: &[LiveState]) -> Markup {
    html! {
        section #live {
            h2 { "Rollouts" }
            p.muted #live-empty hidden[!live.is_empty()] { "None in flight." }
            div #live-cards { @for s in live { (live_card(s)) } }
        }
    }
}

/// One service's rollout: the card `/events` replaces whole at each change.
pub fn live_card(s: &LiveState) -> Markup {
    let (class, mark) = match s.finished {
        None => ("card flight", "●"),
        Some(true) => ("card ok", "✓"),
        Some(false) => ("card failed", "✗"),
    };
    html! {
        article class=(class) id=(live_id(s)) data-finished=[s.finished] {
            h3 { (mark) " " (s.env) " / " (s.service) }
            p.message { (s.message) }
            @if let Some(after) = &s.after { p.muted { (after) } }
            @if let Some(v) = &s.view {
                progress max=(v.desired.max(1)) value=(v.new_healthy) {}
                ul.counts {
                    li { b { (v.stage) } " · " (v.elapsed_seconds) " s" }
                    li.new { "new " b { (v.new_running) "/" (v.desired) } " running, "
                        b { (v.new_healthy) } " healthy" }
                    li.old { "old " b { (v.old_remaining) } " left" }
                    @if v.targets > 0 {
                        li.targets { "targets " b { (v.targets_healthy) "/" (v.targets) } " healthy" }
                    }
                    @if let Some(left) = v.bake_left_seconds {
                        li.bake { "bake " b { (left) " s" } " left" }
                    }
                }
            }
        }
    }
}

/// The card's element id: `live-<env>-<service>`.
pub fn live_id(s: &LiveState) -> String {
    format!("live-{}-{}", s.env, s.service)
}

fn chain(link: &ChainLink) -> Markup {
    let version = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
    html! {
        div.link {
            p { b { (link.from) } " " code { (version(&link.from_version)) } " → "
                b { (link.to) } " " code { (version(&link.to_version)) } }
            ul { @for (service, from, to) in &link.services {
                li { (service) ": "
                    @if from == to { "same image " } @else { span.warn { "differs " } }
                    code { (from.as_deref().unwrap_or("—")) } " → " code { (to.as_deref().unwrap_or("—")) } }
            } }
        }
    }
}

fn environment(env: &EnvView, now: DateTime<Utc>) -> Markup {
    html! {
        section.env id=(format!("env-{}", env.name)) {
            h2 { (env.name)
                @if let Some(from) = &env.promoted_from { " " span.muted { "← promoted from " (from) } }
                @if let Some(v) = &env.version { " " code { (v) } } }
            @if let Some(e) = &env.error { p.error { (e) } }
            div.scroll { table {
                thead { tr { th { "Service" } th { "Revision" } th { "Image" } th { "Source" }
                    th { "Commit" } th { "Since" } th { "State" } } }
                tbody { @for s in &env.services { (service_row(s, now)) } }
            } }
        }
    }
}

fn service_row(s: &ServiceRow, now: DateTime<Utc>) -> Markup {
    html! {
        tr id=(format!("svc-{}", s.href.trim_start_matches("/services/").replace('/', "-"))) {
            td data-label="Service" { a href=(s.href) { b { (s.service) } } }
            td data-label="Revision" { (s.revision.as_deref().unwrap_or("—")) }
            td data-label="Image" {
                @if let (Some(short), Some(full)) = (&s.digest_short, &s.digest) {
                    code.digest title=(full) data-full=(full) { (short) }
                } @else { "—" }
                @for t in &s.tags { " " span.tag { (t) } }
            }
            td data-label="Source" { code { (s.source_ref) } }
            td data-label="Commit" {
                @if let Some(c) = &s.commit { (link(c)) } @else { "—" }
                @for pr in &s.pull_requests { " " (link(pr)) }
            }
            td data-label="Since" { @if let Some(at) = s.since { (time(at)) " " span.muted { (ago(now, at)) } } @else { "—" } }
            td data-label="State" { (state(s)) }
        }
    }
}

fn state(s: &ServiceRow) -> Markup {
    html! {
        @if s.verified { span.ok { "✓ verified" } } @else { span.warn { "not verified" } }
        @if let Some(p) = &s.pinned { br; span.pin { "📌 " (p) } }
        @if let Some((ok, text)) = &s.last { @if !ok { br; span.error.last { (text) } } }
        @if let Some(e) = &s.error { br; span.error { (e) } }
    }
}

/// `GET /services/{env}/{service}`: its deploys, newest first.
pub fn history(env: &str, service: &str, rows: &[HistoryRow], live: &[LiveState]) -> Markup {
    let body = html! {
        p { a href="/" { "← overview" } }
        h1 { (env) " / " (service) }
        (live_section(live))
        div #history {
            @if rows.is_empty() { p { "No deploy of this service in the journal yet." } }
            @else { div.scroll { table {
                thead { tr { th { "When" } th { "Outcome" } th { "Revision" } th { "Took" }
                    th { "Why" } th { "Rolled back to" } th { "Snapshot" } th { "Change" } } }
                tbody { @for r in rows { (history_row(r)) } }
            } } }
        }
    };
    layout(&format!("{env}/{service}"), body, true)
}

fn history_row(r: &HistoryRow) -> Markup {
    html! {
        tr class=(if r.succeeded { "ok-row" } else { "failed-row" }) {
            td data-label="When" { (time(r.at)) br; span.muted { (r.run) } }
            td data-label="Outcome" { @if r.succeeded { span.ok { "✓ " (r.kind) } }
                @else { span.error { "✗ " (r.kind) " failed" } } }
            td data-label="Revision" { (r.revision.as_deref().unwrap_or("—")) }
            td data-label="Took" { @if let Some(s) = r.seconds { (format!("{s:.0} s")) } @else { "—" } }
            td data-label="Why" { (r.reason.as_deref().unwrap_or("")) }
            td data-label="Rolled back to" { (r.rolled_back_to.as_deref().unwrap_or("")) }
            td data-label="Snapshot" { @if let Some(s) = &r.snapshot { code { (s) } } }
            td data-label="Change" {
                @if let Some(t) = &r.tag { code { (t) } " " }
                @if let Some(c) = &r.commit { (link(c)) }
                @for pr in &r.pull_requests { " " (link(pr)) }
            }
        }
    }
}

/// The login form (a token configured, none presented). `failed`: a wrong token was posted.
pub fn login(failed: bool) -> Markup {
    let body = html! {
        h1 { "Sign in" }
        @if failed { p.error { "That token is not the one this agent was given." } }
        form method="post" action="/login" {
            label for="token" { "Status page token (" code { "AMAGENT_UI_TOKEN" } ")" }
            input #token type="password" name="token" autocomplete="current-password" required;
            button type="submit" { "Sign in" }
        }
    };
    layout("sign in", body, false)
}

/// The page is refused: `why` says what to configure.
pub fn refused(why: &str) -> Markup {
    layout(
        "refused",
        html! { h1 { "Not available" } p { (why) } },
        false,
    )
}

pub fn not_found(what: &str) -> Markup {
    layout(
        "not found",
        html! { h1 { "Not found" } p { (what) } p { a href="/" { "← overview" } } },
        false,
    )
}

fn link(l: &Link) -> Markup {
    html! { @if let Some(href) = &l.href { a href=(href) { (l.text) } } @else { code { (l.text) } } }
}

fn time(at: DateTime<Utc>) -> Markup {
    html! { time datetime=(at.to_rfc3339()) { (at.format("%Y-%m-%d %H:%M UTC")) } }
}

/// `3 min ago`, from the snapshot's time (the agent's clock: virtual under `--sim`).
fn ago(now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    let s = (now - at).num_seconds().max(0);
    match s {
        0..60 => format!("{s} s ago"),
        60..3600 => format!("{} min ago", s / 60),
        3600..86400 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86400),
    }
}

fn short(s: &str) -> &str {
    s.get(..12).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::deploy::progress::RolloutView;

    #[test]
    fn a_card_shows_counts_and_bake_and_escapes_text() {
        let s = LiveState {
            env: "staging".into(),
            service: "api".into(),
            message: "all new tasks healthy; <baking>".into(),
            view: Some(RolloutView {
                stage: "rolling".into(),
                desired: 2,
                new_running: 2,
                new_healthy: 2,
                old_remaining: 1,
                targets: 2,
                targets_healthy: 2,
                bake_left_seconds: Some(87),
                elapsed_seconds: 40,
            }),
            finished: None,
            after: None,
            sent_ms: 0,
        };
        let html = live_card(&s).into_string();
        assert!(html.contains(r#"id="live-staging-api""#), "{html}");
        assert!(html.contains("&lt;baking&gt;"), "{html}");
        assert!(html.contains("<b>87 s</b> left"), "{html}");
        assert!(html.contains("<b>2/2</b> running"), "{html}");
        assert!(!html.contains("data-finished"), "{html}");
    }

    #[test]
    fn ago_reads_in_the_largest_unit() {
        let t = DateTime::<Utc>::UNIX_EPOCH;
        assert_eq!(ago(t + chrono::Duration::seconds(30), t), "30 s ago");
        assert_eq!(ago(t + chrono::Duration::seconds(7300), t), "2 h ago");
    }
}
