//! The code stays navigable (issue 14): no source file in `agent/` over 600 lines. Functions
//! over 80 lines are refused by clippy's `too_many_lines` (threshold in clippy.toml, the lint
//! turned on in agent/lib.rs), which `scripts/test` runs with `-D warnings`.

use std::path::Path;

const MAX_LINES: usize = 600;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_source_file_passes_600_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("agent"), &mut files);
    assert!(
        files.len() > 100,
        "found only {} files under agent/",
        files.len()
    );
    let mut long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f).unwrap().lines().count();
            (lines > MAX_LINES)
                .then(|| format!("{}: {lines} lines", f.strip_prefix(root).unwrap().display()))
        })
        .collect();
    long.sort();
    assert!(
        long.is_empty(),
        "split these along their seams (one idea per file) to {MAX_LINES} lines or fewer:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_function_length_lint_is_on() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = std::fs::read_to_string(root.join("agent/lib.rs")).unwrap();
    assert!(
        lib.contains("#![warn(clippy::too_many_lines)]"),
        "agent/lib.rs must turn the lint on"
    );
    let clippy = std::fs::read_to_string(root.join("clippy.toml")).unwrap();
    assert!(clippy.contains("too-many-lines-threshold = 80"), "{clippy}");
}
