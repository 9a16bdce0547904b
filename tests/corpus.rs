//! The malformed-configuration corpus: each `tests/corpus/NN-name.yaml` replaces one file of the
//! worked example (named by its `# target:` line) and must produce exactly the diagnostics in
//! `NN-name.expected` — through the library and through `amagent validate` (exit code 1).
//!
//! To record new expectations after an intended message change: `AMAGENT_BLESS=1 cargo test
//! --test corpus`, then read the diff.

use amagent::config::{SourceFile, load_sources, read_dir_sources};
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Case {
    name: String,
    target: String,
    text: String,
    expected_path: PathBuf,
}

fn cases() -> Vec<Case> {
    let dir = repo_root().join("tests/corpus");
    let mut cases: Vec<Case> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let target = text
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("# target: "))
                .unwrap_or_else(|| panic!("{} lacks a `# target:` first line", path.display()))
                .to_string();
            Case {
                name: path.file_stem().unwrap().to_string_lossy().into_owned(),
                target,
                text,
                expected_path: path.with_extension("expected"),
            }
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

/// The worked example with the case's file swapped in.
fn sources(case: &Case) -> Vec<SourceFile> {
    let mut files = read_dir_sources(&repo_root()).unwrap();
    files.retain(|f| f.path != case.target);
    files.push(SourceFile {
        path: case.target.clone(),
        text: case.text.clone(),
    });
    files
}

#[test]
fn corpus_has_at_least_30_cases() {
    assert!(cases().len() >= 30, "only {} cases", cases().len());
}

#[test]
fn worked_example_is_valid() {
    let files = read_dir_sources(&repo_root()).unwrap();
    let model = load_sources(&files).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(
        model.environments.keys().collect::<Vec<_>>(),
        ["production", "staging"]
    );
}

#[test]
fn every_case_gives_exactly_its_expected_diagnostics() {
    let bless = std::env::var_os("AMAGENT_BLESS").is_some();
    let mut failures = Vec::new();
    for case in cases() {
        let diagnostics = match load_sources(&sources(&case)) {
            Ok(_) => {
                failures.push(format!("{}: loaded without any error", case.name));
                continue;
            }
            Err(d) => d,
        };
        let actual = diagnostics.to_string();
        for d in diagnostics.iter() {
            assert!(d.line >= 1 && d.column >= 1, "{}: {d}", case.name);
            assert!(d.hint.is_some(), "{}: no hint in {d}", case.name);
        }
        if bless {
            std::fs::write(&case.expected_path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&case.expected_path).unwrap_or_default();
        if actual != expected {
            failures.push(format!(
                "{}:\n--- expected\n{expected}--- actual\n{actual}",
                case.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn write_case_dir(case: &Case, dir: &Path) {
    for f in sources(case) {
        let path = dir.join(&f.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, f.text).unwrap();
    }
}

#[test]
fn validate_command_prints_file_line_col_and_exits_1_for_every_case() {
    for case in cases() {
        let dir = tempfile::tempdir().unwrap();
        write_case_dir(&case, dir.path());
        let out = Command::new(env!("CARGO_BIN_EXE_amagent"))
            .arg("validate")
            .arg(dir.path().join("environments"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", case.name);
        let stdout = String::from_utf8(out.stdout).unwrap();
        let expected = std::fs::read_to_string(&case.expected_path).unwrap_or_default();
        assert_eq!(stdout, expected, "{}", case.name);
        let first = stdout.lines().next().unwrap_or_default();
        let mut parts = first.splitn(4, ':');
        let (file, line, col) = (parts.next(), parts.next(), parts.next());
        assert!(
            file.is_some_and(|f| f.ends_with(".yaml") || f.ends_with(".yml")),
            "{}: {first}",
            case.name
        );
        assert!(
            line.is_some_and(|l| l.parse::<u32>().is_ok()),
            "{}: {first}",
            case.name
        );
        assert!(
            col.is_some_and(|c| c.parse::<u32>().is_ok()),
            "{}: {first}",
            case.name
        );
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains("problem(s)"), "{}: {stderr}", case.name);
    }
}

#[test]
fn credentials_in_the_corpus_never_reach_the_output() {
    for case in cases() {
        let output = match load_sources(&sources(&case)) {
            Ok(_) => continue,
            Err(d) => format!("{d}{}", serde_json::to_string(&d).unwrap()),
        };
        for secret in ["s3cr3t-pw", "ghp_tok3n"] {
            assert!(!output.contains(secret), "{} leaked {secret}", case.name);
        }
    }
}
