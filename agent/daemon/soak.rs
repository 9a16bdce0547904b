//! Soak time before promotion: a tag promotes only when the source environment has run the
//! exact digests it carries for `promotion.soakMinutes` since it verified them, and none of
//! them went bad there since (failed the gate or was rolled back from with a reason). Pure.

use crate::state::journal::bad::{bad_digests, digest_of};
use crate::state::journal::{Phase, Record};
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;

/// When the promotion of `images` (service → image, as `from` verified them) may go ahead:
/// None when it may now; Err when a digest went bad in `from` since.
pub fn soaking_until(
    records: &[Record],
    from: &str,
    images: &BTreeMap<String, String>,
    soak: Duration,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, String> {
    let mut until: Option<DateTime<Utc>> = None;
    for (service, image) in images {
        let Some(digest) = digest_of(image) else {
            continue;
        };
        if let Some(bad) = bad_digests(records, from, service)
            .into_iter()
            .find(|b| b.digest == digest)
        {
            return Err(format!(
                "{from}'s {service} ran {digest} and it went bad there ({}, run {}): release a new image",
                bad.reason, bad.run
            ));
        }
        let Some(verified) = first_verified(records, from, service, digest) else {
            continue;
        };
        let ready = verified + soak;
        if ready > now && until.is_none_or(|u| ready > u) {
            until = Some(ready);
        }
    }
    Ok(until)
}

/// When `from` first verified `digest` for `service` in its current stretch of running it:
/// the earliest verification after the last deploy of another image.
fn first_verified(
    records: &[Record],
    from: &str,
    service: &str,
    digest: &str,
) -> Option<DateTime<Utc>> {
    let deploys = records.iter().filter(|r| {
        r.env == from
            && r.service.as_deref() == Some(service)
            && r.step == "deploy"
            && r.phase == Phase::Finished
            && r.outcome.as_deref() == Some("succeeded")
    });
    let mut since = None;
    for r in deploys {
        let same = r.detail["image"].as_str().and_then(digest_of) == Some(digest);
        match (same, since) {
            (true, None) => since = Some(r.at),
            (false, _) => since = None,
            _ => {}
        }
    }
    since
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 9, minute, 0).unwrap()
    }

    fn deploy(minute: u32, digest: &str) -> Record {
        Record {
            at: at(minute),
            run: format!("r{minute}"),
            env: "staging".into(),
            service: Some("api".into()),
            step: "deploy".into(),
            phase: Phase::Finished,
            outcome: Some("succeeded".into()),
            detail: serde_json::json!({ "image": format!("repo@{digest}"), "task_definition": format!("api:{minute}") }),
        }
    }

    fn images(digest: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("api".to_string(), format!("repo@{digest}"))])
    }

    #[test]
    fn promotes_only_after_the_soak_since_the_first_verification() {
        let records = vec![deploy(0, "sha256:a"), deploy(10, "sha256:a")];
        let soak = Duration::minutes(30);
        let wait = soaking_until(&records, "staging", &images("sha256:a"), soak, at(20));
        assert_eq!(
            wait,
            Ok(Some(at(30))),
            "counted from minute 0, not the re-verification"
        );
        assert_eq!(
            soaking_until(&records, "staging", &images("sha256:a"), soak, at(30)),
            Ok(None)
        );
    }

    #[test]
    fn running_another_image_in_between_restarts_the_clock() {
        let records = vec![
            deploy(0, "sha256:a"),
            deploy(5, "sha256:b"),
            deploy(10, "sha256:a"),
        ];
        let wait = soaking_until(
            &records,
            "staging",
            &images("sha256:a"),
            Duration::minutes(30),
            at(35),
        );
        assert_eq!(wait, Ok(Some(at(40))));
    }

    #[test]
    fn a_digest_that_went_bad_in_the_source_is_refused() {
        let mut failed = deploy(20, "sha256:a");
        failed.outcome = Some("failed".into());
        failed.detail["failure_kind"] = "rollout".into();
        failed.detail["new_task_definition"] = "api:20".into();
        failed.detail["reason"] = "target unhealthy".into();
        let records = vec![deploy(0, "sha256:a"), failed];
        let why = soaking_until(
            &records,
            "staging",
            &images("sha256:a"),
            Duration::minutes(1),
            at(59),
        )
        .unwrap_err();
        assert!(
            why.contains("went bad there (failed the health gate: target unhealthy, run r20)"),
            "{why}"
        );
    }
}
