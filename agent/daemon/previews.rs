//! Plan previews of open pull requests: what merging each would do. One fetch serves all the
//! previews of a turn; a commit the fetch did not bring is asked for by id; a base commit that
//! is gone for good is replaced by the point where the pull request left its base branch, and
//! when even that is unknown the comment says so rather than compare against nothing.

use super::*;
use crate::watch::webhook::{self, Event};

/// A pull request to preview, as its newest delivery described it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviewRequest {
    /// The delivery that asked (kept to ask again when this turn cannot preview).
    pub delivery: String,
    pub number: u64,
    pub base_sha: String,
    pub head_sha: String,
    pub base_ref: String,
}

impl PreviewRequest {
    /// The request, when `event` asks for a preview.
    pub fn from_event(delivery: &str, event: &Event) -> Option<PreviewRequest> {
        match event {
            Event::PullRequest {
                number,
                action,
                head_sha,
                base_sha,
                base_ref,
            } if crate::watch::queue::asks_for_preview(action) => Some(PreviewRequest {
                delivery: delivery.to_string(),
                number: *number,
                base_sha: base_sha.clone(),
                head_sha: head_sha.clone(),
                base_ref: base_ref.clone(),
            }),
            _ => None,
        }
    }

    /// Back into a wake-up, to be tried at the next turn.
    pub fn again(self) -> Wake {
        Wake::Event(webhook::Delivery {
            id: self.delivery,
            event: Event::PullRequest {
                number: self.number,
                action: "synchronize".into(),
                head_sha: self.head_sha,
                base_sha: self.base_sha,
                base_ref: self.base_ref,
            },
        })
    }
}

/// What a preview compares with.
enum Base {
    /// The pull request's own base commit.
    Exact(String),
    /// Where the head left the base branch (the base commit is gone).
    ForkPoint(String),
}

impl Agent {
    /// Preview each request. Returns those this turn could not do (the repository could not be
    /// fetched), to be asked again.
    pub async fn previews(&mut self, requests: Vec<PreviewRequest>) -> Vec<PreviewRequest> {
        if requests.is_empty() {
            return requests;
        }
        if let Err(e) = self.fetch() {
            tracing::error!(error = %e, count = requests.len(), "cannot fetch for the plan previews; trying again at the next turn");
            return requests;
        }
        for r in &requests {
            let body = self.preview_body(r);
            if let Err(e) = self
                .reporter
                .upsert_comment(r.number, preview::MARKER, &body)
                .await
            {
                tracing::warn!(error = %e, pr = r.number, "cannot post the plan preview");
            }
        }
        Vec::new()
    }

    fn preview_body(&self, r: &PreviewRequest) -> String {
        if !self.find_commit(&r.head_sha) {
            return preview::render_missing("head", &r.head_sha, r.number);
        }
        let repo = self.repo.as_ref().expect("fetched");
        let base = if self.find_commit(&r.base_sha) {
            Base::Exact(r.base_sha.clone())
        } else {
            match repo.fork_point(&r.head_sha, &r.base_ref) {
                Some(oid) => Base::ForkPoint(oid.to_string()),
                None => return preview::render_missing("base", &r.base_sha, r.number),
            }
        };
        let (base_sha, note) = match &base {
            Base::Exact(sha) => (sha.as_str(), String::new()),
            Base::ForkPoint(sha) => (
                sha.as_str(),
                preview::fork_point_note(&r.base_sha, &r.base_ref, sha),
            ),
        };
        let Ok(old) = repo.model_at(base_sha) else {
            // An invalid base: everything the head has is new; the head's own problems matter more.
            return self.render(Default::default(), base_sha, &r.head_sha, &note);
        };
        self.render(old, base_sha, &r.head_sha, &note)
    }

    fn render(&self, old: Model, base: &str, head: &str, note: &str) -> String {
        let repo = self.repo.as_ref().expect("fetched");
        let body = match repo.model_at(head) {
            Ok(new) => preview::render_preview(base, head, Ok(&crate::plan::plan(&old, &new))),
            Err(RepoError::InvalidConfig { diagnostics, .. }) => {
                preview::render_preview(base, head, Err(&diagnostics.to_string()))
            }
            Err(e) => preview::render_preview(base, head, Err(&e.to_string())),
        };
        format!("{body}{note}")
    }

    /// Whether `sha` is here, fetching it by id when the branch fetch did not bring it.
    fn find_commit(&self, sha: &str) -> bool {
        let repo = self.repo.as_ref().expect("fetched");
        if repo.has_commit(sha) {
            return true;
        }
        let fetched = crate::clock::real_work_blocking(|| {
            repo.fetch_commit(&self.settings.url, &self.settings.credentials, sha)
        });
        if let Err(e) = &fetched {
            tracing::info!(error = %e, commit = %sha, "the commit is not on the remote either");
        }
        repo.has_commit(sha)
    }
}
