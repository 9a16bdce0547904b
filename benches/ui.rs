//! The status page's server-side cost: the overview and a service's history rendered from a
//! snapshot shaped like the worked example (staging → production), at 1 and at 50 services per
//! environment with a year of daily deploys in the journal. Prints bytes and time per render.
//! Run: `cargo bench --bench ui`.

use amagent::state::journal::{Phase, Record};
use amagent::status::ServiceStatus;
use amagent::ui::{EnvSnapshot, ServiceSnapshot, Snapshot, model, page};
use chrono::{Duration, TimeZone, Utc};
use std::time::Instant;

fn snapshot(services: usize, days: i64) -> Snapshot {
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let names: Vec<String> = (0..services).map(|i| format!("svc-{i:02}")).collect();
    let mut records = Vec::new();
    for day in 0..days {
        for (env, tag) in [
            ("staging", None),
            ("production", Some(format!("v1.{day}.0"))),
        ] {
            let run = format!("{env}-{day}");
            let at = t0 + Duration::days(day);
            let commit = format!("{day:040x}");
            let rec =
                |service: Option<&str>, step: &str, phase, outcome: Option<&str>, detail| Record {
                    at,
                    run: run.clone(),
                    env: env.into(),
                    service: service.map(str::to_string),
                    step: step.into(),
                    phase,
                    outcome: outcome.map(str::to_string),
                    detail,
                };
            records.push(rec(
                None,
                "apply",
                Phase::Started,
                None,
                serde_json::json!({"commit": commit, "pull_requests": [day], "tag": tag}),
            ));
            for s in &names {
                let td = format!("arn:aws:ecs:ap-southeast-2:1:task-definition/{s}:{day}");
                records.push(rec(
                    Some(s),
                    "deploy",
                    Phase::Started,
                    None,
                    serde_json::Value::Null,
                ));
                records.push(rec(
                    Some(s),
                    "deploy",
                    Phase::Finished,
                    Some("succeeded"),
                    serde_json::json!({"task_definition": td, "seconds": 150.0}),
                ));
            }
            records.push(rec(
                None,
                "apply",
                Phase::Finished,
                Some("succeeded"),
                serde_json::json!({"commit": commit, "tag": tag}),
            ));
        }
    }
    let env = |name: &str, from: Option<&str>| EnvSnapshot {
        name: name.into(),
        promoted_from: from.map(str::to_string),
        services: names
            .iter()
            .map(|s| ServiceSnapshot {
                status: ServiceStatus {
                    service: s.clone(),
                    task_definition: Some(format!(
                        "arn:aws:ecs:ap-southeast-2:1:task-definition/{s}:{days}"
                    )),
                    revision: Some(format!("{s}:{days}")),
                    image: Some(format!("1.dkr.ecr/{s}@sha256:{}", "ab".repeat(32))),
                    digest: Some(format!("sha256:{}", "ab".repeat(32))),
                    tags: vec!["v1.4.0".into()],
                    verified: true,
                    since: Some(t0),
                    commit: Some(format!("{:040x}", days - 1)),
                    last: None,
                    pin: None,
                    error: None,
                },
                source_url: "https://github.com/aussie-markets/api.git".into(),
                source_ref: "v1.4.0".into(),
            })
            .collect(),
        error: None,
    };
    Snapshot {
        at: t0 + Duration::days(days),
        head: format!("{:040x}", days - 1),
        github: Some("https://github.com/aussie-markets/environments".into()),
        environments: vec![env("staging", None), env("production", Some("staging"))],
        records,
    }
}

fn time<F: FnMut() -> usize>(label: &str, mut render: F) {
    let bytes = render();
    let runs = 200;
    let start = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(render());
    }
    let each = start.elapsed() / runs;
    amagent::outln!(
        "{label:<48} {bytes:>8} bytes  {:>9.1} µs/render",
        each.as_secs_f64() * 1e6
    );
}

fn main() {
    for (services, days) in [(1, 30), (50, 365)] {
        let s = snapshot(services, days);
        time(
            &format!("overview, {services} service(s)/env, {days} days"),
            || {
                page::overview(&model::overview(&s), &[])
                    .into_string()
                    .len()
            },
        );
        time(&format!("history of one service, {days} deploys"), || {
            let rows = model::history(&s, "staging", "svc-00");
            page::history("staging", "svc-00", &rows, &[])
                .into_string()
                .len()
        });
    }
}
