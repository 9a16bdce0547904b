//! Doctor's checks of a service's secrets: each SSM parameter (GetParameters, values unread)
//! and each Secrets Manager secret with the version it pins (DescribeSecret, no value in it).

use super::{Check, SpecLocator, bad, lookup, ok};
use crate::cloud::{Cloud, GET_PARAMETERS_BATCH};
use crate::config::Service;
use crate::config::position::FieldPath;
use crate::config::secret_ref::{self, SecretSource};
use crate::executor::secrets::absent_part;

pub(super) async fn checks(
    cloud: &Cloud,
    spec: &SpecLocator,
    sp: &FieldPath,
    s: &Service,
) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut parameters = Vec::new();
    for (var, reference) in &s.secrets {
        match secret_ref::parse(reference) {
            Ok(SecretSource::SecretsManager(r)) => {
                let at = spec.at(&sp.key("secrets").key(var));
                checks.push(match cloud.ssm.describe_secret(&r.secret_arn).await {
                    Ok(found) => match absent_part(&r, found.as_ref()) {
                        None => ok(
                            "Secrets Manager secret",
                            reference,
                            format!("exists (for {var}; value not read)"),
                        ),
                        Some(what) => bad(
                            "Secrets Manager secret",
                            reference,
                            format!("not found: {what}"),
                            format!(
                                "create it (aws secretsmanager create-secret …), or correct {at}"
                            ),
                        ),
                    },
                    Err(e) => lookup::<()>(
                        "Secrets Manager secret",
                        reference,
                        Err(e),
                        |_| String::new(),
                        at,
                    ),
                });
            }
            _ => parameters.push((var, reference)),
        }
    }
    for chunk in parameters.chunks(GET_PARAMETERS_BATCH) {
        let names: Vec<String> = chunk.iter().map(|(_, p)| (*p).clone()).collect();
        match cloud.ssm.missing(&names).await {
            Ok(missing) => {
                for (var, parameter) in chunk {
                    checks.push(if missing.contains(parameter) {
                        bad(
                            "SSM parameter",
                            parameter,
                            "not found",
                            format!(
                                "create it (aws ssm put-parameter --type SecureString --name {parameter} …), or correct {}",
                                spec.at(&sp.key("secrets").key(var))
                            ),
                        )
                    } else {
                        ok("SSM parameter", parameter, format!("exists (for {var}; value not read)"))
                    });
                }
            }
            Err(e) => checks.push(lookup::<()>(
                "SSM parameters",
                &s.name,
                Err(e),
                |_| String::new(),
                spec.at(&sp.key("secrets")),
            )),
        }
    }
    checks
}
