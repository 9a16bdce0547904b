//! Accepted deliveries waiting for the agent. Nothing accepted is dropped: the webhook answers
//! 202 only once the delivery is here. The queue stays short by folding, not by refusing:
//! a pull request's newer head replaces its older pending preview (one per PR number), and a
//! push replaces a pending push (a look fetches every ref anyway). Pull-request actions that
//! ask for no preview (closed, labeled, …) are not kept at all.

use super::webhook::{Delivery, Event};
use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::Notify;

/// The pull-request actions that change what a preview shows.
pub fn asks_for_preview(action: &str) -> bool {
    matches!(action, "opened" | "synchronize" | "reopened")
}

/// What [`DeliveryQueue::push`] did with a delivery.
#[derive(Debug, PartialEq, Eq)]
pub enum Queued {
    /// Added at the end.
    Added,
    /// Took the place of an older pending delivery for the same thing.
    Replaced,
    /// Asks for nothing the agent does.
    Ignored,
}

#[derive(Default)]
pub struct DeliveryQueue {
    pending: Mutex<VecDeque<Delivery>>,
    ready: Notify,
}

impl DeliveryQueue {
    /// Keep `delivery` until the agent takes it, folding it into what is already pending.
    pub fn push(&self, delivery: Delivery) -> Queued {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let outcome = fold(&mut pending, delivery);
        drop(pending);
        if outcome != Queued::Ignored {
            self.ready.notify_one();
        }
        outcome
    }

    /// The oldest pending delivery, waiting for one when there is none.
    pub async fn next(&self) -> Delivery {
        loop {
            // Registered before the check so a push between the check and the wait still wakes.
            let ready = self.ready.notified();
            if let Some(d) = self.take() {
                return d;
            }
            ready.await;
        }
    }

    /// The oldest pending delivery, if any.
    pub fn take(&self) -> Option<Delivery> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.pop_front()
    }

    pub fn len(&self) -> usize {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether two events ask for the same work, so only the newer need be kept.
fn same_work(a: &Event, b: &Event) -> bool {
    match (a, b) {
        (Event::Push { .. }, Event::Push { .. }) => true,
        (Event::PullRequest { number: x, .. }, Event::PullRequest { number: y, .. }) => x == y,
        _ => false,
    }
}

fn fold(pending: &mut VecDeque<Delivery>, delivery: Delivery) -> Queued {
    if let Event::PullRequest { action, .. } = &delivery.event
        && !asks_for_preview(action)
    {
        return Queued::Ignored;
    }
    match pending
        .iter_mut()
        .find(|d| same_work(&d.event, &delivery.event))
    {
        Some(older) => {
            *older = delivery;
            Queued::Replaced
        }
        None => {
            pending.push_back(delivery);
            Queued::Added
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pr(id: &str, number: u64, action: &str, head: &str) -> Delivery {
        Delivery {
            id: id.into(),
            event: Event::PullRequest {
                number,
                action: action.into(),
                head_sha: head.into(),
                base_sha: "base".into(),
                base_ref: "main".into(),
            },
        }
    }

    fn push(id: &str, after: &str) -> Delivery {
        Delivery {
            id: id.into(),
            event: Event::Push {
                git_ref: "refs/heads/main".into(),
                after: after.into(),
            },
        }
    }

    #[test]
    fn one_pending_preview_per_pull_request_with_the_newest_head() {
        let q = DeliveryQueue::default();
        assert_eq!(q.push(pr("a", 7, "opened", "h1")), Queued::Added);
        assert_eq!(q.push(pr("b", 8, "opened", "x1")), Queued::Added);
        assert_eq!(q.push(pr("c", 7, "synchronize", "h2")), Queued::Replaced);
        assert_eq!(q.push(pr("d", 7, "labeled", "h2")), Queued::Ignored);
        assert_eq!(q.len(), 2);
        // PR 7 keeps its place in the line, with its newest head.
        assert_eq!(q.take(), Some(pr("c", 7, "synchronize", "h2")));
        assert_eq!(q.take(), Some(pr("b", 8, "opened", "x1")));
        assert!(q.take().is_none());
    }

    #[test]
    fn pushes_fold_into_one_and_never_displace_a_preview() {
        let q = DeliveryQueue::default();
        q.push(push("p1", "a"));
        q.push(pr("x", 1, "opened", "h"));
        assert_eq!(q.push(push("p2", "b")), Queued::Replaced);
        assert_eq!(q.len(), 2);
        assert_eq!(q.take(), Some(push("p2", "b")));
    }

    #[test]
    fn thousands_of_distinct_pull_requests_are_all_kept() {
        let q = DeliveryQueue::default();
        for n in 0..5_000 {
            q.push(pr(&n.to_string(), n, "opened", "h"));
        }
        assert_eq!(q.len(), 5_000);
    }

    #[tokio::test]
    async fn next_waits_for_a_delivery() {
        let q = std::sync::Arc::new(DeliveryQueue::default());
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.next().await }
        });
        tokio::task::yield_now().await;
        q.push(push("p", "a"));
        assert_eq!(waiter.await.unwrap(), push("p", "a"));
    }
}
