//! The command line's promises to a reader of `--help` (issue 20, item 3).

use super::Cli;
use clap::{CommandFactory, Parser};

/// Every visible argument of every command, as (command path, argument).
fn visible_args() -> Vec<(String, clap::Arg)> {
    fn walk(cmd: &clap::Command, path: &str, out: &mut Vec<(String, clap::Arg)>) {
        for arg in cmd.get_arguments() {
            let builtin = matches!(arg.get_id().as_str(), "help" | "version");
            if !arg.is_hide_set() && !builtin {
                out.push((path.to_string(), arg.clone()));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }
    let mut out = Vec::new();
    walk(&Cli::command(), "amagent", &mut out);
    out
}

fn long(arg: &clap::Arg) -> String {
    arg.get_long()
        .map(|l| format!("--{l}"))
        .unwrap_or_else(|| arg.get_id().to_string())
}

#[test]
fn every_flag_has_help_text() {
    let missing: Vec<String> = visible_args()
        .iter()
        .filter(|(_, arg)| {
            arg.get_help()
                .is_none_or(|h| h.to_string().trim().is_empty())
        })
        .map(|(cmd, arg)| format!("{cmd} {}", long(arg)))
        .collect();
    assert!(missing.is_empty(), "flags without help: {missing:?}");
}

#[test]
fn the_environments_repo_is_repo_everywhere_and_the_old_spellings_still_parse() {
    let visible = visible_args();
    let dirs: Vec<String> = visible
        .iter()
        .filter(|(_, arg)| {
            arg.get_long() == Some("dir") || (arg.is_positional() && arg.get_id() == "dir")
        })
        .map(|(cmd, arg)| format!("{cmd} {}", long(arg)))
        .collect();
    assert!(dirs.is_empty(), "other names for the repo: {dirs:?}");
    for cmd in [
        "validate",
        "plan",
        "deploy",
        "build",
        "lifecycle",
        "doctor",
        "run",
        "promote",
        "rollback",
        "resume",
        "status",
        "history",
        "diff",
    ] {
        assert!(
            visible
                .iter()
                .any(|(c, a)| *c == format!("amagent {cmd}") && a.get_long() == Some("repo")),
            "{cmd} has no --repo"
        );
    }
    for old in [
        &["amagent", "validate", "path/to/envrepo"][..],
        &["amagent", "status", "--dir", "x"],
        &["amagent", "history", "--region", "eu-west-1"],
    ] {
        Cli::try_parse_from(old).unwrap_or_else(|e| panic!("{old:?}: {e}"));
    }
}

#[test]
fn region_means_the_specs_region_and_the_journal_bucket_has_its_own_flag() {
    for (cmd, arg) in visible_args() {
        if arg.get_long() == Some("region") {
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            assert!(help.contains("spec"), "{cmd} --region: {help}");
        }
    }
    for cmd in ["history", "resume"] {
        let parsed = Cli::try_parse_from(["amagent", cmd, "--env", "e", "--journal-region", "r"]);
        parsed.unwrap_or_else(|e| panic!("{cmd}: {e}"));
    }
}
