//! Rollout progress on the console: one indicatif spinner per service in an interactive
//! terminal, plain timestamped lines otherwise (CI logs, pipes). Always on stderr.

use crate::clock::Clock;
use crate::stages::deploy::Progress;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Whether a spinner line was drawn and the terminal's cursor still sits at its end: indicatif
/// leaves the last line open, and a summary printed now would run on from it.
static LINE_OPEN: AtomicBool = AtomicBool::new(false);

/// End the last progress line (if one is open) before a summary goes to the terminal.
pub fn close_line() {
    if LINE_OPEN.swap(false, Ordering::SeqCst) {
        crate::errln!();
    }
}

pub struct ConsoleProgress {
    clock: Clock,
    bars: Option<(MultiProgress, Mutex<HashMap<String, ProgressBar>>)>,
}

impl ConsoleProgress {
    pub fn new(clock: Clock) -> Self {
        let bars = std::io::stderr()
            .is_terminal()
            .then(|| (MultiProgress::new(), Mutex::new(HashMap::new())));
        ConsoleProgress { clock, bars }
    }

    fn stamp(&self) -> String {
        format!("[{:>6}]", format!("+{}s", self.clock.elapsed().as_secs()))
    }

    fn bar(&self, key: &str) -> Option<ProgressBar> {
        let (multi, bars) = self.bars.as_ref()?;
        let mut bars = bars.lock().unwrap_or_else(|p| p.into_inner());
        LINE_OPEN.store(true, Ordering::SeqCst);
        Some(
            bars.entry(key.to_string())
                .or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} {prefix:.bold} {msg}")
                            .expect("static template"),
                    );
                    bar.set_prefix(key.to_string());
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar
                })
                .clone(),
        )
    }
}

impl Progress for ConsoleProgress {
    fn step(&self, env: &str, service: &str, message: &str) {
        let key = format!("{env}/{service}");
        match self.bar(&key) {
            Some(bar) => bar.set_message(format!("{} {message}", self.stamp())),
            None => crate::errln!("{} {key}: {message}", self.stamp()),
        }
    }

    fn done(&self, env: &str, service: &str, succeeded: bool, message: &str) {
        let key = format!("{env}/{service}");
        let mark = if succeeded { "✓" } else { "✗" };
        match self.bar(&key) {
            Some(bar) => bar.finish_with_message(format!("{} {mark} {message}", self.stamp())),
            None => crate::errln!("{} {key}: {mark} {message}", self.stamp()),
        }
    }
}
