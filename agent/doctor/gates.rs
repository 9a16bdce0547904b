//! The gates' resources: every CloudWatch alarm a service's `deploy.alarms` names must exist
//! (a deploy refuses to start otherwise, before UpdateService).

use super::{Check, SpecLocator, bad, lookup, ok};
use crate::cloud::{Cloud, DESCRIBE_ALARMS_BATCH};
use crate::config::Service;
use crate::config::position::FieldPath;

pub(super) async fn checks(
    cloud: &Cloud,
    spec: &SpecLocator,
    sp: &FieldPath,
    s: &Service,
) -> Vec<Check> {
    let names = &s.deploy.alarms;
    let mut found = Vec::new();
    for chunk in names.chunks(DESCRIBE_ALARMS_BATCH) {
        match cloud.alarms.describe_alarms(chunk).await {
            Ok(states) => found.extend(states),
            Err(e) => {
                let at = spec.at(&sp.key("deploy").key("alarms"));
                return vec![lookup::<()>(
                    "CloudWatch alarm",
                    &chunk.join(", "),
                    Err(e),
                    |_| String::new(),
                    at,
                )];
            }
        }
    }
    names
        .iter()
        .enumerate()
        .map(|(i, name)| match found.iter().find(|a| &a.name == name) {
            Some(alarm) => ok("CloudWatch alarm", name, format!("state {}", alarm.state)),
            None => bad(
                "CloudWatch alarm",
                name,
                "not found: a deploy of this service would refuse to start",
                format!(
                    "create it in this account and region, or correct the name at {}",
                    spec.at(&sp.key("deploy").key("alarms").index(i))
                ),
            ),
        })
        .collect()
}
