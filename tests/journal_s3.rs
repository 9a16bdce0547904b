//! The S3 journal and the lease on the wire, against moto: conditional writes as real S3
//! clients send them (`If-None-Match: *`, `If-Match: <etag>`), and two agents — each with its
//! own `Aws` client, so separate configurations and connection pools — competing for one lease.
//! (Two clients in one test process, not two processes: the lease's only shared state is the
//! S3 object, so a second process would add nothing the server can see but a second PID.)

mod support;

use amagent::cloud::aws::Aws;
use amagent::cloud::types::PutCondition;
use amagent::cloud::{CloudError, ObjectStore};
use amagent::state::journal::{Journal, JournalError, Phase, Record, S3Journal};
use amagent::state::lease::{Lease, LeaseError, LeaseState};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

const BUCKET: &str = "aussie-markets-staging-logs";
const PREFIX: &str = "amagent/";
const TTL: Duration = Duration::from_secs(30);

async fn client(endpoint: &str) -> (Aws, Arc<dyn ObjectStore>) {
    let aws = support::connect(endpoint).await;
    let s3 = aws.cloud().s3;
    (aws, s3)
}

async fn bucket(aws: &Aws) {
    support::create_bucket(aws, BUCKET).await;
}

fn t0() -> DateTime<Utc> {
    "2026-11-25T09:00:00Z".parse().unwrap()
}

fn at(seconds: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(seconds)
}

fn record(seconds: i64, service: Option<&str>, step: &str, phase: Phase) -> Record {
    Record {
        at: at(seconds),
        run: "staging-20261125T090000Z-abc1234-0f3a2b".into(),
        env: "staging".into(),
        service: service.map(String::from),
        step: step.into(),
        phase,
        outcome: (phase == Phase::Finished).then(|| "succeeded".into()),
        detail: serde_json::json!({ "task_definition": "arn:aws:ecs:ap-southeast-2:123456789012:task-definition/aussie-markets-api-task:43" }),
    }
}

#[tokio::test]
async fn moto_honours_conditional_puts_as_s3_does() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let (aws, s3) = client(&endpoint).await;
    bucket(&aws).await;
    let key = "amagent/probe.json";
    let etag = s3
        .put(BUCKET, key, b"1", PutCondition::IfAbsent)
        .await
        .expect("If-None-Match: * on an absent key is accepted");
    let again = s3.put(BUCKET, key, b"2", PutCondition::IfAbsent).await;
    assert!(
        matches!(&again, Err(e) if e.is_precondition_failed()),
        "moto must refuse If-None-Match: * on an existing key with 412 PreconditionFailed; got {again:?}"
    );
    let stale = s3
        .put(BUCKET, key, b"3", PutCondition::IfMatch("\"0000\"".into()))
        .await;
    assert!(
        matches!(&stale, Err(e) if e.is_precondition_failed()),
        "moto must refuse PutObject If-Match with a stale etag (412); if it accepts it, moto does \
         not support conditional PUT by If-Match and the lease cannot be tested on it; got {stale:?}"
    );
    s3.put(BUCKET, key, b"4", PutCondition::IfMatch(etag))
        .await
        .expect("PutObject If-Match with the current etag is accepted");
    // S3 (and moto) answer If-Match on a missing key with 404 NoSuchKey; the adapter reports it
    // as the failed condition it is, not as a missing bucket.
    let missing = s3
        .put(
            BUCKET,
            "amagent/none.json",
            b"5",
            PutCondition::IfMatch("\"0000\"".into()),
        )
        .await;
    assert!(
        matches!(&missing, Err(e) if e.is_precondition_failed()),
        "{missing:?}"
    );
    assert_eq!(s3.get(BUCKET, key).await.unwrap().unwrap().body, b"4");
}

#[tokio::test]
async fn s3_journal_appends_reads_back_and_refuses_a_second_writer_of_a_step() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let (aws, s3) = client(&endpoint).await;
    bucket(&aws).await;
    let journal = S3Journal::new(s3.clone(), BUCKET, PREFIX);
    let steps = [
        record(0, None, "run", Phase::Started),
        record(1, Some("api"), "deploy", Phase::Started),
        record(1, Some("api"), "register", Phase::Started),
        record(90, Some("api"), "gate", Phase::Finished),
        record(90, Some("api"), "deploy", Phase::Finished),
        record(91, None, "run", Phase::Finished),
    ];
    for r in &steps {
        journal.append(r).await.unwrap();
    }
    let keys = s3.list(BUCKET, PREFIX).await.unwrap();
    assert_eq!(
        keys,
        [
            "amagent/journal/staging/staging-20261125T090000Z-abc1234-0f3a2b/_run/run-finished-001.json",
            "amagent/journal/staging/staging-20261125T090000Z-abc1234-0f3a2b/_run/run-started-001.json",
            "amagent/journal/staging/staging-20261125T090000Z-abc1234-0f3a2b/api/deploy-finished-001.json",
            "amagent/journal/staging/staging-20261125T090000Z-abc1234-0f3a2b/api/deploy-started-001.json",
            "amagent/journal/staging/staging-20261125T090000Z-abc1234-0f3a2b/api/gate-finished-001.json",
            "amagent/journal/staging/staging-20261125T090000Z-abc1234-0f3a2b/api/register-started-001.json",
        ]
    );
    // Read back through another client (another agent, or `amagent history`): time order, and
    // append order within one instant (gate before deploy at t=90).
    let (_other, other_s3) = client(&endpoint).await;
    let reader = S3Journal::new(other_s3.clone(), BUCKET, PREFIX);
    assert_eq!(reader.read(Some("staging")).await.unwrap(), steps);
    assert_eq!(reader.read(None).await.unwrap(), steps);
    assert!(reader.read(Some("production")).await.unwrap().is_empty());

    // A second agent recording the same step of the same run: refused, naming the key.
    let mut theirs = record(2, Some("api"), "deploy", Phase::Started);
    theirs.detail = serde_json::json!({ "image": "somebody-else" });
    let err = reader.append(&theirs).await.unwrap_err();
    assert!(matches!(err, JournalError::Conflict { .. }), "{err}");
    assert!(
        err.to_string().contains("s3://aussie-markets-staging-logs/amagent/journal/staging/staging-20261125T090000Z-abc1234-0f3a2b/api/deploy-started-001.json"),
        "{err}"
    );
    assert_eq!(journal.read(None).await.unwrap(), steps);
}

