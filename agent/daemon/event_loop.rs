//! The agent's loop: one thing at a time, woken by the poll timer, webhook events or a stop.
//! Wake-ups that arrive while a deploy runs are coalesced: however many pushes landed, the
//! next look plans once to the newest head; each pull-request preview is kept.

use super::Agent;
use super::handoff::{self, Turn};
use super::previews::PreviewRequest;
use crate::state::lease::{Lease, LeaseState};
use crate::watch::webhook::{Delivery, Event};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wake {
    /// The poll interval passed.
    Poll,
    /// A webhook delivery was accepted.
    Event(Delivery),
    /// Time to look in the inbox of deliveries a standby handed over (`handoff.rs`).
    Inbox,
}

/// A pull-request comment with a command: (pull request, author, body).
type Command = (u64, String, String);

/// What the loop does next, from the wake-ups queued so far (pure): a look?, the previews,
/// the commands (an approval makes a look due: it may promote).
fn coalesce(wakes: Vec<Wake>) -> (bool, Vec<PreviewRequest>, Vec<Command>) {
    let mut look = false;
    let mut previews: Vec<PreviewRequest> = Vec::new();
    let mut commands = Vec::new();
    for w in wakes {
        match w {
            Wake::Inbox => {}
            Wake::Poll => look = true,
            Wake::Event(Delivery { id, event }) => match event {
                Event::Push { .. } => look = true,
                Event::Command {
                    number,
                    author,
                    body,
                } => {
                    commands.push((number, author, body));
                    look = true;
                }
                other => {
                    if let Some(p) = PreviewRequest::from_event(&id, &other) {
                        // The newest head of a pull request replaces an older queued one.
                        previews.retain(|q| q.number != p.number);
                        previews.push(p);
                    }
                }
            },
        }
    }
    (look, previews, commands)
}

/// Run until `stop` turns true. `stop` set while a deploy runs lets it finish (its gate
/// decides); `interrupt` set means finish no more: the running apply is recorded as
/// interrupted and the loop returns.
///
/// With a `lease` (an S3 journal), only the holder acts: the others wait as standbys and take
/// over when it expires; the holder renews it every third of its TTL, also during a deploy.
pub async fn run(
    agent: &mut Agent,
    mut wakes: mpsc::Receiver<Wake>,
    stop: watch::Receiver<bool>,
    mut interrupt: watch::Receiver<bool>,
    mut lease: Option<(Lease, Duration)>,
) {
    let mut queued = vec![Wake::Poll];
    let mut standby_for: Option<String> = None;
    let mut was_active = false;
    loop {
        if *stop.borrow() {
            tracing::info!("stopping: no new deploys");
            if let Some((l, _)) = lease.as_mut().filter(|(l, _)| l.is_held()) {
                // Hand over at once rather than make the standby wait out the TTL.
                let _ = l.release(agent.clock.now()).await;
            }
            return;
        }
        while let Ok(w) = wakes.try_recv() {
            queued.push(w);
        }
        let turn = match lease.as_mut() {
            Some((l, _)) if handoff::only_inbox_checks(&queued) => handoff::inbox_turn(l),
            Some((l, _)) => take_turn(l, agent, &mut standby_for, was_active).await,
            None => Turn::Active,
        };
        let active = turn == Turn::Active;
        was_active = active;
        let mut taken = Vec::new();
        let (look, previews, commands) = if active {
            taken = handoff::take_in(agent.handoff.as_ref(), &mut queued).await;
            coalesce(std::mem::take(&mut queued))
        } else {
            handoff::set_aside(agent.handoff.as_ref(), &mut queued, turn).await;
            (false, Vec::new(), Vec::new())
        };
        let clock = agent.clock.clone();
        let mut again = Vec::new();
        let work = look_and_preview(agent, (look, previews, commands), &mut again);
        let renew = async {
            let Some((l, ttl)) = lease.as_mut().filter(|(l, _)| l.is_held()) else {
                return std::future::pending().await;
            };
            loop {
                tokio::time::sleep(*ttl / 3).await;
                if let Err(e) = l.renew(clock.now()).await {
                    tracing::error!(error = %e, "lost the lease during work: it makes no further change to AWS (not even a rollback), then stands by");
                    return std::future::pending().await;
                }
            }
        };
        let interrupted = tokio::select! {
            _ = work => false,
            _ = interrupt.wait_for(|i| *i) => true,
            () = renew => false,
        };
        queued.extend(again.into_iter().map(PreviewRequest::again));
        handoff::remove(agent.handoff.as_ref(), &taken).await;
        if interrupted {
            agent.interrupted().await;
            return;
        }
        let mut stop_wait = stop.clone();
        tokio::select! {
            w = wakes.recv() => match w {
                Some(w) => queued.push(w),
                None => return,
            },
            _ = stop_wait.wait_for(|s| *s) => {}
        }
    }
}

