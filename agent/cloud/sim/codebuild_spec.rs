//! What a build's buildspec says, as far as the simulator acts on it: the commands of a phase
//! (logged as run), the tags its `--tag` words push, and whether it exports a variable.

/// The commands of one phase of a buildspec (`phases.<phase>.commands`), if it parses.
pub(super) fn commands(buildspec: &str, phase: &str) -> Vec<String> {
    let Ok(spec) = serde_yaml::from_str::<serde_yaml::Value>(buildspec) else {
        return Vec::new();
    };
    let commands = spec
        .get("phases")
        .and_then(|p| p.get(phase.to_lowercase()))
        .and_then(|p| p.get("commands"))
        .and_then(|c| c.as_sequence());
    let strings = commands.into_iter().flatten().filter_map(|c| c.as_str());
    strings.map(String::from).collect()
}

/// The tags docker would push: `--tag "$AMAGENT_REPOSITORY_URI":<tag>` (or `-t`) words. None
/// when the buildspec runs no `buildx` at all (the simulator's own tests' requests).
pub(super) fn tags(buildspec: &str) -> Option<Vec<String>> {
    let words: Vec<String> = ["pre_build", "build", "post_build"]
        .iter()
        .flat_map(|phase| commands(buildspec, phase))
        .flat_map(|c| shlex::split(&c).unwrap_or_default())
        .collect();
    let tags: Vec<String> = words
        .windows(2)
        .filter(|w| w[0] == "--tag" || w[0] == "-t")
        .filter_map(|w| {
            w[1].strip_prefix("$AMAGENT_REPOSITORY_URI:")
                .map(String::from)
        })
        .collect();
    (!tags.is_empty() || words.iter().any(|w| w == "buildx")).then_some(tags)
}

/// Whether the build exports `name`: declared in `env.exported-variables` and assigned by a
/// command. A buildspec that does not parse exports it (the simulator's own tests).
pub(super) fn exports(buildspec: &str, name: &str) -> bool {
    let Ok(parsed) = serde_yaml::from_str::<serde_yaml::Value>(buildspec) else {
        return true;
    };
    let declared = parsed
        .get("env")
        .and_then(|e| e.get("exported-variables"))
        .and_then(|v| v.as_sequence())
        .is_some_and(|v| v.iter().any(|x| x.as_str() == Some(name)));
    let assigned = super::codebuild_world::PHASES
        .iter()
        .flat_map(|phase| commands(buildspec, phase))
        .any(|c| c.contains(&format!("{name}=")));
    declared && assigned
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "version: 0.2\nenv:\n  exported-variables: [IMAGE_DIGEST]\nphases:\n  build:\n    commands:\n      - docker buildx build --tag \"$AMAGENT_REPOSITORY_URI\":abc -t \"$AMAGENT_REPOSITORY_URI\":v1 .\n      - export IMAGE_DIGEST=x\n";

    #[test]
    fn tags_and_exports_come_from_the_buildspec() {
        assert_eq!(tags(SPEC), Some(vec!["abc".to_string(), "v1".to_string()]));
        assert!(exports(SPEC, "IMAGE_DIGEST"));
        let undeclared = SPEC.replace("exported-variables: [IMAGE_DIGEST]", "shell: bash");
        assert!(!exports(&undeclared, "IMAGE_DIGEST"));
        let unassigned = SPEC.replace("export IMAGE_DIGEST=x", "echo done");
        assert!(!exports(&unassigned, "IMAGE_DIGEST"));
        let untagged = SPEC.replace("--tag", "--label").replace("-t ", "--label ");
        assert_eq!(
            tags(&untagged),
            Some(vec![]),
            "buildx without tags pushes none"
        );
        assert_eq!(tags("not: [a buildspec"), None);
    }
}
