//! How long planning takes at scale: 200 services in each of 2 environments.
//! `cargo bench --bench plan` prints criterion's figures; the issue's note quotes them.

use amagent::config::{Model, SourceFile, load_sources};
use amagent::plan::plan;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;

const SERVICES: usize = 200;

fn service(env: &str, i: usize, tag: &str) -> String {
    format!(
        r#"  - name: svc-{i:03}
    pipeline: api
    ecs:
      service: aussie-markets-svc-{i:03}-{env}
      taskFamily: aussie-markets-svc-{i:03}-{env}-task
      container: app
    image:
      repository: aussie-markets/svc-{i:03}-{env}
    source:
      url: https://github.com/aussie-markets/svc-{i:03}.git
      ref: {tag}
    cpu: 256
    memory: 512
    env:
      NODE_ENV: {env}
    secrets:
      DATABASE_URL: /aussie-markets/{env}/svc-{i:03}/database-url
    loadBalancer:
      targetGroup: aussie-markets-svc-{i:03}-{env}
      containerPort: 3000
      healthCheckPath: /api/v1/health
"#
    )
}

fn environment(env: &str, tag: &str) -> String {
    let promotion = if env == "production" {
        "promotion:\n  from: staging\n  tagPattern: \"v*\"\n"
    } else {
        ""
    };
    let mut text = format!(
        r#"apiVersion: amagent/v1
kind: Environment
name: {env}
aws:
  region: ap-southeast-2
  accountId: "123456789012"
ecs:
  cluster: aussie-markets-{env}
database:
  instanceId: aussie-markets-{env}-db
  snapshots:
    policy: major
ecr:
  lifecycle:
    keepLastTagged: 10
    expireUntaggedAfterDays: 1
ssm:
  naming: "/aussie-markets/{{env}}/{{service}}/{{secret}}"
{promotion}services:
"#
    );
    for i in 0..SERVICES {
        text.push_str(&service(env, i, tag));
    }
    text
}

fn sources(tag: &str) -> Vec<SourceFile> {
    vec![
        SourceFile {
            path: "environments/staging.yaml".into(),
            text: environment("staging", tag),
        },
        SourceFile {
            path: "environments/production.yaml".into(),
            text: environment("production", tag),
        },
        SourceFile {
            path: "pipelines/api.yaml".into(),
            text: include_str!("../pipelines/api.yaml").into(),
        },
    ]
}

fn model(tag: &str) -> Model {
    load_sources(&sources(tag)).unwrap_or_else(|d| panic!("{d}"))
}

fn benches(c: &mut Criterion) {
    let before = model("v1.3.0");
    let after = model("v2.0.0");
    let changed = plan(&before, &after);
    assert_eq!(changed.stage_count(), 2 * SERVICES * 4 - SERVICES); // production never builds
    c.bench_function("plan 2 envs x 200 services, all changed", |b| {
        b.iter(|| plan(black_box(&before), black_box(&after)))
    });
    c.bench_function("plan 2 envs x 200 services, nothing changed", |b| {
        b.iter(|| plan(black_box(&before), black_box(&before)))
    });
    let files = sources("v1.3.0");
    c.bench_function("load+validate 2 envs x 200 services", |b| {
        b.iter(|| load_sources(black_box(&files)).unwrap())
    });
}

criterion_group! {
    name = plan_benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(plan_benches);
