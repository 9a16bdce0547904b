//! `amagent validate [DIR]`.

use super::{Exit, OutputFormat, print_error, print_json};
use crate::config::{self, units::ENVIRONMENTS_DIR};
use std::path::{Path, PathBuf};

/// Accept the repo root or its environments/ directory.
fn repo_root(dir: &Path) -> PathBuf {
    if !dir.join(ENVIRONMENTS_DIR).is_dir()
        && dir.file_name().is_some_and(|n| n == ENVIRONMENTS_DIR)
    {
        return dir
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
    }
    dir.to_path_buf()
}

pub fn run(dir: &Path, output: OutputFormat) -> Exit {
    let root = repo_root(dir);
    let files = match config::read_dir_sources(&root) {
        Ok(files) => files,
        // Files refused before reading (links, FIFOs, over the size bounds).
        Err(config::LoadDirError::Invalid(diagnostics)) => {
            return report_invalid(&diagnostics, output);
        }
        Err(e) => {
            print_error(output, "io", &e.to_string());
            return Exit::Io;
        }
    };
    if !files.iter().any(|f| f.path.starts_with(ENVIRONMENTS_DIR)) {
        print_error(
            output,
            "no-environments",
            &format!(
                "no environments/*.yaml under {}: point amagent at the environments repo checkout",
                root.display()
            ),
        );
        return Exit::Usage;
    }
    match config::load_sources(&files) {
        Ok(model) => {
            let envs: Vec<&String> = model.environments.keys().collect();
            let pipelines: Vec<&String> = model.pipelines.keys().collect();
            match output {
                OutputFormat::Json => print_json(&serde_json::json!({
                    "valid": true,
                    "environments": envs,
                    "pipelines": pipelines,
                    "diagnostics": [],
                })),
                OutputFormat::Text => {
                    let services: usize =
                        model.environments.values().map(|e| e.services.len()).sum();
                    crate::outln!(
                        "ok: {} environment(s) ({}), {} pipeline(s) ({}), {} service(s)",
                        envs.len(),
                        join(&envs),
                        pipelines.len(),
                        join(&pipelines),
                        services
                    );
                }
            }
            Exit::Ok
        }
        Err(diagnostics) => report_invalid(&diagnostics, output),
    }
}

fn report_invalid(diagnostics: &config::Diagnostics, output: OutputFormat) -> Exit {
    match output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "valid": false,
            "diagnostics": diagnostics,
            "problems": diagnostics.len(),
            "not_shown": diagnostics.not_shown(),
        })),
        OutputFormat::Text => {
            crate::out!("{diagnostics}");
            let files: std::collections::BTreeSet<&str> =
                diagnostics.iter().map(|d| d.file.as_str()).collect();
            crate::errln!(
                "error: {} problem(s) in {} file(s)",
                diagnostics.len(),
                files.len()
            );
        }
    }
    Exit::Failed
}

fn join(names: &[&String]) -> String {
    names
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
