//! The buildspec the agent hands CodeBuild (buildspecOverride): log in to ECR, build the
//! pipeline's Dockerfile with BuildKit for its platform, with the same labels and commit-time
//! timestamps as a local build, push every tag, and export the pushed manifest's digest.
//!
//! Pure: values are shell-quoted here and the YAML is written by serde, so a build argument
//! or label can hold anything without changing what the commands mean.

use serde::Serialize;
use std::collections::BTreeMap;

/// The variable the buildspec exports with the pushed manifest's digest.
pub const DIGEST_VARIABLE: &str = "IMAGE_DIGEST";
/// `<registry host>/<repository>`, set per build (environmentVariablesOverride).
pub const REPOSITORY_VARIABLE: &str = "AMAGENT_REPOSITORY_URI";
/// The tags, space-separated (for people reading the build's environment).
pub const TAGS_VARIABLE: &str = "AMAGENT_IMAGE_TAGS";
pub const COMMIT_VARIABLE: &str = "AMAGENT_COMMIT";

/// What one build builds.
pub struct BuildSpecInput<'a> {
    /// Build context, relative to the source bundle's root.
    pub context: &'a str,
    /// Dockerfile, relative to the context.
    pub dockerfile: &'a str,
    pub args: &'a BTreeMap<String, String>,
    pub platform: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    /// The commit's time: the image's and its files' timestamps.
    pub timestamp: i64,
    pub tags: &'a [String],
}

#[derive(Serialize)]
struct BuildSpec {
    version: f32,
    env: Env,
    phases: BTreeMap<&'static str, Phase>,
}

#[derive(Serialize)]
struct Env {
    shell: &'static str,
    variables: BTreeMap<&'static str, String>,
    #[serde(rename = "exported-variables")]
    exported_variables: Vec<&'static str>,
}

#[derive(Serialize)]
struct Phase {
    commands: Vec<String>,
}

/// `value` as one shell word.
fn quote(value: &str) -> String {
    // shlex refuses only NUL bytes, which no YAML string or Dockerfile argument can carry.
    shlex::try_quote(value)
        .map(|q| q.into_owned())
        .unwrap_or_else(|_| "''".into())
}

/// The buildspec's YAML text.
pub fn render(input: &BuildSpecInput<'_>) -> String {
    let spec = BuildSpec {
        version: 0.2,
        env: Env {
            shell: "bash",
            variables: BTreeMap::from([("SOURCE_DATE_EPOCH", input.timestamp.to_string())]),
            exported_variables: vec![DIGEST_VARIABLE],
        },
        phases: BTreeMap::from([
            (
                "pre_build",
                Phase {
                    commands: pre_build(),
                },
            ),
            (
                "build",
                Phase {
                    commands: build(input),
                },
            ),
        ]),
    };
    serde_yaml::to_string(&spec).expect("a buildspec always serialises")
}

fn pre_build() -> Vec<String> {
    vec![
        "set -euo pipefail".into(),
        format!(
            "aws ecr get-login-password --region \"$AWS_REGION\" | docker login --username AWS --password-stdin \"${{{REPOSITORY_VARIABLE}%%/*}}\""
        ),
        // A BuildKit container builder: rewrite-timestamp (reproducible layers) needs BuildKit
        // 0.13, newer than the one inside CodeBuild's Docker daemon.
        "docker buildx create --name amagent --driver docker-container --use".into(),
    ]
}

