//! One active agent per environments repository: a lease object in S3 (`<prefix>lease.json`)
//! that only one holder can own at a time, using S3's conditional writes as the lock:
//!
//! - **acquire** an absent lease with `If-None-Match: *`;
//! - **renew** it, by its holder, with `If-Match: <the etag of its last write>`;
//! - **take over** an *expired* lease (another holder's, `expires_at` ≤ now) with `If-Match:
//!   <the etag of the expired object as read>`: of two standbys racing for it, S3 lets exactly
//!   one write through and the other sees the winner on its next look;
//! - **release** it by writing it already expired (If-Match again), so a standby need not wait
//!   out the TTL.
//!
//! A valid lease is never taken over, even one naming this same holder: holder names must be
//! unique per process (e.g. `host/pid/random`), and a restarted agent waits out its old TTL.
//! Times come from the caller (the agent passes its [`crate::clock::Clock`]'s now), so the
//! lease runs on the simulator's virtual time in tests.
//!
//! If a renew finds the object changed, the lease was lost (it expired and a standby took it):
//! [`LeaseError::Lost`]. The agent must then stop starting new work. A renew that comes after
//! the TTL still succeeds if nobody took the lease in between; renew well inside the TTL (a
//! third of it) so that does not happen in normal operation.
//! Must not know: deploys, the journal's records.

use crate::cloud::types::PutCondition;
use crate::cloud::{CloudError, ObjectStore};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// What the lease object holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    pub holder: String,
    pub acquired_at: DateTime<Utc>,
    pub renewed_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The answer to [`Lease::try_acquire`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseState {
    /// This holder has the lease until `expires_at` (unless renewed).
    Held { expires_at: DateTime<Utc> },
    /// Someone else has it; try again after `expires_at`.
    HeldByOther {
        holder: String,
        expires_at: DateTime<Utc>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The lease was taken over (or changed) since this holder last wrote it.
    #[error(
        "lease {location} lost{}: another agent took over — stop starting new work",
        .holder.as_ref().map(|h| format!(" to {h}")).unwrap_or_default()
    )]
    Lost {
        location: String,
        holder: Option<String>,
    },
    /// `renew`/`release` without holding the lease.
    #[error("lease {location} is not held by {holder}")]
    NotHeld { location: String, holder: String },
    #[error("lease {location}: unreadable lease object: {message}")]
    Corrupt { location: String, message: String },
    /// Every attempt lost a race (the object kept changing under us).
    #[error("lease {location}: contended (changed on every attempt), try again")]
    Contended { location: String },
    #[error("lease {location}: {source}")]
    Store {
        location: String,
        #[source]
        source: CloudError,
    },
}

/// What this holder last wrote.
#[derive(Clone, Debug)]
struct Owned {
    etag: String,
    acquired_at: DateTime<Utc>,
}

pub struct Lease {
    store: Arc<dyn ObjectStore>,
    bucket: String,
    key: String,
    holder: String,
    ttl: chrono::Duration,
    owned: Option<Owned>,
    /// Told of every successful write and of every loss (fencing, `fence.rs`).
    guard: Option<Arc<crate::state::fence::LeaseGuard>>,
}

/// Attempts at acquiring before giving up with [`LeaseError::Contended`].
const ATTEMPTS: usize = 3;

