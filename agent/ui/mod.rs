//! The status page `amagent run` serves on its listen address: an overview of environments ×
//! services (`GET /`), each service's deploy history (`GET /services/{env}/{service}`), and the
//! rollouts in flight, live (`GET /events`, server-sent events).
//!
//! - `board.rs`: [`Board`], what the agent publishes for the page — a [`Snapshot`] after each
//!   look that changed something (what runs, from `status`, and the journal) and the live feed;
//! - `live.rs`: [`Tee`], the `Progress` that hands the deploy engine's progress to the console
//!   and to the feed (a tokio broadcast channel), and the latest state of each rollout;
//! - `model.rs` (pure): snapshot → what the page shows; `page.rs`: the HTML (maud);
//! - `auth.rs`: who may look (loopback: anyone; beyond it a bearer token, the login form's
//!   cookie, or an authenticating proxy's header); `routes.rs`: the handlers.
//!
//! Read-only: nothing here changes the agent or AWS. Must not know: the daemon, AWS, git.

pub mod auth;
mod board;
mod live;
pub mod model;
pub mod page;
pub mod routes;

pub use board::{Board, EnvSnapshot, ServiceSnapshot, Snapshot};
pub use live::{LiveEvent, LiveState, Tee};
