//! What the page is made from: the agent's latest [`Snapshot`] and the live feed. The agent
//! writes (on its own runtime, virtual time under `--sim`); the page's handlers only read, on
//! the server's runtime — so no AWS or journal call ever runs from a request.

use super::live::{LiveEvent, LiveFeed};
use crate::state::journal::Record;
use crate::status::ServiceStatus;
use chrono::{DateTime, Utc};
use std::sync::{Arc, RwLock};

/// What runs where, as the agent last looked.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// When the agent took it (its clock: virtual under `--sim`).
    pub at: DateTime<Utc>,
    /// The watched branch's head at that look.
    pub head: String,
    /// `https://github.com/owner/repo` when the environments repo is on GitHub (for links to
    /// its pull requests and commits).
    pub github: Option<String>,
    pub environments: Vec<EnvSnapshot>,
    /// The whole journal as read at that look (deploy history, pull requests, tags).
    pub records: Vec<Record>,
}

#[derive(Clone, Debug, Default)]
pub struct EnvSnapshot {
    pub name: String,
    /// `promotion.from`: the environment whose verified digests this one receives.
    pub promoted_from: Option<String>,
    pub services: Vec<ServiceSnapshot>,
    /// ECS could not be asked about this environment at all.
    pub error: Option<String>,
}

#[derive(Clone, Debug)]
pub struct ServiceSnapshot {
    pub status: ServiceStatus,
    /// The spec's source: repository URL and ref (at the head).
    pub source_url: String,
    pub source_ref: String,
}

/// Shared by the agent (writes) and the page (reads).
pub struct Board {
    snapshot: RwLock<Option<Arc<Snapshot>>>,
    pub(super) live: LiveFeed,
}

impl Default for Board {
    fn default() -> Self {
        Board {
            snapshot: RwLock::new(None),
            live: LiveFeed::new(),
        }
    }
}

impl Board {
    /// Replace the snapshot and tell the open pages to show it.
    pub fn publish(&self, snapshot: Snapshot) {
        let at = snapshot.at;
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(snapshot));
        self.live.send(LiveEvent::Snapshot { at });
    }

    /// The latest snapshot; None before the agent's first look.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
