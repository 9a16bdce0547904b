//! `amagent status [--env E]`: per service, what runs now, where it came from, since when,
//! the last outcome, and whether it is pinned after a rollback.

use super::sim_cmd::{Session, load_environment, open_journal, runtime, scenario};
use super::{Exit, OutputFormat, print_error, print_json};
use crate::cloud::retry::RetryPolicy;
use crate::config::Environment;
use crate::state::journal::{self, Journal, JournalError, Location};
use crate::status::{ServiceStatus, status};
use std::path::Path;

/// The journal for a command that does not otherwise talk to AWS: a directory as is, an
/// `s3://` one through the standard credential chain in `region` (else the spec's).
pub async fn journal_without_sim(
    spec: &str,
    env: &Environment,
    region: Option<&str>,
    simulated: bool,
) -> Result<Box<dyn Journal>, JournalError> {
    let location = Location::parse(spec)?;
    journal::realm::claim(&location, simulated)?;
    match location {
        Location::Dir(dir) => Ok(Box::new(journal::LocalJournal::new(dir))),
        Location::S3 { .. } => {
            let session = Session::open(env, None, region).await;
            journal::open(spec, &session.cloud.s3)
        }
    }
}

pub struct StatusArgs<'a> {
    pub dir: &'a Path,
    /// None: every environment.
    pub env: Option<&'a str>,
    pub sim: Option<&'a str>,
    pub region: Option<&'a str>,
    pub journal: &'a str,
}

pub fn run(args: StatusArgs<'_>, output: OutputFormat) -> Exit {
    let names: Vec<String> = match args.env {
        Some(e) => vec![e.to_string()],
        None => match crate::config::load_dir(args.dir) {
            Ok(model) => model.environments.keys().cloned().collect(),
            // load_environment below prints the problem.
            Err(_) => vec![String::new()],
        },
    };
    if names.is_empty() {
        print_error(
            output,
            "usage",
            &format!(
                "no environments/*.yaml under {}: point --repo at the environments repo checkout",
                args.dir.display()
            ),
        );
        return Exit::Usage;
    }
    let faults = match scenario(args.sim, output) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let mut all: Vec<serde_json::Value> = Vec::new();
    let mut code = Exit::Ok;
    for name in names {
        let (_, env) = match load_environment(args.dir, &name, output) {
            Ok(x) => x,
            Err(code) => return code,
        };
        let result = runtime(faults.is_some()).block_on(async {
            let session = Session::open(&env, faults.clone(), args.region).await;
            let journal = open_journal(args.journal, &session).map_err(|e| {
                print_error(output, "usage", &e.to_string());
                Exit::Usage
            })?;
            let records = journal.read(Some(&env.name)).await.map_err(|e| {
                print_error(output, "io", &e.to_string());
                Exit::Io
            })?;
            status(&session.cloud, RetryPolicy::default(), &env, &records)
                .await
                .map_err(|e| {
                    print_error(output, "refused", &e.to_string());
                    Exit::Refused
                })
        });
        let services = match result {
            Ok(s) => s,
            Err(e) => {
                code = e;
                continue;
            }
        };
        match output {
            OutputFormat::Json => all.push(serde_json::json!({
                "env": env.name,
                "services": services,
            })),
            OutputFormat::Text => print_table(&env.name, &services),
        }
    }
    if output == OutputFormat::Json {
        print_json(&serde_json::json!({ "environments": all }));
    }
    code
}

/// The table: one row per service, columns aligned; pins explained below it.
pub fn table(env: &str, services: &[ServiceStatus]) -> String {
    let header = [
        "SERVICE", "REVISION", "DIGEST", "TAGS", "COMMIT", "SINCE", "LAST", "PINNED",
    ];
    let rows: Vec<[String; 8]> = services
        .iter()
        .map(|s| {
            [
                s.service.clone(),
                s.revision.clone().unwrap_or_else(|| "-".into()),
                s.digest
                    .as_deref()
                    .map(|d| d.chars().take(19).collect())
                    .unwrap_or_else(|| "-".into()),
                if s.tags.is_empty() {
                    "-".into()
                } else {
                    s.tags.join(",")
                },
                s.commit
                    .as_deref()
                    .map(|c| c.chars().take(7).collect())
                    .unwrap_or_else(|| "-".into()),
                s.since
                    .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_else(|| if s.verified { "?" } else { "not verified" }.into()),
                s.last
                    .as_ref()
                    .map(|l| {
                        format!(
                            "{} {}{}",
                            l.kind,
                            l.outcome,
                            if l.rolled_back { " (rolled back)" } else { "" }
                        )
                    })
                    .unwrap_or_else(|| "-".into()),
                s.pin
                    .as_ref()
                    .map(|p| format!("yes, by {}", p.by))
                    .unwrap_or_else(|| "no".into()),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.trim_end().to_string()
    };
    let mut out = format!("{env}\n");
    out.push_str(&line(header.to_vec()));
    out.push('\n');
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    for s in services {
        if let Some(p) = &s.pin {
            out.push_str(&format!("  {}: {}\n", s.service, p.message()));
        }
        if let Some(e) = &s.error {
            out.push_str(&format!("  {}: {e}\n", s.service));
        }
    }
    out
}

fn print_table(env: &str, services: &[ServiceStatus]) {
    crate::out!("{}", table(env, services));
}