fn build(input: &BuildSpecInput<'_>) -> Vec<String> {
    let mut words = vec![
        "docker buildx build".to_string(),
        format!("--platform {}", quote(input.platform)),
        format!(
            "--file {}",
            quote(&format!(
                "{}/{}",
                input.context.trim_end_matches('/'),
                input.dockerfile
            ))
        ),
        "--build-arg SOURCE_DATE_EPOCH".into(),
    ];
    for (k, v) in input.args {
        words.push(format!("--build-arg {}", quote(&format!("{k}={v}"))));
    }
    for (k, v) in input.labels {
        words.push(format!("--label {}", quote(&format!("{k}={v}"))));
    }
    for tag in input.tags {
        words.push(format!("--tag \"${REPOSITORY_VARIABLE}\":{}", quote(tag)));
    }
    words.push("--provenance=false".into());
    words.push("--output type=image,push=true,rewrite-timestamp=true".into());
    words.push("--metadata-file /tmp/amagent-build.json".into());
    words.push(quote(input.context));
    vec![
        "set -euo pipefail".into(),
        words.join(" "),
        // -e: a metadata file without the digest fails the build here, not as "null" later.
        format!(
            "export {DIGEST_VARIABLE}=$(jq -er '.\"containerimage.digest\"' /tmp/amagent-build.json)"
        ),
        format!("echo \"pushed ${REPOSITORY_VARIABLE}@${DIGEST_VARIABLE}\""),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(
        args: &'a BTreeMap<String, String>,
        labels: &'a BTreeMap<String, String>,
        tags: &'a [String],
    ) -> BuildSpecInput<'a> {
        BuildSpecInput {
            context: ".",
            dockerfile: "Dockerfile",
            args,
            platform: "linux/arm64",
            labels,
            timestamp: 1_764_662_400,
            tags,
        }
    }

    fn commands(yaml: &str, phase: &str) -> Vec<String> {
        let v: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
        v["phases"][phase]["commands"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect()
    }

    /// The command line as bash would split it.
    fn words(line: &str) -> Vec<String> {
        shlex::split(line).unwrap()
    }

    #[test]
    fn builds_for_the_platform_and_exports_the_digest() {
        let args = BTreeMap::from([("NODE_VERSION".to_string(), "20".to_string())]);
        let labels = BTreeMap::from([(
            "org.opencontainers.image.revision".to_string(),
            "abc123".to_string(),
        )]);
        let tags = ["abc123".to_string(), "v1.4.0".to_string()];
        let yaml = render(&input(&args, &labels, &tags));
        let v: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(v["version"].as_f64(), Some(0.2));
        assert_eq!(
            v["env"]["exported-variables"][0].as_str(),
            Some("IMAGE_DIGEST")
        );
        assert_eq!(
            v["env"]["variables"]["SOURCE_DATE_EPOCH"].as_str(),
            Some("1764662400")
        );
        let build = commands(&yaml, "build");
        let w = words(&build[1]);
        let after = |flag: &str| -> Vec<&str> {
            w.windows(2)
                .filter(|p| p[0] == flag)
                .map(|p| p[1].as_str())
                .collect()
        };
        assert_eq!(after("--platform"), ["linux/arm64"]);
        assert_eq!(after("--file"), ["./Dockerfile"]);
        assert_eq!(
            after("--build-arg"),
            ["SOURCE_DATE_EPOCH", "NODE_VERSION=20"]
        );
        assert_eq!(
            after("--label"),
            ["org.opencontainers.image.revision=abc123"]
        );
        assert_eq!(
            after("--tag"),
            [
                "$AMAGENT_REPOSITORY_URI:abc123",
                "$AMAGENT_REPOSITORY_URI:v1.4.0"
            ]
        );
        assert_eq!(w.last().map(String::as_str), Some("."));
        assert!(
            build[2].starts_with("export IMAGE_DIGEST=$(jq -er"),
            "{}",
            build[2]
        );
        assert!(commands(&yaml, "pre_build")[1].contains("docker login --username AWS"));
    }

    #[test]
    fn hostile_values_stay_one_word() {
        let args = BTreeMap::from([(
            "MOTD".to_string(),
            "it's $(rm -rf /) `x`; echo \"hi\"\nnext".to_string(),
        )]);
        let labels = BTreeMap::new();
        let tags = ["v1".to_string()];
        let yaml = render(&input(&args, &labels, &tags));
        let w = words(&commands(&yaml, "build")[1]);
        assert!(
            w.contains(&"MOTD=it's $(rm -rf /) `x`; echo \"hi\"\nnext".to_string()),
            "{w:?}"
        );
    }

    #[test]
    fn a_nested_context_reads_its_dockerfile_there() {
        let none = BTreeMap::new();
        let tags = ["t".to_string()];
        let mut i = input(&none, &none, &tags);
        i.context = "services/api/";
        i.dockerfile = "docker/Dockerfile.prod";
        let w = words(&commands(&render(&i), "build")[1]);
        assert!(w.contains(&"services/api/docker/Dockerfile.prod".to_string()));
        assert_eq!(w.last().map(String::as_str), Some("services/api/"));
    }
}
