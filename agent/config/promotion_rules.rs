//! Promotion across AWS accounts needs a way to read the source's registry and write the
//! target's. An environment without `aws.roleArn` is served with the agent's own credentials,
//! so every such environment is in the agent's own account; two environments in different
//! accounts with no role between them cannot both be. Across accounts, then, at least one of
//! the pair names a role: the agent reads (or writes) the other side's registry with its own
//! credentials and this side's through the role (docs/operations.md, "Across accounts").
//! Across regions of one account the agent's own credentials reach both registries.

use super::diagnostic::Diagnostic;
use super::position::FieldPath;
use super::units::PartialEnvironment;

/// Each `promotion.from` in another account than its environment's must have a role on one
/// side. Names that are not environments, and promoting from oneself, are reported by the
/// header rules; a pair where either file has problems of its own (say, an account id that is
/// not 12 digits, or a role in the wrong account) is compared once those are fixed. Runs after
/// the other rules, whose findings are in `out`.
pub fn check_cross_account_access(envs: &[PartialEnvironment], out: &mut Vec<Diagnostic>) {
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
        let (theirs, ours) = (&source.aws.account_id, &target.aws.account_id);
        if theirs == ours || source.aws.role_arn.is_some() || target.aws.role_arn.is_some() {
            continue;
        }
        out.push(env.at.at_value(
            &FieldPath::root().key("promotion").key("from"),
            format!(
                "`{}` (account {ours}) promotes from `{}` (account {theirs}), and neither names \
                 `aws.roleArn`: without a role both are served with the agent's own credentials, \
                 which are in one account, so the agent cannot both read `{}`'s registry and \
                 write `{}`'s",
                target.name, source.name, source.name, target.name
            ),
            Some(format!(
                "add `aws.roleArn` (a role in {ours} the agent may assume) to {} when the agent \
                 runs in {theirs}, or one in {theirs} to {} (with ecr:GetAuthorizationToken, \
                 ecr:BatchGetImage and ecr:GetDownloadUrlForLayer on its repositories) when it \
                 runs in {ours} (docs/operations.md, Across accounts)",
                env.at.file, source_env.at.file
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
                .map(|d| {
                    format!(
                        "{}:{}: {} ({})",
                        d.file,
                        d.line,
                        d.message,
                        d.hint.clone().unwrap_or_default()
                    )
                })
                .collect(),
        }
    }

    const OTHER: &str = "accountId: \"210987654321\"";
    const OTHER_WITH_ROLE: &str =
        "accountId: \"210987654321\"\n  roleArn: arn:aws:iam::210987654321:role/amagent-deployer";

    #[test]
    fn across_accounts_with_no_role_on_either_side_is_an_error_at_promotion_from() {
        assert_eq!(problems(&|t| t.to_string()), Vec::<String>::new());
        let other_account = problems(&|t| t.replace("accountId: \"123456789012\"", OTHER));
        assert_eq!(other_account.len(), 1, "{other_account:?}");
        let p = &other_account[0];
        assert!(p.starts_with("environments/production.yaml:23: "), "{p}");
        assert!(
            p.contains("`production` (account 123456789012) promotes from `staging` (account 210987654321), and neither names `aws.roleArn`")
                && p.contains("add `aws.roleArn` (a role in 123456789012 the agent may assume) to environments/production.yaml")
                && p.contains("or one in 210987654321 to environments/staging.yaml"),
            "{p}"
        );
    }

    #[test]
    fn a_role_on_either_side_or_another_region_of_one_account_validates() {
        // The source read through its role; the agent's own account is production's.
        let source_role = problems(&|t| t.replace("accountId: \"123456789012\"", OTHER_WITH_ROLE));
        assert_eq!(source_role, Vec::<String>::new());
        // Another region of the same account: the agent's own credentials reach both.
        let other_region = problems(&|t| t.replace("region: ap-southeast-2", "region: eu-west-1"));
        assert_eq!(other_region, Vec::<String>::new());
    }
}