#[tokio::test]
async fn two_agents_one_lease_on_moto() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let (aws, _) = client(&endpoint).await;
    bucket(&aws).await;
    let key = Lease::key_for(PREFIX);

    // Two agents start at the same moment, each with its own client, and race for the lease.
    let agent = |name: &'static str| {
        let endpoint = endpoint.clone();
        let key = key.clone();
        tokio::spawn(async move {
            let (_aws, s3) = client(&endpoint).await;
            let mut lease = Lease::new(s3, BUCKET, key, name, TTL);
            let state = lease.try_acquire(at(0)).await.unwrap();
            (lease, state)
        })
    };
    let (a, b) = tokio::join!(agent("agent-a"), agent("agent-b"));
    let (mut a, state_a) = a.unwrap();
    let (mut b, state_b) = b.unwrap();
    let held: Vec<&LeaseState> = [&state_a, &state_b]
        .into_iter()
        .filter(|s| matches!(s, LeaseState::Held { .. }))
        .collect();
    assert_eq!(
        held.len(),
        1,
        "exactly one agent holds the lease (a: {state_a:?}, b: {state_b:?}); two means moto let \
         both If-None-Match: * PUTs through"
    );
    let (holder, standby) = if a.is_held() {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    let holder_name = holder.holder().to_string();
    assert!(
        [&state_a, &state_b].contains(&&LeaseState::HeldByOther {
            holder: holder_name.clone(),
            expires_at: at(30)
        }),
        "the standby is told who holds it and until when"
    );

    // The holder renews; the standby keeps being refused past the first expiry.
    assert_eq!(holder.renew(at(10)).await.unwrap(), at(40));
    assert!(matches!(
        standby.try_acquire(at(35)).await.unwrap(),
        LeaseState::HeldByOther { expires_at, .. } if expires_at == at(40)
    ));

    // The holder stops renewing; once the TTL has passed the standby takes over.
    assert!(matches!(
        standby.try_acquire(at(39)).await.unwrap(),
        LeaseState::HeldByOther { .. }
    ));
    assert_eq!(
        standby.try_acquire(at(41)).await.unwrap(),
        LeaseState::Held { expires_at: at(71) }
    );
    // The old holder finds out on its next renew.
    let err = holder.renew(at(42)).await.unwrap_err();
    assert!(
        matches!(&err, LeaseError::Lost { holder: Some(h), .. } if h == standby.holder()),
        "{err}"
    );
}

#[tokio::test]
async fn two_standbys_racing_for_an_expired_lease_on_moto_exactly_one_wins() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let (aws, s3) = client(&endpoint).await;
    bucket(&aws).await;
    let key = Lease::key_for(PREFIX);
    let mut old = Lease::new(s3, BUCKET, key.clone(), "agent-old", TTL);
    assert!(matches!(
        old.try_acquire(at(0)).await.unwrap(),
        LeaseState::Held { .. }
    ));
    let standby = |name: &'static str| {
        let endpoint = endpoint.clone();
        let key = key.clone();
        tokio::spawn(async move {
            let (_aws, s3) = client(&endpoint).await;
            let mut lease = Lease::new(s3, BUCKET, key, name, TTL);
            let state = lease.try_acquire(at(31)).await;
            (lease.is_held(), state)
        })
    };
    let (b, c) = tokio::join!(standby("agent-b"), standby("agent-c"));
    let (b_held, b_state) = b.unwrap();
    let (c_held, c_state) = c.unwrap();
    assert_eq!(
        b_held as u8 + c_held as u8,
        1,
        "exactly one standby takes the expired lease (b: {b_state:?}, c: {c_state:?})"
    );
    assert!(matches!(
        old.renew(at(32)).await.unwrap_err(),
        LeaseError::Lost { .. }
    ));
}

#[tokio::test]
async fn a_missing_bucket_is_a_store_error_not_a_conflict() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let (_aws, s3) = client(&endpoint).await;
    let journal = S3Journal::new(s3.clone(), "no-such-bucket", PREFIX);
    let err = journal
        .append(&record(0, None, "run", Phase::Started))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            JournalError::Store {
                source: CloudError::NotFound { .. },
                ..
            }
        ),
        "{err}"
    );
    let mut lease = Lease::new(s3, "no-such-bucket", "lease.json", "agent-a", TTL);
    assert!(matches!(
        lease.try_acquire(at(0)).await.unwrap_err(),
        LeaseError::Store { .. }
    ));
}
