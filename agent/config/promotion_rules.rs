//! Promotion across AWS accounts or regions is refused until it exists (issue 12): the agent
//! copies a digest inside the one ECR registry its login reaches, so a source environment in
//! another account or region is not found there (docs/operations.md, "Across accounts").

use super::diagnostic::Diagnostic;
use super::position::FieldPath;
use super::units::PartialEnvironment;

/// Each `promotion.from` must name an environment in the same account and region. Names that
/// are not environments, and promoting from oneself, are reported by the header rules; a pair
/// where either file has problems of its own (say, an account id that is not 12 digits) is
/// compared once those are fixed. Runs after the other rules, whose findings are in `out`.
pub fn check_same_account_and_region(envs: &[PartialEnvironment], out: &mut Vec<Diagnostic>) {
    let headers: Vec<_> = envs
        .iter()
        .filter_map(|e| Some((e, e.header.as_ref()?)))
        .collect();
    for (env, target) in &headers {
        let Some(promotion) = &target.promotion else {
            continue;
        };
        let Some((source_env, source)) = headers
            .iter()
            .find(|(_, h)| h.name == promotion.from && h.name != target.name)
        else {
            continue;
        };
        let files = [&env.at.file, &source_env.at.file];
        if out.iter().any(|d| files.contains(&&d.file)) {
            continue;
        }
        let (what, field) = if source.aws.account_id != target.aws.account_id {
            ("AWS account", "aws.accountId")
        } else if source.aws.region != target.aws.region {
            ("AWS region", "aws.region")
        } else {
            continue;
        };
        out.push(env.at.at_value(
            &FieldPath::root().key("promotion").key("from"),
            format!(
                "`{}` promotes from `{}`, which is in another {what} ({field} differs): \
                 promotion across AWS accounts or regions is not supported yet",
                target.name, source.name
            ),
            Some(format!(
                "keep `{}` in `{}`'s account and region, or remove `promotion` and deploy the \
                 replicated image with `amagent deploy --image` (docs/operations.md, Across accounts)",
                target.name, source.name
            )),
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{SourceFile, load_sources};

    fn example_with(staging: &dyn Fn(&str) -> String) -> Vec<SourceFile> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        crate::config::read_dir_sources(root)
            .unwrap()
            .into_iter()
            .map(|mut f| {
                if f.path == "environments/staging.yaml" {
                    f.text = staging(&f.text);
                }
                f
            })
            .collect()
    }

    fn problems(staging: &dyn Fn(&str) -> String) -> Vec<String> {
        match load_sources(&example_with(staging)) {
            Ok(_) => Vec::new(),
            Err(d) => d
                .iter()
                .map(|d| format!("{}:{}: {}", d.file, d.line, d.message))
                .collect(),
        }
    }

    #[test]
    fn promotion_from_another_account_or_region_is_an_error_at_promotion_from() {
        assert_eq!(problems(&|t| t.to_string()), Vec::<String>::new());
        let other_account = problems(&|t| t.replace("\"123456789012\"", "\"210987654321\""));
        assert_eq!(other_account.len(), 1, "{other_account:?}");
        assert!(
            other_account[0].starts_with("environments/production.yaml:"),
            "{other_account:?}"
        );
        assert!(
            other_account[0].contains("another AWS account (aws.accountId differs)")
                && other_account[0].contains("not supported yet"),
            "{other_account:?}"
        );
        let other_region = problems(&|t| t.replace("region: ap-southeast-2", "region: eu-west-1"));
        assert_eq!(other_region.len(), 1, "{other_region:?}");
        assert!(
            other_region[0].contains("another AWS region (aws.region differs)"),
            "{other_region:?}"
        );
    }
}
