//! Webhook deliveries between agents on one journal: a standby hands the deliveries it
//! receives to the active agent through the inbox beside the lease (`state::inbox`), and the
//! active agent takes them in with its own, de-duplicated by GitHub's delivery id against the
//! ids its webhook server saw. Behind one load balancer both agents receive deliveries; each
//! is acted on once, by whichever agent holds the lease.

use super::event_loop::Wake;
use crate::state::inbox::Inbox;
use crate::watch::webhook::{Delivery, SeenDeliveries};
use std::time::Duration;

/// How often the active agent looks in the inbox between other wake-ups: a preview handed
/// over waits at most this long. One LIST each time (about 8,640 a day).
pub const INBOX_CHECK: Duration = Duration::from_secs(10);

/// Deliveries kept in memory while the lease cannot be read (S3 unreachable): beyond this the
/// oldest are dropped, with a warning.
const MAX_KEPT: usize = 256;

#[derive(Clone)]
pub struct Handoff {
    pub inbox: Inbox,
    /// Shared with the webhook server.
    pub seen: SeenDeliveries,
    /// The ids this agent handed over itself (as a standby): its webhook server saw them, yet
    /// they were not acted on here, so taking them back in (after a takeover) is no repeat.
    pub handed: SeenDeliveries,
}

impl Handoff {
    pub fn new(inbox: Inbox, seen: SeenDeliveries) -> Self {
        Handoff {
            inbox,
            seen,
            handed: SeenDeliveries::default(),
        }
    }

    /// Standby (`standby`), or unsure (the lease could not be read): keep no wake-ups but the
    /// deliveries. A standby stores each in the inbox; those it could not store stay queued and
    /// are tried again at the next wake-up (or acted on, should this agent take the lease).
    pub async fn hand_over(&self, queued: &mut Vec<Wake>, standby: bool) {
        let mut kept = Vec::new();
        for wake in std::mem::take(queued) {
            let Wake::Event(delivery) = wake else {
                continue;
            };
            if standby && self.store(&delivery).await {
                continue;
            }
            kept.push(Wake::Event(delivery));
        }
        if kept.len() > MAX_KEPT {
            let dropped = kept.len() - MAX_KEPT;
            tracing::warn!(
                dropped,
                "too many webhook deliveries waiting for the lease to be readable: dropping the oldest"
            );
            kept.drain(..dropped);
        }
        *queued = kept;
    }

    async fn store(&self, delivery: &Delivery) -> bool {
        let body = serde_json::to_vec(delivery).expect("deliveries serialize");
        match self.inbox.hand_over(&delivery.id, &body).await {
            Ok(()) => {
                self.handed.first_time(&delivery.id);
                tracing::info!(delivery = %delivery.id, inbox = %self.inbox.location(), "standby: delivery handed to the active agent");
                true
            }
            Err(e) => {
                tracing::error!(error = %e, delivery = %delivery.id, "standby: cannot hand the delivery over; trying again at the next wake-up");
                false
            }
        }
    }

    /// Active: queue the deliveries standbys handed over that this agent has not seen, and
    /// return the keys of everything taken, to [`Handoff::remove`] once acted on.
    pub async fn take_in(&self, queued: &mut Vec<Wake>) -> Vec<String> {
        let letters = match self.inbox.take().await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, inbox = %self.inbox.location(), "cannot read the inbox; trying again later");
                return Vec::new();
            }
        };
        let mut taken = Vec::new();
        for letter in letters {
            match serde_json::from_slice::<Delivery>(&letter.body) {
                Ok(d) if self.handed.forget(&d.id) | self.seen.first_time(&d.id) => {
                    tracing::info!(delivery = %d.id, "taking a delivery a standby received");
                    queued.push(Wake::Event(d));
                }
                Ok(d) => {
                    tracing::info!(delivery = %d.id, "handed-over delivery already seen: ignored")
                }
                Err(e) => {
                    tracing::warn!(key = %letter.key, error = %e, "unreadable delivery in the inbox: removed")
                }
            }
            taken.push(letter.key);
        }
        taken
    }

    /// Delete what [`Handoff::take_in`] took (its work is done).
    pub async fn remove(&self, taken: &[String]) {
        for key in taken {
            if let Err(e) = self.inbox.remove(key).await {
                tracing::warn!(error = %e, %key, "cannot remove a delivery from the inbox; it may be acted on again");
            }
        }
    }
}

/// This agent's part in one turn of the loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Turn {
    /// It holds the lease (or there is none): it acts.
    Active,
    /// Another agent holds the lease.
    Standby,
    /// The lease could not be read: nobody is known to act.
    Unsure,
}

/// True when the only wake-ups are inbox checks (then the lease is not renewed for them).
pub fn only_inbox_checks(queued: &[Wake]) -> bool {
    !queued.is_empty() && queued.iter().all(|w| *w == Wake::Inbox)
}

/// The turn of an inbox check: not a look, so the lease is not asked (it is renewed at the
/// polls); the holder reads the inbox, anyone else has nothing to do.
pub fn inbox_turn(lease: &crate::state::lease::Lease) -> Turn {
    if lease.is_held() {
        Turn::Active
    } else {
        Turn::Standby
    }
}

/// Active: [`Handoff::take_in`], when there is a hand-over (an S3 journal).
pub async fn take_in(handoff: Option<&Handoff>, queued: &mut Vec<Wake>) -> Vec<String> {
    match handoff {
        Some(h) => h.take_in(queued).await,
        None => Vec::new(),
    }
}

/// Not active: a standby hands its deliveries over, an unsure agent keeps them; without a
/// hand-over the wake-ups are dropped (no other agent could act on them anyway).
pub async fn set_aside(handoff: Option<&Handoff>, queued: &mut Vec<Wake>, turn: Turn) {
    match handoff {
        Some(h) => h.hand_over(queued, turn == Turn::Standby).await,
        None => queued.clear(),
    }
}

/// [`Handoff::remove`], when there is a hand-over.
pub async fn remove(handoff: Option<&Handoff>, taken: &[String]) {
    if let Some(h) = handoff {
        h.remove(taken).await;
    }
}

/// Sends [`Wake::Inbox`] every `interval` of real time (a thread, like the poll timer).
pub fn inbox_timer(interval: Duration, wakes: tokio::sync::mpsc::Sender<Wake>) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(interval);
            if wakes.try_send(Wake::Inbox).is_err() && wakes.is_closed() {
                return;
            }
        }
    });
}
