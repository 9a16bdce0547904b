//! Rules for a service's deploy gates beyond health: the pre-deploy task (`preDeploy`) and the
//! CloudWatch alarms the gate watches (`deploy.alarms`).

use super::shapes::{is_ecs_name, name_rule};
use crate::config::diagnostic::Diagnostic;
use crate::config::model::Service;
use crate::config::position::FieldPath;
use crate::config::units::Located;
use std::collections::HashSet;

/// The longest a pre-deploy task may run: a migration longer than a day is an incident.
const PRE_DEPLOY_MAX_SECONDS: u32 = 86_400;
/// DescribeAlarms takes at most 100 names per call; one call per poll keeps the gate cheap.
const MAX_ALARMS: usize = 100;

pub(super) fn check_gates(at: &Located, path: &FieldPath, s: &Service, out: &mut Vec<Diagnostic>) {
    check_pre_deploy(at, path, s, out);
    check_alarms(at, path, s, out);
}

fn check_pre_deploy(at: &Located, path: &FieldPath, s: &Service, out: &mut Vec<Diagnostic>) {
    let Some(pre) = &s.pre_deploy else {
        return;
    };
    let pp = path.key("preDeploy");
    if pre.command.is_empty() {
        out.push(at.at_value(
            &pp.key("command"),
            "`preDeploy.command` is empty".into(),
            Some("write the command one word per item, e.g. `command: [npm, run, migrate]`".into()),
        ));
    }
    for (i, word) in pre.command.iter().enumerate() {
        if word.is_empty() {
            out.push(at.at_value(
                &pp.key("command").index(i),
                "an empty word in `preDeploy.command`".into(),
                Some("remove it, or quote the word you meant".into()),
            ));
        }
    }
    if pre.timeout_seconds == 0 || pre.timeout_seconds > PRE_DEPLOY_MAX_SECONDS {
        out.push(at.at_value(
            &pp.key("timeoutSeconds"),
            format!(
                "`timeoutSeconds: {}` must be 1 to {PRE_DEPLOY_MAX_SECONDS}",
                pre.timeout_seconds
            ),
            Some("write how long the task may run, e.g. `timeoutSeconds: 600`".into()),
        ));
    }
    if let Some(container) = &pre.container {
        name_rule(
            at,
            pp.key("container"),
            container,
            is_ecs_name(container),
            "container name",
            "use letters, digits, `-` and `_` (at most 255)",
            out,
        );
    }
}

/// CloudWatch's alarm names: at most 255 characters, no control characters.
fn is_alarm_name(name: &str) -> bool {
    name.chars().count() <= 255 && !name.chars().any(char::is_control)
}

fn check_alarms(at: &Located, path: &FieldPath, s: &Service, out: &mut Vec<Diagnostic>) {
    let ap = path.key("deploy").key("alarms");
    if s.deploy.alarms.len() > MAX_ALARMS {
        out.push(at.at_value(
            &ap,
            format!(
                "{} alarms; the gate watches at most {MAX_ALARMS}",
                s.deploy.alarms.len()
            ),
            Some("combine them into a composite alarm and list that".into()),
        ));
    }
    let mut seen = HashSet::new();
    for (i, name) in s.deploy.alarms.iter().enumerate() {
        if name.trim().is_empty() {
            out.push(at.at_value(
                &ap.index(i),
                "an empty name in `deploy.alarms`".into(),
                Some("write the alarm's name as CloudWatch shows it, or remove the item".into()),
            ));
        } else if !is_alarm_name(name) {
            name_rule(
                at,
                ap.index(i),
                name,
                false,
                "CloudWatch alarm name",
                "write the alarm's name as CloudWatch shows it (1 to 255 characters)",
                out,
            );
        } else if !seen.insert(name.as_str()) {
            out.push(at.at_value(
                &ap.index(i),
                format!("alarm `{name}` is listed twice"),
                Some("list each alarm once".into()),
            ));
        }
    }
}