impl Lease {
    /// `key`: e.g. `amagent/lease.json` (see [`Lease::key_for`]).
    pub fn new(
        store: Arc<dyn ObjectStore>,
        bucket: impl Into<String>,
        key: impl Into<String>,
        holder: impl Into<String>,
        ttl: Duration,
    ) -> Self {
        Lease {
            store,
            bucket: bucket.into(),
            key: key.into(),
            holder: holder.into(),
            ttl: chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX),
            owned: None,
            guard: None,
        }
    }

    /// Keep `guard` told when the lease was last surely ours.
    pub fn with_guard(mut self, guard: Arc<crate::state::fence::LeaseGuard>) -> Self {
        self.guard = Some(guard);
        self
    }

    /// `<prefix>lease.json`, beside the journal under the same prefix.
    pub fn key_for(prefix: &str) -> String {
        if prefix.is_empty() || prefix.ends_with('/') {
            format!("{prefix}lease.json")
        } else {
            format!("{prefix}/lease.json")
        }
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The lease object as it is now (None: no agent ever held it).
    pub async fn current(&self) -> Result<Option<LeaseRecord>, LeaseError> {
        Ok(self.read().await?.map(|(record, _)| record))
    }

    /// Whether this holder believes it holds the lease (as of its last successful write).
    pub fn is_held(&self) -> bool {
        self.owned.is_some()
    }

    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    fn store_err(&self) -> impl FnOnce(CloudError) -> LeaseError + '_ {
        move |source| LeaseError::Store {
            location: self.location(),
            source,
        }
    }

    async fn read(&self) -> Result<Option<(LeaseRecord, String)>, LeaseError> {
        let Some(object) = self
            .store
            .get(&self.bucket, &self.key)
            .await
            .map_err(self.store_err())?
        else {
            return Ok(None);
        };
        let record = serde_json::from_slice(&object.body).map_err(|e| LeaseError::Corrupt {
            location: self.location(),
            message: e.to_string(),
        })?;
        Ok(Some((record, object.etag)))
    }

    /// Write our record under `condition`. Ok(None): the condition failed (someone else wrote).
    async fn write(
        &mut self,
        acquired_at: DateTime<Utc>,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        condition: PutCondition,
    ) -> Result<Option<DateTime<Utc>>, LeaseError> {
        let record = LeaseRecord {
            holder: self.holder.clone(),
            acquired_at,
            renewed_at: now,
            expires_at,
        };
        let body = serde_json::to_vec_pretty(&record).expect("lease records serialize");
        // Held from when the request left, not when the answer came: conservative.
        let sent = tokio::time::Instant::now();
        match self
            .store
            .put(&self.bucket, &self.key, &body, condition)
            .await
        {
            Ok(etag) => {
                self.owned = Some(Owned { etag, acquired_at });
                if let Some(g) = &self.guard {
                    if expires_at > now {
                        g.renewed(sent);
                    } else {
                        g.revoke();
                    }
                }
                Ok(Some(expires_at))
            }
            Err(e) if e.is_precondition_failed() => Ok(None),
            Err(e) => Err(self.store_err()(e)),
        }
    }

    /// Take the lease if it is free (absent, or expired at `now`), or renew it if this holder
    /// has it. Never waits: a valid lease of another holder is [`LeaseState::HeldByOther`].
    pub async fn try_acquire(&mut self, now: DateTime<Utc>) -> Result<LeaseState, LeaseError> {
        if self.owned.is_some() {
            let expires_at = self.renew(now).await?;
            return Ok(LeaseState::Held { expires_at });
        }
        for _ in 0..ATTEMPTS {
            let (condition, current) = match self.read().await? {
                None => (PutCondition::IfAbsent, None),
                Some((record, etag)) => {
                    if record.expires_at > now {
                        return Ok(LeaseState::HeldByOther {
                            holder: record.holder,
                            expires_at: record.expires_at,
                        });
                    }
                    // Expired: take it over, only if it is still exactly what we read.
                    (PutCondition::IfMatch(etag), Some(record))
                }
            };
            if let Some(expires_at) = self.write(now, now, now + self.ttl, condition).await? {
                if let Some(previous) = current {
                    tracing::info!(lease = %self.location(), previous = %previous.holder, "took over an expired lease");
                }
                return Ok(LeaseState::Held { expires_at });
            }
            // Lost a race: look again (the winner's lease is valid, so the next read says so).
        }
        Err(LeaseError::Contended {
            location: self.location(),
        })
    }

    /// Extend the lease to `now + ttl`. [`LeaseError::Lost`] when someone else wrote the lease
    /// since our last write: stop starting new work.
    pub async fn renew(&mut self, now: DateTime<Utc>) -> Result<DateTime<Utc>, LeaseError> {
        let Some(owned) = self.owned.clone() else {
            return Err(LeaseError::NotHeld {
                location: self.location(),
                holder: self.holder.clone(),
            });
        };
        match self
            .write(
                owned.acquired_at,
                now,
                now + self.ttl,
                PutCondition::IfMatch(owned.etag),
            )
            .await?
        {
            Some(expires_at) => Ok(expires_at),
            None => Err(self.lost().await),
        }
    }

    /// Give the lease up: write it expired at `now`, so a standby can take it at once.
    pub async fn release(&mut self, now: DateTime<Utc>) -> Result<(), LeaseError> {
        let Some(owned) = self.owned.clone() else {
            return Err(LeaseError::NotHeld {
                location: self.location(),
                holder: self.holder.clone(),
            });
        };
        match self
            .write(
                owned.acquired_at,
                now,
                now,
                PutCondition::IfMatch(owned.etag),
            )
            .await?
        {
            Some(_) => {
                self.owned = None;
                Ok(())
            }
            None => Err(self.lost().await),
        }
    }

    /// Forget the lease and say who has it now (if that can be read).
    async fn lost(&mut self) -> LeaseError {
        self.owned = None;
        if let Some(g) = &self.guard {
            g.revoke();
        }
        let holder = self.read().await.ok().flatten().map(|(r, _)| r.holder);
        tracing::error!(lease = %self.location(), holder = ?holder, "lease lost");
        LeaseError::Lost {
            location: self.location(),
            holder,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::cloud::sim::{FaultScript, Simulator};

    const BUCKET: &str = "aussie-markets-staging-logs";
    const KEY: &str = "amagent/lease.json";
    const TTL: Duration = Duration::from_secs(60);

    fn at(seconds: i64) -> DateTime<Utc> {
        "2026-11-25T09:00:00Z".parse::<DateTime<Utc>>().unwrap()
            + chrono::Duration::seconds(seconds)
    }

    fn store() -> Arc<dyn ObjectStore> {
        let sim = Simulator::new(Clock::starting_at(at(0)), FaultScript::new());
        sim.add_bucket(BUCKET);
        sim.cloud().s3
    }

    fn lease(store: &Arc<dyn ObjectStore>, holder: &str) -> Lease {
        Lease::new(store.clone(), BUCKET, KEY, holder, TTL)
    }

    #[tokio::test(start_paused = true)]
    async fn acquire_then_a_second_holder_is_refused_while_it_is_valid() {
        let s3 = store();
        let mut a = lease(&s3, "agent-a");
        let mut b = lease(&s3, "agent-b");
        assert_eq!(
            a.try_acquire(at(0)).await.unwrap(),
            LeaseState::Held { expires_at: at(60) }
        );
        assert!(a.is_held());
        assert_eq!(
            b.try_acquire(at(59)).await.unwrap(),
            LeaseState::HeldByOther {
                holder: "agent-a".into(),
                expires_at: at(60)
            }
        );
        assert!(!b.is_held());
        let stored: LeaseRecord =
            serde_json::from_slice(&s3.get(BUCKET, KEY).await.unwrap().unwrap().body).unwrap();
        assert_eq!(
            stored,
            LeaseRecord {
                holder: "agent-a".into(),
                acquired_at: at(0),
                renewed_at: at(0),
                expires_at: at(60)
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn renew_extends_the_lease_and_keeps_standbys_out() {
        let s3 = store();
        let mut a = lease(&s3, "agent-a");
        let mut b = lease(&s3, "agent-b");
        a.try_acquire(at(0)).await.unwrap();
        assert_eq!(a.renew(at(20)).await.unwrap(), at(80));
        assert_eq!(a.renew(at(40)).await.unwrap(), at(100));
        // Past the first expiry, but renewed: still held.
        assert!(matches!(
            b.try_acquire(at(90)).await.unwrap(),
            LeaseState::HeldByOther { expires_at, .. } if expires_at == at(100)
        ));
        // try_acquire by the holder renews.
        assert_eq!(
            a.try_acquire(at(95)).await.unwrap(),
            LeaseState::Held {
                expires_at: at(155)
            }
        );
        let stored: LeaseRecord =
            serde_json::from_slice(&s3.get(BUCKET, KEY).await.unwrap().unwrap().body).unwrap();
        assert_eq!(stored.acquired_at, at(0));
        assert_eq!(stored.renewed_at, at(95));
    }

    #[tokio::test(start_paused = true)]
    async fn an_expired_lease_is_taken_over_and_the_old_holder_learns_it_lost() {
        let s3 = store();
        let mut a = lease(&s3, "agent-a");
        let mut b = lease(&s3, "agent-b");
        a.try_acquire(at(0)).await.unwrap();
        // a stops renewing (stuck, partitioned…); at the TTL b takes over.
        assert_eq!(
            b.try_acquire(at(60)).await.unwrap(),
            LeaseState::Held {
                expires_at: at(120)
            }
        );
        let err = a.renew(at(61)).await.unwrap_err();
        assert!(
            matches!(&err, LeaseError::Lost { holder: Some(h), .. } if h == "agent-b"),
            "{err}"
        );
        assert!(err.to_string().contains("stop starting new work"), "{err}");
        assert!(
            err.to_string()
                .contains("s3://aussie-markets-staging-logs/amagent/lease.json"),
            "{err}"
        );
        assert!(!a.is_held());
        // And a, trying again, is a standby now.
        assert!(matches!(
            a.try_acquire(at(62)).await.unwrap(),
            LeaseState::HeldByOther { holder, .. } if holder == "agent-b"
        ));
        assert!(matches!(
            a.renew(at(63)).await.unwrap_err(),
            LeaseError::NotHeld { .. }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn two_standbys_racing_for_an_expired_lease_exactly_one_wins() {
        let s3 = store();
        let mut a = lease(&s3, "agent-a");
        a.try_acquire(at(0)).await.unwrap();
        let mut b = lease(&s3, "agent-b");
        let mut c = lease(&s3, "agent-c");
        // Both read the same expired object before either writes: the If-Match on its etag
        // lets exactly one through.
        let (rb, rc) = tokio::join!(b.try_acquire(at(61)), c.try_acquire(at(61)));
        let states = [rb.unwrap(), rc.unwrap()];
        let held = states
            .iter()
            .filter(|s| matches!(s, LeaseState::Held { .. }))
            .count();
        assert_eq!(held, 1, "{states:?}");
        let winner = if b.is_held() { "agent-b" } else { "agent-c" };
        assert!(states.contains(&LeaseState::HeldByOther {
            holder: winner.into(),
            expires_at: at(121)
        }));
        assert_eq!(b.is_held() as u8 + c.is_held() as u8, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn two_standbys_that_both_read_the_expired_lease_only_one_write_lands() {
        // The same race, made explicit: both standbys have read the expired lease; the
        // conditional writes decide.
        let s3 = store();
        let mut a = lease(&s3, "agent-a");
        a.try_acquire(at(0)).await.unwrap();
        let expired = s3.get(BUCKET, KEY).await.unwrap().unwrap();
        let mut b = lease(&s3, "agent-b");
        let mut c = lease(&s3, "agent-c");
        let wb = b
            .write(
                at(61),
                at(61),
                at(121),
                PutCondition::IfMatch(expired.etag.clone()),
            )
            .await
            .unwrap();
        let wc = c
            .write(at(61), at(61), at(121), PutCondition::IfMatch(expired.etag))
            .await
            .unwrap();
        assert!(wb.is_some());
        assert!(wc.is_none());
        assert!(b.is_held() && !c.is_held());
    }

    #[tokio::test(start_paused = true)]
    async fn release_lets_a_standby_in_at_once() {
        let s3 = store();
        let mut a = lease(&s3, "agent-a");
        let mut b = lease(&s3, "agent-b");
        a.try_acquire(at(0)).await.unwrap();
        a.release(at(10)).await.unwrap();
        assert!(!a.is_held());
        assert_eq!(
            b.try_acquire(at(10)).await.unwrap(),
            LeaseState::Held { expires_at: at(70) }
        );
        // Releasing a lease one no longer has is an error, not a silent success.
        assert!(a.release(at(11)).await.is_err());
    }

    #[test]
    fn the_lease_key_sits_beside_the_journal() {
        assert_eq!(Lease::key_for("amagent/"), "amagent/lease.json");
        assert_eq!(Lease::key_for("amagent"), "amagent/lease.json");
        assert_eq!(Lease::key_for(""), "lease.json");
    }
}
