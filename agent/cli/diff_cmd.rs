//! `amagent diff --env E [--service S] [--exit-code]`: field by field, what Git renders versus
//! what runs. `-` lines are what runs, `+` lines what Git would apply (as `git diff` shows
//! the change). With `--exit-code`: 0 no difference, 1 differences, 2 and above errors.

use super::sim_cmd::{Session, load_environment, runtime, scenario};
use super::{Exit, OutputFormat, print_error, print_json};
use crate::cloud::retry::RetryPolicy;
use crate::config::Service;
use crate::drift::observe::{ServiceDrift, observe};
use crate::{errln, outln};
use std::path::Path;

pub struct DiffArgs<'a> {
    pub dir: &'a Path,
    pub env: &'a str,
    /// Empty: every service of the environment.
    pub services: &'a [String],
    pub sim: Option<&'a str>,
    pub region: Option<&'a str>,
    pub exit_code: bool,
}

pub fn run(args: DiffArgs<'_>, output: OutputFormat) -> Exit {
    let faults = match scenario(args.sim, output) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let (_, env) = match load_environment(args.dir, args.env, output) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let specs: Vec<&Service> = match chosen(&env.services, args.services) {
        Ok(s) => s,
        Err(unknown) => {
            let known: Vec<&str> = env.services.iter().map(|s| s.name.as_str()).collect();
            let message = format!(
                "environment {} has no service `{unknown}` (services: {})",
                env.name,
                known.join(", ")
            );
            print_error(output, "usage", &message);
            return Exit::Usage;
        }
    };
    let drift = runtime(faults.is_some()).block_on(async {
        let session = Session::open(&env, faults.clone(), args.region).await;
        observe(&session.cloud, RetryPolicy::default(), &env, &specs).await
    });
    let drift = match drift {
        Ok(d) => d,
        Err(e) => {
            print_error(output, "refused", &e.to_string());
            return Exit::Refused;
        }
    };
    match output {
        OutputFormat::Json => {
            print_json(&serde_json::json!({ "env": env.name, "services": drift }))
        }
        OutputFormat::Text => print_text(&env.name, &drift),
    }
    exit_code(&drift, args.exit_code)
}

/// The services named (all when none is), or the first unknown name.
fn chosen<'s>(all: &'s [Service], names: &[String]) -> Result<Vec<&'s Service>, String> {
    if names.is_empty() {
        return Ok(all.iter().collect());
    }
    names
        .iter()
        .map(|n| all.iter().find(|s| &s.name == n).ok_or_else(|| n.clone()))
        .collect()
}

/// As `git diff --exit-code`: an error beats a difference; without the flag only errors count.
fn exit_code(drift: &[ServiceDrift], asked: bool) -> Exit {
    if drift.iter().any(|d| d.error.is_some()) {
        Exit::Refused
    } else if asked && drift.iter().any(|d| !d.diffs.is_empty()) {
        Exit::Failed
    } else {
        Exit::Ok
    }
}

fn print_text(env: &str, drift: &[ServiceDrift]) {
    for d in drift {
        if let Some(e) = &d.error {
            errln!("{env}/{}: cannot compare: {e}", d.service);
            continue;
        }
        if d.diffs.is_empty() {
            outln!("{env}/{}: runs what Git says", d.service);
            continue;
        }
        outln!(
            "{}",
            console::style(format!(
                "{env}/{}: {} difference(s) (- running, + git)",
                d.service,
                d.diffs.len()
            ))
            .bold()
        );
        for f in &d.diffs {
            if let Some(running) = &f.running {
                outln!(
                    "{}",
                    console::style(format!("-{}: {running}", f.field)).red()
                );
            }
            if let Some(git) = &f.git {
                outln!("{}", console::style(format!("+{}: {git}", f.field)).green());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::FieldDiff;

    fn drift(diffs: usize, error: bool) -> ServiceDrift {
        ServiceDrift {
            service: "api".into(),
            diffs: (0..diffs)
                .map(|_| FieldDiff {
                    field: "cpu".into(),
                    git: Some("256".into()),
                    running: Some("512".into()),
                })
                .collect(),
            error: error.then(|| "access denied".into()),
        }
    }

    #[test]
    fn exit_codes_follow_git_diff() {
        assert_eq!(exit_code(&[drift(0, false)], true), Exit::Ok);
        assert_eq!(exit_code(&[drift(1, false)], true), Exit::Failed);
        assert_eq!(exit_code(&[drift(1, false)], false), Exit::Ok);
        assert_eq!(
            exit_code(&[drift(1, false), drift(0, true)], true),
            Exit::Refused
        );
    }
}
