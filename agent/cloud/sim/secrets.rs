//! Secrets Manager in the simulator: secrets by ARN with their versions' ids and stages. There
//! are no values, so none can leak.

use super::Simulator;
use super::world::World;
use crate::cloud::types::SecretDescription;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

impl Simulator {
    /// A secret called `name` with one version (AWSCURRENT); returns its ARN, which ends in
    /// `-` and six characters as in AWS.
    pub fn add_secret(&self, name: &str) -> String {
        let hash = Sha256::digest(name.as_bytes());
        let suffix: String = hash.iter().take(3).map(|b| format!("{b:02x}")).collect();
        let arn = {
            let w = self.world();
            format!(
                "arn:aws:secretsmanager:{}:{}:secret:{name}-{suffix}",
                w.region, w.account
            )
        };
        self.add_secret_arn(&arn, &[]);
        arn
    }

    /// A secret at exactly `arn`, with an AWSCURRENT version and the `(version id, stage)`
    /// pairs given (either may be empty).
    pub fn add_secret_arn(&self, arn: &str, versions: &[(&str, &str)]) {
        let mut all: BTreeMap<String, Vec<String>> = BTreeMap::new();
        all.insert(version_id(arn, "AWSCURRENT"), vec!["AWSCURRENT".into()]);
        for (id, stage) in versions
            .iter()
            .filter(|(i, s)| !i.is_empty() || !s.is_empty())
        {
            let id = if id.is_empty() {
                version_id(arn, stage)
            } else {
                id.to_string()
            };
            let stages = all.entry(id).or_default();
            if !stage.is_empty() {
                stages.push(stage.to_string());
            }
        }
        self.world().secrets.insert(arn.to_string(), all);
    }

    /// Deletes a secret (a test's "someone removed it").
    pub fn remove_secret(&self, arn: &str) {
        self.world().secrets.remove(arn);
    }
}

/// A stable version id (AWS's are UUIDs; only their stability matters here).
fn version_id(arn: &str, stage: &str) -> String {
    let hash = Sha256::digest(format!("{arn}/{stage}").as_bytes());
    hash.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// DescribeSecret's answer: by full ARN, by partial ARN (without the six-character suffix), or
/// by name.
pub(super) fn describe(w: &World, secret_id: &str) -> Option<SecretDescription> {
    let matches = |arn: &str| {
        arn == secret_id
            || arn
                .rsplit_once('-')
                .is_some_and(|(partial, _)| partial == secret_id)
            || arn
                .split_once(":secret:")
                .and_then(|(_, name)| name.rsplit_once('-'))
                .is_some_and(|(name, _)| name == secret_id)
    };
    w.secrets
        .iter()
        .find(|(arn, _)| matches(arn))
        .map(|(arn, versions)| SecretDescription {
            arn: arn.clone(),
            versions: versions.clone(),
        })
}
