//! `amagent run`'s status page: its routes beside the webhook's, and the progress that feeds
//! its live part (see `ui`).

use super::progress::ConsoleProgress;
use crate::stages::deploy::Progress;
use crate::ui::auth::Access;
use crate::ui::routes::{UiState, router as ui_router};
use crate::ui::{Board, Tee};
use std::net::SocketAddr;
use std::sync::Arc;

/// The page's routes on `addr`, with its access rules from the environment.
pub(super) fn router(addr: SocketAddr, board: Arc<Board>) -> Result<axum::Router, String> {
    let access = Access::from_env(addr)?;
    Ok(ui_router(Arc::new(UiState::new(board, access))))
}

/// The console's progress, teed to the page's live feed when there is a page.
pub(super) fn progress(console: ConsoleProgress, board: Option<Arc<Board>>) -> Arc<dyn Progress> {
    match board {
        Some(board) => Arc::new(Tee {
            console: Arc::new(console),
            board,
        }),
        None => Arc::new(console),
    }
}