/// Asks for the lease: active when this agent holds it and may act now. Logs a change of role
/// once, not at every look.
async fn take_turn(
    l: &mut Lease,
    agent: &Agent,
    standby_for: &mut Option<String>,
    was_active: bool,
) -> Turn {
    match l.try_acquire(agent.clock.now()).await {
        Ok(LeaseState::Held { expires_at }) => {
            if !was_active {
                tracing::warn!(holder = l.holder(), %expires_at, "holding the lease: this agent is the active one");
            }
            *standby_for = None;
            Turn::Active
        }
        Ok(LeaseState::HeldByOther { holder, expires_at }) => {
            if standby_for.as_deref() != Some(holder.as_str()) {
                tracing::info!(%holder, %expires_at, "standby: another agent holds the lease; taking over if it lapses");
                *standby_for = Some(holder);
            }
            Turn::Standby
        }
        Err(e) => {
            tracing::error!(error = %e, "the lease: not acting this time");
            Turn::Unsure
        }
    }
}

/// One turn's work: the queued plan previews, then a look at the repository if one is due.
/// Previews this turn could not do go to `again`.
async fn look_and_preview(
    agent: &mut Agent,
    (look, previews, commands): (bool, Vec<PreviewRequest>, Vec<Command>),
    again: &mut Vec<PreviewRequest>,
) {
    *again = agent.previews(previews).await;
    for (pr, author, body) in commands {
        agent.on_command(pr, &author, &body).await;
    }
    if look {
        match agent.tick().await {
            Ok(t) => {
                tracing::debug!(head = %t.head, applied = t.applied.len(), "looked at the repository");
                agent.publish(&t).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot apply the environments repo; retrying at the next poll")
            }
        }
    }
}

/// Sends [`Wake::Poll`] every `interval` of real time, from a thread of its own (the agent's
/// runtime may run on the simulator's virtual clock).
pub fn poll_timer(interval: Duration, wakes: mpsc::Sender<Wake>) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(interval);
            // A full queue already holds a wake-up.
            match wakes.try_send(Wake::Poll) {
                Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pr(number: u64, action: &str, head: &str) -> Wake {
        Wake::Event(Delivery {
            id: format!("d-{number}-{head}"),
            event: Event::PullRequest {
                number,
                action: action.into(),
                head_sha: head.into(),
                base_sha: "base".into(),
                base_ref: "main".into(),
            },
        })
    }

    #[test]
    fn pushes_coalesce_and_previews_keep_the_newest_head() {
        let push = || {
            Wake::Event(Delivery {
                id: "d-push".into(),
                event: Event::Push {
                    git_ref: "refs/heads/main".into(),
                    after: "x".into(),
                },
            })
        };
        let (look, previews, _) = coalesce(vec![
            push(),
            pr(7, "opened", "a"),
            Wake::Poll,
            pr(7, "synchronize", "b"),
            pr(8, "closed", "c"),
            push(),
        ]);
        assert!(look);
        let newest: Vec<_> = previews
            .iter()
            .map(|p| (p.number, p.head_sha.as_str()))
            .collect();
        assert_eq!(newest, [(7, "b")]);
        let (look, previews, _) = coalesce(vec![pr(9, "labeled", "d")]);
        assert!(!look);
        assert!(previews.is_empty());
    }
}
