//! `amagent completions SHELL` (issue 20, item 4): scripts generated from the command line's
//! definition, which the shells themselves accept.

use std::process::Command;

fn completions(shell: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_amagent"))
        .args(["completions", shell])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{shell}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn bash_loads_the_script_and_completes_commands_and_flags() {
    let script = completions("bash");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("amagent.bash");
    std::fs::write(&file, &script).unwrap();
    // Real bash: load it, then ask its completion function what follows `amagent dep` and
    // `amagent history --jo`.
    let probe = format!(
        r#"source {}
complete -p amagent
COMP_WORDS=(amagent dep); COMP_CWORD=1; _amagent amagent dep amagent; echo "words: ${{COMPREPLY[*]}}"
COMP_WORDS=(amagent history --jo); COMP_CWORD=2; _amagent amagent --jo history; echo "flags: ${{COMPREPLY[*]}}""#,
        file.display()
    );
    let out = Command::new("bash")
        .args(["--norc", "-c", &probe])
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("-F _amagent amagent"), "{stdout}");
    assert!(stdout.contains("words: deploy\n"), "{stdout}");
    assert!(
        stdout.contains("flags: --journal-region --journal\n"),
        "{stdout}"
    );
}

#[test]
fn zsh_fish_and_powershell_scripts_name_every_command() {
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let script = completions(shell);
        for command in ["validate", "plan", "deploy", "rollback", "completions"] {
            assert!(script.contains(command), "{shell}: no {command}");
        }
    }
    let unknown = Command::new(env!("CARGO_BIN_EXE_amagent"))
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
}
