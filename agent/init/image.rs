//! Which container is the service's own (the one running an image from this account's ECR),
//! what its image reference says, and which tag stands for the running release. Pure.

use super::InitError;
use crate::cloud::types::{ImageDetail, TaskDefinition};

/// `host/repository[:tag][@digest]`, as ECS holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    pub host: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    pub fn parse(image: &str) -> Option<ImageRef> {
        let (host, rest) = image.split_once('/')?;
        // A first part without `.` or `:` is a Docker Hub namespace, not a registry host.
        if !host.contains('.') && !host.contains(':') && host != "localhost" {
            return None;
        }
        let (name, digest) = match rest.split_once('@') {
            Some((n, d)) => (n, Some(d.to_string())),
            None => (rest, None),
        };
        let (repository, tag) = match name.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, Some(t.to_string())),
            _ => (name, None),
        };
        Some(ImageRef {
            host: host.to_string(),
            repository: repository.to_string(),
            tag,
            digest,
        })
    }
}

/// The registry host of `account`'s ECR in `region`.
pub fn ecr_host(account: &str, region: &str) -> String {
    format!("{account}.dkr.ecr.{region}.amazonaws.com")
}

/// The account a task definition ARN names (`arn:aws:ecs:<region>:<account>:task-definition/…`).
pub fn account_of(task_definition_arn: &str) -> Option<String> {
    let account = task_definition_arn.split(':').nth(4)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
        .then(|| account.to_string())
}

/// The container whose image is in `ecr_host` (among `wanted` when given: `--container`).
pub fn choose_container(
    service: &str,
    td: &TaskDefinition,
    ecr_host: &str,
    wanted: &[String],
) -> Result<(String, ImageRef), InitError> {
    let in_ecr: Vec<(String, ImageRef)> = td
        .container_definitions
        .iter()
        .filter_map(|c| {
            ImageRef::parse(&c.image)
                .filter(|r| r.host == ecr_host)
                .map(|r| (c.name.clone(), r))
        })
        .collect();
    let candidates: Vec<(String, ImageRef)> = if wanted.is_empty() {
        in_ecr
    } else {
        in_ecr
            .into_iter()
            .filter(|(name, _)| wanted.contains(name))
            .collect()
    };
    let list = |f: &dyn Fn(&str, &str) -> String| {
        td.container_definitions
            .iter()
            .map(|c| f(&c.name, &c.image))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match candidates.len() {
        1 => Ok(candidates.into_iter().next().expect("one")),
        0 => Err(InitError::NoEcrContainer {
            service: service.to_string(),
            task_definition: td.family_revision(),
            registry: ecr_host.to_string(),
            containers: list(&|n, i| format!("{n} ({i})")),
        }),
        _ => Err(InitError::SeveralEcrContainers {
            service: service.to_string(),
            task_definition: td.family_revision(),
            candidates: candidates
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// The tag to write as `source.ref`: of the running image's tags (from ECR, else the
/// reference's own), a version (`v1.3.0`, `1.3.0`) first, then a commit SHA, then any other —
/// never `latest`, which moves. None when there is none.
pub fn release_tag(image: &ImageRef, images: &[ImageDetail]) -> Option<String> {
    let found = images.iter().find(|i| match (&image.digest, &image.tag) {
        (Some(d), _) => i.digest == *d,
        (None, Some(t)) => i.tags.contains(t),
        (None, None) => false,
    });
    let mut tags: Vec<&String> = found.map(|i| i.tags.iter().collect()).unwrap_or_default();
    if let Some(t) = &image.tag {
        tags.push(t);
    }
    let rank = |t: &str| {
        let version = t.strip_prefix('v').unwrap_or(t);
        if semver::Version::parse(version).is_ok() {
            0
        } else if crate::config::model::is_full_sha(t) {
            1
        } else {
            2
        }
    };
    tags.into_iter()
        .filter(|t| *t != "latest")
        .min_by_key(|t| (rank(t), std::cmp::Reverse((*t).clone())))
        .cloned()
}

/// The digest the service runs: the reference's own, else ECR's for its tag.
pub fn running_digest(image: &ImageRef, images: &[ImageDetail]) -> Option<String> {
    image.digest.clone().or_else(|| {
        let tag = image.tag.as_ref()?;
        images
            .iter()
            .find(|i| i.tags.contains(tag))
            .map(|i| i.digest.clone())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn image_references() {
        let r = ImageRef::parse(
            "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com/aussie-markets/api:v1.3.0",
        )
        .unwrap();
        assert_eq!(r.repository, "aussie-markets/api");
        assert_eq!(r.tag.as_deref(), Some("v1.3.0"));
        let r = ImageRef::parse("123456789012.dkr.ecr.ap-southeast-2.amazonaws.com/api@sha256:ab")
            .unwrap();
        assert_eq!((r.tag, r.digest.as_deref()), (None, Some("sha256:ab")));
        let r = ImageRef::parse("localhost:5000/x/y:1@sha256:cd").unwrap();
        assert_eq!(r.host, "localhost:5000");
        assert_eq!(r.repository, "x/y");
        assert_eq!(r.tag.as_deref(), Some("1"));
        // Docker Hub images have no registry host.
        assert_eq!(ImageRef::parse("datadog/agent:latest"), None);
        assert_eq!(ImageRef::parse("nginx"), None);
    }

    fn detail(digest: &str, tags: &[&str]) -> ImageDetail {
        ImageDetail {
            digest: digest.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            pushed_at: Utc::now(),
            size_bytes: 1,
        }
    }

    #[test]
    fn the_release_tag_prefers_versions_then_shas_never_latest() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let images = [
            detail("sha256:a", &["latest", sha, "v1.3.0", "build-7"]),
            detail("sha256:b", &["v1.2.0"]),
        ];
        let by_digest = |d: &str| ImageRef {
            host: "h".into(),
            repository: "r".into(),
            tag: None,
            digest: Some(d.into()),
        };
        assert_eq!(
            release_tag(&by_digest("sha256:a"), &images).as_deref(),
            Some("v1.3.0")
        );
        let latest = ImageRef {
            tag: Some("latest".into()),
            digest: None,
            ..by_digest("")
        };
        assert_eq!(release_tag(&latest, &images).as_deref(), Some("v1.3.0"));
        assert_eq!(
            running_digest(&latest, &images).as_deref(),
            Some("sha256:a")
        );
        let only_sha = [detail("sha256:c", &["latest", sha])];
        assert_eq!(
            release_tag(&by_digest("sha256:c"), &only_sha).as_deref(),
            Some(sha)
        );
        assert_eq!(release_tag(&by_digest("sha256:z"), &images), None);
    }

    #[test]
    fn accounts_from_arns() {
        assert_eq!(
            account_of("arn:aws:ecs:ap-southeast-2:123456789012:task-definition/api:42").as_deref(),
            Some("123456789012")
        );
        assert_eq!(account_of("api:42"), None);
    }
}
