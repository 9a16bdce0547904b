//! Doctor's check of the SSM parameters `notify:` names (the agent's own secrets): each exists
//! (GetParameters, existence only — doctor never reads their values). Secrets from environment
//! variables are the running agent's, which doctor cannot see.

use super::{Check, SpecLocator, bad, lookup, ok};
use crate::cloud::{Cloud, GET_PARAMETERS_BATCH};
use crate::config::Environment;
use crate::config::position::FieldPath;

/// (field path, parameter name) of every `{ssm: …}` under `notify:`.
fn parameters(env: &Environment) -> Vec<(FieldPath, String)> {
    let mut out = Vec::new();
    for (i, t) in env.notify.iter().enumerate() {
        let at = FieldPath::root().key("notify").index(i);
        let slack = t.slack.as_ref();
        let fields = [
            (
                at.key("slack").key("webhookUrl"),
                slack.and_then(|s| s.webhook_url.as_ref()),
            ),
            (
                at.key("slack").key("botToken"),
                slack.and_then(|s| s.bot_token.as_ref()),
            ),
            (
                at.key("webhook").key("secret"),
                t.webhook.as_ref().and_then(|w| w.secret.as_ref()),
            ),
        ];
        for (path, from) in fields {
            if let Some(name) = from.and_then(|f| f.ssm.clone()) {
                out.push((path.key("ssm"), name));
            }
        }
    }
    out
}

pub(super) async fn checks(cloud: &Cloud, spec: &SpecLocator, env: &Environment) -> Vec<Check> {
    let mut checks = Vec::new();
    for chunk in parameters(env).chunks(GET_PARAMETERS_BATCH) {
        let names: Vec<String> = chunk.iter().map(|(_, n)| n.clone()).collect();
        match cloud.ssm.missing(&names).await {
            Ok(missing) => checks.extend(chunk.iter().map(|(path, name)| {
                match missing.contains(name) {
                    true => bad(
                        "SSM parameter",
                        name,
                        "not found (a notification secret)",
                        format!(
                            "create it (aws ssm put-parameter --type SecureString --name {name} …), or correct {}",
                            spec.at(path)
                        ),
                    ),
                    false => ok("SSM parameter", name, format!("exists (for {path}; value not read)")),
                }
            })),
            Err(e) => checks.push(lookup::<()>(
                "SSM parameters",
                "notify",
                Err(e),
                |_| String::new(),
                spec.at(&FieldPath::root().key("notify")),
            )),
        }
    }
    checks
}

#[cfg(test)]
mod tests {
    use crate::cloud::sim::FaultScript;
    use crate::doctor::{SpecLocator, examine};
    use crate::sandbox::{Sandbox, epoch};

    #[tokio::test(start_paused = true)]
    async fn a_missing_notification_secret_is_named_with_where_to_fix_it() {
        let text = include_str!("../../environments/staging.yaml").replacen(
            "services:\n",
            "notify:\n  - slack:\n      webhookUrl: {ssm: /team/slack-webhook}\n  - webhook:\n      url: https://hooks.example.com/a\n      secret: {ssm: /team/signing}\nservices:\n",
            1,
        );
        let file = crate::config::SourceFile {
            path: "environments/staging.yaml".into(),
            text: text.clone(),
        };
        let pipeline = crate::config::SourceFile {
            path: "pipelines/api.yaml".into(),
            text: include_str!("../../pipelines/api.yaml").into(),
        };
        let model = crate::config::load_sources(&[file, pipeline]).expect("valid");
        let env = model.environments["staging"].clone();
        let sandbox =
            Sandbox::for_environments(std::slice::from_ref(&env), FaultScript::new(), epoch());
        sandbox.sim.put_secure_parameter("/team/signing", "s3cret");
        let spec = SpecLocator::new("environments/staging.yaml", &text);
        let checks = examine(&sandbox.sim.cloud(), &env, &spec).await;
        let of = |name: &str| checks.iter().find(|c| c.subject == name).expect(name);
        let missing = of("/team/slack-webhook");
        assert!(!missing.ok);
        let fix = missing.fix.as_deref().unwrap();
        assert!(fix.contains("environments/staging.yaml:23"), "{fix}");
        assert!(fix.contains("notify[0].slack.webhookUrl.ssm"), "{fix}");
        assert!(of("/team/signing").ok);
        assert!(!format!("{checks:?}").contains("s3cret"));
    }
}
