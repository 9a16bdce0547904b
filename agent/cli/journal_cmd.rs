//! `amagent journal check` / `amagent journal repair`: find the lines of a local journal that
//! cannot be read back (they stop every command), and move them aside.

use super::{Exit, OutputFormat, print_error, print_json};
use crate::state::journal::Location;
use crate::state::journal::check::{self, FileCheck, Repaired};
use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct JournalArgs {
    #[command(subcommand)]
    action: Action,
    /// The journal directory.
    #[arg(
        long,
        env = "AMAGENT_JOURNAL",
        default_value = ".amagent/journal",
        global = true
    )]
    journal: String,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// List every line that cannot be read back. Exit codes: 0 every command can read it,
    /// 4 some line stops them (listed with file:line and why).
    Check,
    /// Move every line that cannot be read back into `<file>.rejected` (appended) and keep
    /// the rest in order; prints what it moved. Stop the agent first.
    Repair,
}

pub fn run(args: JournalArgs, output: OutputFormat) -> Exit {
    let dir = match Location::parse(&args.journal) {
        Ok(Location::Dir(dir)) => dir,
        Ok(Location::S3 { .. }) => {
            print_error(
                output,
                "usage",
                "journal check/repair work on a local journal directory; an S3 journal's error names the unreadable object: move it aside with `aws s3 mv`",
            );
            return Exit::Usage;
        }
        Err(e) => {
            print_error(output, "usage", &e.to_string());
            return Exit::Usage;
        }
    };
    let done = match args.action {
        Action::Check => check::check(&dir).map(|files| print_check(&files, output)),
        Action::Repair => check::repair(&dir).map(|files| print_repair(&files, output)),
    };
    done.unwrap_or_else(|e| {
        print_error(output, "io", &e.to_string());
        Exit::Io
    })
}

fn print_check(files: &[FileCheck], output: OutputFormat) -> Exit {
    let clean = files.iter().all(FileCheck::is_clean);
    match output {
        OutputFormat::Json => print_json(&serde_json::json!({ "clean": clean, "files": files })),
        OutputFormat::Text => {
            for f in files {
                let path = f.path.display();
                crate::outln!(
                    "{path}: {} record(s), {} torn line(s) (skipped), {} unreadable",
                    f.records,
                    f.torn.len(),
                    f.unreadable.len()
                );
                for (line, why) in &f.unreadable {
                    crate::outln!("  {path}:{line}: {why}");
                }
            }
            if !clean {
                crate::outln!("`amagent journal repair` moves the unreadable lines aside.");
            }
        }
    }
    if clean { Exit::Ok } else { Exit::Io }
}

fn print_repair(files: &[Repaired], output: OutputFormat) -> Exit {
    match output {
        OutputFormat::Json => print_json(&serde_json::json!({ "repaired": files })),
        OutputFormat::Text if files.is_empty() => crate::outln!("nothing to repair"),
        OutputFormat::Text => {
            for f in files {
                let lines: Vec<String> = f.moved.iter().map(|n| n.to_string()).collect();
                crate::outln!(
                    "{}: moved line(s) {} to {}; kept {} record(s)",
                    f.path.display(),
                    lines.join(", "),
                    f.rejected.display(),
                    f.kept
                );
            }
        }
    }
    Exit::Ok
}
