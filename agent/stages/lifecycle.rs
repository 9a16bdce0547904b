//! The ECR lifecycle stage: keep the last N tagged images (by push time), expire untagged ones
//! older than D days — **never** an image that a service runs now or would roll back to.
//! ECR's own lifecycle policies cannot see task definitions; this can. `evaluate` is pure.

use crate::cloud::types::ImageDetail;
use crate::cloud::{BATCH_DELETE_IMAGES, Cloud, CloudError, retry::RetryPolicy};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    pub keep_last_tagged: u32,
    pub expire_untagged_after_days: u32,
}

impl From<&crate::config::Lifecycle> for Rules {
    fn from(l: &crate::config::Lifecycle) -> Self {
        Rules {
            keep_last_tagged: l.keep_last_tagged,
            expire_untagged_after_days: l.expire_untagged_after_days,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImageVerdict {
    pub digest: String,
    pub tags: Vec<String>,
    pub pushed_at: DateTime<Utc>,
    pub reason: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Evaluation {
    pub expire: Vec<ImageVerdict>,
    pub keep: Vec<ImageVerdict>,
}

/// Decide per image. `protected` maps digest → why it must stay (e.g. "running in
/// aussie-markets-api-task:43").
pub fn evaluate(
    images: &[ImageDetail],
    rules: Rules,
    protected: &BTreeMap<String, String>,
    now: DateTime<Utc>,
) -> Evaluation {
    let mut sorted: Vec<&ImageDetail> = images.iter().collect();
    sorted.sort_by(|a, b| b.pushed_at.cmp(&a.pushed_at).then(a.digest.cmp(&b.digest)));
    let mut evaluation = Evaluation::default();
    let mut tagged_seen = 0u32;
    let max_age = chrono::Duration::days(rules.expire_untagged_after_days.into());
    for image in sorted {
        let verdict = |reason: String| ImageVerdict {
            digest: image.digest.clone(),
            tags: image.tags.clone(),
            pushed_at: image.pushed_at,
            reason,
        };
        let rule_says = if image.tags.is_empty() {
            let age = now - image.pushed_at;
            (age > max_age).then(|| {
                format!(
                    "untagged for more than {} day(s)",
                    rules.expire_untagged_after_days
                )
            })
        } else {
            tagged_seen += 1;
            (tagged_seen > rules.keep_last_tagged).then(|| {
                format!(
                    "older than the last {} tagged images",
                    rules.keep_last_tagged
                )
            })
        };
        match (rule_says, protected.get(&image.digest)) {
            (Some(_), Some(why)) => evaluation.keep.push(verdict(format!("protected: {why}"))),
            (Some(expire), None) => evaluation.expire.push(verdict(expire)),
            (None, _) if image.tags.is_empty() => {
                evaluation.keep.push(verdict("untagged, recent".into()))
            }
            (None, _) => evaluation.keep.push(verdict(format!(
                "among the last {} tagged",
                rules.keep_last_tagged
            ))),
        }
    }
    evaluation
}

/// The standing ECR lifecycle policy equivalent to `rules` (what ECR itself would enforce,
/// without the protection of running images).
pub fn ecr_policy_json(rules: Rules) -> String {
    let policy = serde_json::json!({
        "rules": [
            {
                "rulePriority": 1,
                "description": format!("Expire untagged images older than {} day(s)", rules.expire_untagged_after_days),
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": rules.expire_untagged_after_days
                },
                "action": { "type": "expire" }
            },
            {
                "rulePriority": 2,
                "description": format!("Keep the last {} images", rules.keep_last_tagged),
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": rules.keep_last_tagged
                },
                "action": { "type": "expire" }
            }
        ]
    });
    serde_json::to_string_pretty(&policy).expect("json")
}

/// The digest an image reference pins, resolving `repo:tag` through `images`.
pub fn digest_of(reference: &str, images: &[ImageDetail]) -> Option<String> {
    if let Some((_, digest)) = reference.split_once('@') {
        return Some(digest.to_string());
    }
    let last = reference.rsplit('/').next()?;
    let (_, tag) = last.split_once(':')?;
    images
        .iter()
        .find(|i| i.tags.iter().any(|t| t == tag))
        .map(|i| i.digest.clone())
}

/// Delete `expire` in batches of 100. Returns the digests deleted.
pub async fn apply(
    cloud: &Cloud,
    retry: RetryPolicy,
    repository: &str,
    evaluation: &Evaluation,
) -> Result<Vec<String>, CloudError> {
    let digests: Vec<String> = evaluation.expire.iter().map(|v| v.digest.clone()).collect();
    let mut deleted = Vec::new();
    for chunk in digests.chunks(BATCH_DELETE_IMAGES) {
        let result = retry
            .run("BatchDeleteImage", || {
                cloud.ecr.batch_delete_image(repository, chunk)
            })
            .await?;
        for (digest, why) in &result.failures {
            tracing::warn!(repository, digest, why, "ECR did not delete an image");
        }
        deleted.extend(result.deleted);
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, 12, 0, 0).unwrap()
    }

    fn image(n: u32, tags: &[&str], day: u32) -> ImageDetail {
        ImageDetail {
            digest: format!("sha256:{n:064}"),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            pushed_at: at(day),
            size_bytes: 1,
        }
    }

    const RULES: Rules = Rules {
        keep_last_tagged: 2,
        expire_untagged_after_days: 1,
    };

    #[test]
    fn keeps_last_n_tagged_and_recent_untagged() {
        let images = vec![
            image(1, &["v1"], 1),
            image(2, &["v2"], 2),
            image(3, &["v3"], 3),
            image(4, &[], 20),
            image(5, &[], 24),
        ];
        let e = evaluate(&images, RULES, &BTreeMap::new(), at(25));
        let expired: Vec<&str> = e
            .expire
            .iter()
            .map(|v| v.tags.first().map(String::as_str).unwrap_or("untagged"))
            .collect();
        assert_eq!(expired, ["untagged", "v1"]);
        assert_eq!(e.expire[0].digest, image(4, &[], 20).digest);
        assert_eq!(e.keep.len(), 3);
    }

    #[test]
    fn a_running_image_outside_the_window_is_kept() {
        let images = vec![
            image(1, &["v1"], 1),
            image(2, &["v2"], 2),
            image(3, &["v3"], 3),
        ];
        let mut protected = BTreeMap::new();
        protected.insert(
            image(1, &[], 1).digest,
            "running in aussie-markets-api-task:41".to_string(),
        );
        let e = evaluate(&images, RULES, &protected, at(25));
        assert!(e.expire.is_empty());
        let kept = e.keep.iter().find(|v| v.tags == ["v1"]).unwrap();
        assert_eq!(
            kept.reason,
            "protected: running in aussie-markets-api-task:41"
        );
    }

    #[test]
    fn policy_json_matches_the_customer_rules() {
        let json: serde_json::Value = serde_json::from_str(&ecr_policy_json(Rules {
            keep_last_tagged: 10,
            expire_untagged_after_days: 1,
        }))
        .unwrap();
        let fixture: serde_json::Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/ecr-lifecycle-policy-staging.json"
        ))
        .unwrap();
        assert_eq!(
            json["rules"][0]["selection"],
            fixture["rules"][0]["selection"]
        );
        assert_eq!(
            json["rules"][1]["selection"],
            fixture["rules"][1]["selection"]
        );
        assert_eq!(json["rules"][1]["rulePriority"], 2);
    }

    #[test]
    fn digests_from_references() {
        let images = vec![image(7, &["v7"], 1)];
        assert_eq!(
            digest_of("host/repo@sha256:abc", &images).as_deref(),
            Some("sha256:abc")
        );
        assert_eq!(
            digest_of("host:5000/repo:v7", &images),
            Some(image(7, &[], 1).digest)
        );
        assert_eq!(digest_of("host/repo:nope", &images), None);
    }
}
