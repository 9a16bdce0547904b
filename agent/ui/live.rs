//! The live part of the page: [`Tee`] hands every progress call to the console's `Progress` and
//! to the [`LiveFeed`] — a tokio broadcast channel the page's `/events` streams subscribe to,
//! plus the latest [`LiveState`] of each service so a page opened mid-rollout starts from it.
//! A slow or absent browser never holds the deploy up: a full channel drops its oldest events
//! for that subscriber (who then catches up from the next state, which is whole).

use super::board::Board;
use crate::stages::deploy::progress::{Progress, RolloutView};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Events a subscriber can lag behind before it misses some.
const CHANNEL: usize = 256;

/// A service's rollout as last told: whole, so one event is enough to show it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LiveState {
    pub env: String,
    pub service: String,
    /// The last step's message (or the verdict, when finished).
    pub message: String,
    /// A step after the verdict (the ECR lifecycle): said beside it, not instead.
    pub after: Option<String>,
    /// The last poll's numbers, while the rollout is watched.
    pub view: Option<RolloutView>,
    /// None while in flight; Some(succeeded) once done.
    pub finished: Option<bool>,
    /// When this state was sent, ms since the Unix epoch (real time, for the latency figure).
    pub sent_ms: i64,
}

/// What `/events` streams: a service's new state, or a new snapshot to show.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LiveEvent {
    Service(LiveState),
    Snapshot { at: DateTime<Utc> },
}

impl LiveEvent {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            LiveEvent::Service(_) => "service",
            LiveEvent::Snapshot { .. } => "snapshot",
        }
    }
}

pub(super) struct LiveFeed {
    sender: broadcast::Sender<LiveEvent>,
    latest: Mutex<BTreeMap<(String, String), LiveState>>,
}

impl LiveFeed {
    pub(super) fn new() -> Self {
        LiveFeed {
            sender: broadcast::channel(CHANNEL).0,
            latest: Mutex::new(BTreeMap::new()),
        }
    }

    pub(super) fn send(&self, event: LiveEvent) {
        // No subscriber is no page open: nothing to do.
        let _ = self.sender.send(event);
    }

    pub(super) fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.sender.subscribe()
    }

    /// Every service's latest state, in flight first.
    pub(super) fn latest(&self) -> Vec<LiveState> {
        let latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        let mut states: Vec<LiveState> = latest.values().cloned().collect();
        states.sort_by_key(|s| s.finished.is_some());
        states
    }

    /// Change `service`'s state with `change` and send the result.
    fn update(&self, env: &str, service: &str, change: impl FnOnce(&mut LiveState)) {
        let state = {
            let mut latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
            let state = latest
                .entry((env.to_string(), service.to_string()))
                .or_insert_with(|| LiveState {
                    env: env.to_string(),
                    service: service.to_string(),
                    ..LiveState::default()
                });
            change(state);
            state.sent_ms = Utc::now().timestamp_millis();
            state.clone()
        };
        self.send(LiveEvent::Service(state));
    }
}

/// The deploy engine's `Progress` for `amagent run` with a listen address: the console's, and
/// the page's live feed.
pub struct Tee {
    pub console: Arc<dyn Progress>,
    pub board: Arc<Board>,
}

impl Progress for Tee {
    fn step(&self, env: &str, service: &str, message: &str) {
        self.console.step(env, service, message);
        self.board.live.update(env, service, |s| match s.finished {
            Some(_) => s.after = Some(message.to_string()),
            None => s.message = message.to_string(),
        });
    }

    fn done(&self, env: &str, service: &str, succeeded: bool, message: &str) {
        self.console.done(env, service, succeeded, message);
        self.board.live.update(env, service, |s| {
            s.message = message.to_string();
            s.finished = Some(succeeded);
            s.after = None;
        });
    }

    fn rollout(&self, env: &str, service: &str, view: &RolloutView) {
        self.console.rollout(env, service, view);
        self.board.live.update(env, service, |s| {
            if s.finished.is_some() {
                // The next deploy of the service is rolling: the last verdict is history.
                s.finished = None;
                s.message = std::mem::take(&mut s.after).unwrap_or_else(|| view.stage.clone());
            }
            s.view = Some(view.clone());
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::deploy::Silent;

    #[test]
    fn the_tee_keeps_each_services_latest_state_and_broadcasts_it_whole() {
        let board = Arc::new(Board::default());
        let mut events = board.live.subscribe();
        let tee = Tee {
            console: Arc::new(Silent),
            board: board.clone(),
        };
        tee.step("staging", "api", "registering");
        let view = RolloutView {
            stage: "rolling".into(),
            desired: 2,
            new_running: 1,
            ..RolloutView::default()
        };
        tee.rollout("staging", "api", &view);
        tee.done("staging", "api", false, "crashed; rolled back");
        tee.step("staging", "web", "registering");
        let latest = board.live.latest();
        assert_eq!(latest.len(), 2);
        assert_eq!(latest[0].service, "web", "in flight first");
        assert_eq!(latest[1].finished, Some(false));
        assert_eq!(
            latest[1].view.as_ref(),
            Some(&view),
            "the numbers stay after the end"
        );
        let mut received = Vec::new();
        while let Ok(LiveEvent::Service(s)) = events.try_recv() {
            received.push((s.service, s.message, s.finished));
        }
        assert_eq!(received.len(), 4);
        assert_eq!(received[2].2, Some(false));
        // A step after the verdict (the ECR lifecycle) is said beside it; the next rollout of
        // the service starts over.
        let api = |board: &Board| board.live.latest().into_iter().find(|s| s.service == "api");
        tee.step("staging", "api", "lifecycle: 2 images expired");
        let after = api(&board).unwrap();
        assert_eq!(after.finished, Some(false));
        assert_eq!(after.message, "crashed; rolled back");
        assert_eq!(after.after.as_deref(), Some("lifecycle: 2 images expired"));
        tee.step("staging", "api", "registering again");
        tee.rollout("staging", "api", &view);
        let again = api(&board).unwrap();
        assert_eq!((again.finished, again.after), (None, None));
        assert_eq!(again.message, "registering again");
    }
}
