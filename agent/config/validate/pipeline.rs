//! Rules for a pipeline file and the header fields every file shares (apiVersion, kind, name).

use super::root;
use crate::config::diagnostic::Diagnostic;
use crate::config::model::{API_VERSION, StageKind};
use crate::config::printable::short_name;
use crate::config::suggest::{did_you_mean, one_of};
use crate::config::units::Located;

pub(super) fn check_header_common(
    at: &Located,
    api_version: &str,
    kind: &str,
    name: &str,
    expected_kind: &str,
    dir: &str,
    out: &mut Vec<Diagnostic>,
) {
    if api_version != API_VERSION {
        out.push(at.at_value(
            &root().key("apiVersion"),
            format!("unsupported apiVersion `{api_version}`"),
            Some(format!("write `apiVersion: {API_VERSION}`")),
        ));
    }
    if kind != expected_kind {
        out.push(at.at_value(
            &root().key("kind"),
            format!("`kind` is `{kind}` but this file is in {dir}/"),
            Some(format!("write `kind: {expected_kind}`, or move the file")),
        ));
    }
    let stem = at.stem();
    if name != stem {
        let file_name = at.file.rsplit('/').next().unwrap_or(&at.file);
        out.push(at.at_value(
            &root().key("name"),
            format!(
                "name `{}` does not match the file name `{}`",
                short_name(name),
                short_name(file_name)
            ),
            Some(format!(
                "write `name: {stem}`, or rename the file to `{name}.yaml`"
            )),
        ));
    }
}

pub(super) fn check_pipeline(
    at: &Located,
    p: &crate::config::model::Pipeline,
    out: &mut Vec<Diagnostic>,
) {
    check_header_common(
        at,
        &p.api_version,
        &p.kind,
        &p.name,
        "Pipeline",
        "pipelines",
        out,
    );
    const PLATFORMS: [&str; 2] = ["linux/amd64", "linux/arm64"];
    if !PLATFORMS.contains(&p.build.platform.as_str()) {
        let hint = match did_you_mean(&p.build.platform, &PLATFORMS) {
            Some(s) => format!("did you mean `{s}`? Fargate runs {}", one_of(&PLATFORMS)),
            None => format!("Fargate runs {}", one_of(&PLATFORMS)),
        };
        out.push(at.at_value(
            &root().key("build").key("platform"),
            format!("unsupported build platform `{}`", p.build.platform),
            Some(hint),
        ));
    }
    if p.build.dockerfile.trim().is_empty() {
        out.push(at.at_value(
            &root().key("build").key("dockerfile"),
            "`build.dockerfile` is empty".into(),
            Some("write the Dockerfile's path relative to the context, e.g. `dockerfile: Dockerfile`".into()),
        ));
    }
    if p.build.context.starts_with('/') || p.build.context.split('/').any(|c| c == "..") {
        out.push(at.at_value(
            &root().key("build").key("context"),
            "`build.context` must stay inside the source repository".into(),
            Some("write a path relative to the repository root, e.g. `context: .`".into()),
        ));
    }
    check_builder(at, &p.build, out);
    if p.stages.is_empty() {
        out.push(at.at_value(
            &root().key("stages"),
            "`stages` is empty: this pipeline would do nothing".into(),
            Some(format!(
                "list the stages to run, from {}",
                one_of(&StageKind::NAMES)
            )),
        ));
    }
    let mut seen = Vec::new();
    for (i, stage) in p.stages.iter().enumerate() {
        if seen.contains(stage) {
            out.push(at.at_value(
                &root().key("stages").index(i),
                format!("stage `{stage}` is listed twice"),
                Some("list each stage once".into()),
            ));
        }
        seen.push(*stage);
    }
}

/// `builder: codebuild` needs `codebuild:` (and settings no build would read are a mistake).
fn check_builder(at: &Located, build: &crate::config::model::Build, out: &mut Vec<Diagnostic>) {
    use crate::config::codebuild::BuilderChoice;
    match (build.builder, &build.codebuild) {
        (BuilderChoice::Codebuild, None) => out.push(at.at_value(
            &root().key("build").key("builder"),
            "`builder: codebuild` needs `build.codebuild`".into(),
            Some(
                "add `codebuild:` with `project:` (the CodeBuild project) and `sourceBucket:` (an S3 bucket for source bundles)"
                    .into(),
            ),
        )),
        (BuilderChoice::Local, Some(_)) => out.push(at.at_value(
            &root().key("build").key("codebuild"),
            "`build.codebuild` is set but `builder` is `local`: it would be ignored".into(),
            Some("write `builder: codebuild` to build there, or remove `codebuild:`".into()),
        )),
        (_, Some(cb)) => {
            let named = [
                ("project", &cb.project, "the CodeBuild project's name, e.g. `my-app-builds`"),
                ("sourceBucket", &cb.source_bucket, "the S3 bucket's name, e.g. `my-app-build-sources`"),
            ];
            for (key, value, what) in named {
                if value.trim().is_empty() {
                    out.push(at.at_value(
                        &root().key("build").key("codebuild").key(key),
                        format!("`build.codebuild.{key}` is empty"),
                        Some(format!("write {what}")),
                    ));
                }
            }
            if !(5..=2160).contains(&cb.timeout_minutes) {
                out.push(at.at_value(
                    &root().key("build").key("codebuild").key("timeoutMinutes"),
                    format!("`timeoutMinutes: {}` is outside CodeBuild's 5 to 2160", cb.timeout_minutes),
                    Some("write a number of minutes from 5 to 2160 (default 60)".into()),
                ));
            }
        }
        (BuilderChoice::Local, None) => {}
    }
}
