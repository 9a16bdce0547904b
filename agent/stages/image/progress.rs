//! Upload progress per blob: an indicatif bar each when stderr is a terminal (cleared when the
//! blob is done, so the push's own output is unchanged), and byte counts in tracing at debug
//! (`-v`) either way.

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// The bars of one push.
pub(crate) struct PushProgress {
    multi: Option<MultiProgress>,
}

impl PushProgress {
    pub fn new() -> Self {
        PushProgress {
            multi: std::io::stderr().is_terminal().then(MultiProgress::new),
        }
    }

    /// A bar for one blob of `size` bytes (none outside a terminal).
    pub fn blob(&self, digest: &str, size: u64) -> BlobProgress {
        let bar = self.multi.as_ref().map(|multi| {
            let bar = multi.add(ProgressBar::new(size));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                )
                .expect("static template")
                .progress_chars("=> "),
            );
            bar.set_prefix(short(digest).to_string());
            bar
        });
        BlobProgress {
            bar,
            digest: digest.to_string(),
            size,
        }
    }
}

/// `sha256:0123456789ab…` → `0123456789ab`
fn short(digest: &str) -> &str {
    let hex = digest.split_once(':').map_or(digest, |(_, hex)| hex);
    &hex[..hex.len().min(12)]
}

pub(crate) struct BlobProgress {
    bar: Option<ProgressBar>,
    digest: String,
    size: u64,
}

impl BlobProgress {
    /// Counts bytes read from the layout and handed to the connection (for a request body,
    /// which outlives this borrow).
    pub fn counter(&self) -> impl Fn(u64) + Send + Sync + 'static {
        let bar = self.bar.clone();
        move |bytes| {
            if let Some(bar) = &bar {
                bar.inc(bytes);
            }
        }
    }

    /// The registry holds `offset` bytes: at a chunk's end, or where a resume starts over.
    pub fn at(&self, offset: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(offset);
        }
        tracing::debug!(digest = %self.digest, bytes = offset, of = self.size, "blob upload");
    }

    pub fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for BlobProgress {
    fn drop(&mut self) {
        // A failed upload leaves no stale bar behind.
        self.done();
    }
}
