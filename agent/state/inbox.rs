//! The inbox beside the lease: webhook deliveries a standby received, handed to the active
//! agent through the journal's bucket (`<prefix>inbox/<delivery id>.json`), so a load balancer
//! that sends a delivery to the standby loses nothing and needs no new infrastructure.
//!
//! - **hand over** (standby): one object per delivery, written with `If-None-Match: *`, so the
//!   same delivery handed over twice (GitHub's redelivery reaching the standby again) is one
//!   object;
//! - **take** (active): list the inbox and read each object;
//! - **remove** (active): delete the object once the delivery was acted on. A holder that dies
//!   in between leaves it for the next holder: at least once, never lost.
//!
//! The bodies are opaque here (the daemon serializes its deliveries). Must not know: webhooks,
//! deploys.

use crate::cloud::types::PutCondition;
use crate::cloud::{CloudError, ObjectStore};
use sha2::{Digest, Sha256};
use std::sync::Arc;

#[derive(Clone)]
pub struct Inbox {
    store: Arc<dyn ObjectStore>,
    bucket: String,
    /// `<prefix>inbox/`.
    folder: String,
}

/// One object in the inbox: its key and body.
#[derive(Clone, Debug)]
pub struct Letter {
    pub key: String,
    pub body: Vec<u8>,
}

impl Inbox {
    /// The inbox of the journal at `s3://bucket/prefix`.
    pub fn new(store: Arc<dyn ObjectStore>, bucket: impl Into<String>, prefix: &str) -> Self {
        let folder = if prefix.is_empty() || prefix.ends_with('/') {
            format!("{prefix}inbox/")
        } else {
            format!("{prefix}/inbox/")
        };
        Inbox {
            store,
            bucket: bucket.into(),
            folder,
        }
    }

    /// The key of delivery `id`: the id itself when it is a plain name (GitHub's are UUIDs),
    /// else its SHA-256 (an id may hold `/` or other characters a key should not).
    pub fn key_for(&self, id: &str) -> String {
        let plain = !id.is_empty()
            && id.len() <= 128
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if plain {
            format!("{}{id}.json", self.folder)
        } else {
            format!(
                "{}sha256-{}.json",
                self.folder,
                hex::encode(Sha256::digest(id))
            )
        }
    }

    /// Store delivery `id`; already there (handed over before) is no error.
    pub async fn hand_over(&self, id: &str, body: &[u8]) -> Result<(), CloudError> {
        match self
            .store
            .put(
                &self.bucket,
                &self.key_for(id),
                body,
                PutCondition::IfAbsent,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_precondition_failed() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Everything in the inbox, oldest key first. An object gone between the list and the read
    /// (another holder took it) is skipped.
    pub async fn take(&self) -> Result<Vec<Letter>, CloudError> {
        let mut letters = Vec::new();
        for key in self.store.list(&self.bucket, &self.folder).await? {
            if let Some(object) = self.store.get(&self.bucket, &key).await? {
                letters.push(Letter {
                    key,
                    body: object.body,
                });
            }
        }
        Ok(letters)
    }

    /// Delete a letter once acted on.
    pub async fn remove(&self, key: &str) -> Result<(), CloudError> {
        self.store.delete(&self.bucket, key).await
    }

    /// `s3://bucket/<prefix>inbox/`, for log lines.
    pub fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.folder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::sim::{FaultScript, Simulator};

    #[tokio::test]
    async fn a_delivery_handed_over_twice_is_one_letter_until_removed() {
        let sim = Simulator::new(crate::clock::Clock::system(), FaultScript::new());
        sim.add_bucket("b");
        let inbox = Inbox::new(sim.cloud().s3, "b", "amagent");
        inbox.hand_over("72d3162e-cc78-11e3", b"one").await.unwrap();
        inbox
            .hand_over("72d3162e-cc78-11e3", b"again")
            .await
            .unwrap();
        inbox.hand_over("odd/../id", b"two").await.unwrap();
        let letters = inbox.take().await.unwrap();
        let keys: Vec<&str> = letters.iter().map(|l| l.key.as_str()).collect();
        assert_eq!(keys.len(), 2, "{keys:?}");
        assert!(keys.contains(&"amagent/inbox/72d3162e-cc78-11e3.json"));
        assert!(keys.iter().any(|k| k.starts_with("amagent/inbox/sha256-")));
        let first = letters.iter().find(|l| l.key.contains("72d3")).unwrap();
        assert_eq!(first.body, b"one");
        for l in &letters {
            inbox.remove(&l.key).await.unwrap();
        }
        assert!(inbox.take().await.unwrap().is_empty());
    }
}
