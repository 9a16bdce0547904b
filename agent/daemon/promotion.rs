//! PURE: promotion by tag. Which semver tag an environment with `promotion` should move to, and
//! the exact image digests its source environment ran and verified at the tagged commit (the
//! journal says). No rebuild ever: what production gets is what staging verified.

use super::applied::{STEP, outcome};
use crate::config::Environment;
use crate::plan::{Change, EnvironmentPlan, Trigger};
use crate::repo::SemverTag;
use crate::state::journal::{Phase, Record};
use std::collections::BTreeMap;

/// The tag last promoted to an environment, from its `apply` records (`detail.tag`).
pub fn last_promoted(records: &[Record], env: &str) -> Option<semver::Version> {
    records
        .iter()
        .rev()
        .filter(|r| r.env == env && r.step == STEP && r.phase == Phase::Finished)
        .filter(|r| {
            !matches!(
                r.outcome.as_deref(),
                Some(outcome::INTERRUPTED | outcome::REFUSED | outcome::LEASE_LOST)
            )
        })
        .find_map(|r| {
            let tag = r.detail["version"].as_str()?;
            semver::Version::parse(tag).ok()
        })
}

/// Whether `version` was promoted to `env` at some point (deployed, whatever the outcome). The
/// agent does not promote such a tag again by itself: after a deliberate step back
/// (`amagent promote --allow-downgrade`) the newer tag stays where the person left it.
pub fn promoted_before(records: &[Record], env: &str, version: &semver::Version) -> bool {
    let version = version.to_string();
    records.iter().any(|r| {
        r.env == env
            && r.step == STEP
            && r.phase == Phase::Finished
            && matches!(
                r.outcome.as_deref(),
                Some(outcome::SUCCEEDED | outcome::FAILED)
            )
            && r.detail["version"].as_str() == Some(version.as_str())
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TagDecision {
    /// No promotion tag yet.
    NoTag,
    /// First sight: the newest tag is taken as what runs (nothing deployed).
    Adopt(SemverTag),
    UpToDate,
    Promote(SemverTag),
    /// The newest tag may not be promoted; the reason says why and what to do.
    Refuse(SemverTag, String),
}

/// `tags` are the repository's `<prefix><semver>` tags, oldest version first.
pub fn decide_tag(
    env: &Environment,
    tags: &[SemverTag],
    last: Option<&semver::Version>,
    first_sight: bool,
    allow_downgrade: bool,
) -> TagDecision {
    let Some(newest) = tags.last() else {
        return TagDecision::NoTag;
    };
    if first_sight {
        return TagDecision::Adopt(newest.clone());
    }
    if let Some(req) = env
        .promotion
        .as_ref()
        .and_then(|p| p.version_requirement.as_deref())
        .and_then(|r| semver::VersionReq::parse(r).ok())
        && !req.matches(&newest.version)
    {
        return TagDecision::Refuse(
            newest.clone(),
            format!(
                "{} does not meet the versionRequirement `{req}` of environments/{}.yaml",
                newest.name, env.name
            ),
        );
    }
    match last {
        Some(l) if *l == newest.version => TagDecision::UpToDate,
        Some(l) if newest.version < *l && !allow_downgrade => TagDecision::Refuse(
            newest.clone(),
            format!(
                "{} is older than {l}, the version {} runs: push a greater tag, or run `amagent promote --allow-downgrade` to go back on purpose",
                newest.name, env.name
            ),
        ),
        _ => TagDecision::Promote(newest.clone()),
    }
}

/// The image each of `services` ran, verified, in environment `from` when it had applied
/// `commit`: for a promotion of that commit. Err names what was not verified, and the fix.
pub fn verified_images(
    records: &[Record],
    from: &str,
    commit: &str,
    services: &[String],
) -> Result<BTreeMap<String, String>, String> {
    let short = &commit[..commit.len().min(7)];
    let applied_at = records
        .iter()
        .filter(|r| r.env == from && r.step == STEP && r.phase == Phase::Finished)
        .filter(|r| r.detail["commit"].as_str() == Some(commit))
        .filter(|r| {
            matches!(
                r.outcome.as_deref(),
                Some(outcome::SUCCEEDED | outcome::UNCHANGED)
            )
        })
        .map(|r| r.at)
        .next_back()
        .ok_or_else(|| {
            format!(
                "{from} never verified commit {short}: merge it and let {from} deploy it (or tag a commit {from} verified — `amagent history --env {from}` lists them)"
            )
        })?;
    let mut images = BTreeMap::new();
    for service in services {
        let image = records
            .iter()
            .filter(|r| r.at <= applied_at && r.env == from)
            .filter(|r| r.service.as_deref() == Some(service.as_str()))
            .filter(|r| {
                r.phase == Phase::Finished
                    && matches!(r.step.as_str(), "deploy" | "verified")
                    && r.outcome.as_deref() == Some("succeeded")
            })
            .filter_map(|r| r.detail["image"].as_str())
            .next_back()
            .ok_or_else(|| {
                format!("{from} has no verified deploy of {service} at {short}: nothing to promote for it")
            })?;
        images.insert(service.clone(), image.to_string());
    }
    Ok(images)
}

/// The promotion's plan: every service of `env` deployed with `from`'s verified digest — RDS
/// snapshot first when the policy asks, lifecycle after.
pub fn plan(env: &Environment, from: &str, tag: &str) -> EnvironmentPlan {
    let mut services = Vec::new();
    for spec in &env.services {
        let mut one = crate::plan::manual_deploy(env, spec, tag);
        for s in &mut one.services {
            for st in &mut s.stages {
                if st.stage == crate::config::StageKind::Deploy {
                    st.reason = format!("promotion of {tag}: {from}'s verified digest");
                }
            }
        }
        services.extend(one.services);
    }
    EnvironmentPlan {
        name: env.name.clone(),
        change: Change::Modified,
        trigger: Trigger::Tag {
            pattern: env
                .promotion
                .as_ref()
                .map(|p| p.tag_pattern.clone())
                .unwrap_or_default(),
            from: from.to_string(),
        },
        services,
    }
}

/// `host/repository@sha256:…` → the digest.
pub fn digest_of(image: &str) -> Option<&str> {
    image.split_once('@').map(|(_, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn tag(v: &str) -> SemverTag {
        SemverTag {
            name: format!("v{v}"),
            version: semver::Version::parse(v).unwrap(),
            commit: format!("c{v}"),
        }
    }

    fn rec(
        env: &str,
        service: Option<&str>,
        step: &str,
        outcome: &str,
        minute: u32,
        detail: serde_json::Value,
    ) -> Record {
        Record {
            at: Utc.with_ymd_and_hms(2026, 11, 25, 9, minute, 0).unwrap(),
            run: "r".into(),
            env: env.into(),
            service: service.map(String::from),
            step: step.into(),
            phase: Phase::Finished,
            outcome: Some(outcome.into()),
            detail,
        }
    }

    #[test]
    fn tags_promote_forward_only() {
        let model = crate::config::example();
        let prod = &model.environments["production"];
        let tags = [tag("1.3.0"), tag("1.4.0")];
        let v = |s: &str| semver::Version::parse(s).unwrap();
        assert_eq!(
            decide_tag(prod, &[], None, false, false),
            TagDecision::NoTag
        );
        assert_eq!(
            decide_tag(prod, &tags, None, true, false),
            TagDecision::Adopt(tag("1.4.0"))
        );
        assert_eq!(
            decide_tag(prod, &tags, Some(&v("1.3.0")), false, false),
            TagDecision::Promote(tag("1.4.0"))
        );
        assert_eq!(
            decide_tag(prod, &tags, Some(&v("1.4.0")), false, false),
            TagDecision::UpToDate
        );
        assert!(matches!(
            decide_tag(prod, &tags, Some(&v("1.5.0")), false, false),
            TagDecision::Refuse(_, why) if why.contains("--allow-downgrade")
        ));
        assert_eq!(
            decide_tag(prod, &tags, Some(&v("1.5.0")), false, true),
            TagDecision::Promote(tag("1.4.0"))
        );
    }

    #[test]
    fn a_version_promoted_before_is_known() {
        let records = vec![
            rec(
                "production",
                None,
                STEP,
                "succeeded",
                1,
                serde_json::json!({ "commit": "c1", "version": "1.4.0" }),
            ),
            rec(
                "production",
                None,
                STEP,
                "refused",
                2,
                serde_json::json!({ "commit": "c2", "version": "1.5.0" }),
            ),
        ];
        let v = |s: &str| semver::Version::parse(s).unwrap();
        assert!(promoted_before(&records, "production", &v("1.4.0")));
        assert!(!promoted_before(&records, "production", &v("1.5.0")));
        assert!(!promoted_before(&records, "staging", &v("1.4.0")));
    }

    #[test]
    fn only_what_the_source_verified_at_the_commit_is_promoted() {
        let api = "reg/aussie-markets/api@sha256:aaa";
        let records = vec![
            rec(
                "staging",
                Some("api"),
                "deploy",
                "succeeded",
                1,
                serde_json::json!({ "image": "reg/aussie-markets/api@sha256:old" }),
            ),
            rec(
                "staging",
                Some("api"),
                "deploy",
                "succeeded",
                2,
                serde_json::json!({ "image": api }),
            ),
            rec(
                "staging",
                None,
                STEP,
                "succeeded",
                3,
                serde_json::json!({ "commit": "c1" }),
            ),
            rec(
                "staging",
                Some("api"),
                "deploy",
                "failed",
                4,
                serde_json::json!({ "image": "reg/aussie-markets/api@sha256:bad" }),
            ),
            rec(
                "staging",
                None,
                STEP,
                "failed",
                5,
                serde_json::json!({ "commit": "c2" }),
            ),
        ];
        let services = vec!["api".to_string()];
        assert_eq!(
            verified_images(&records, "staging", "c1", &services).unwrap()["api"],
            api
        );
        let e = verified_images(&records, "staging", "c2", &services).unwrap_err();
        assert!(e.contains("staging never verified commit c2"), "{e}");
        let e = verified_images(&records, "staging", "c1", &["worker".into()]).unwrap_err();
        assert!(e.contains("no verified deploy of worker"), "{e}");
        assert_eq!(digest_of(api), Some("sha256:aaa"));
    }
}
