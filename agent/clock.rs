//! Time for the agent: calendar time for records and names, and sleeping between polls.
//!
//! Built on tokio's clock, so the same code runs on real time in production and on virtual
//! time under the simulator (a runtime started with paused time auto-advances whenever every
//! task is waiting: a 15-minute rollout takes milliseconds, deterministically).

use chrono::{DateTime, Utc};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Clock {
    /// Calendar time at `origin`.
    epoch: DateTime<Utc>,
    origin: tokio::time::Instant,
}

impl Clock {
    /// Real calendar time.
    pub fn system() -> Self {
        Clock {
            epoch: Utc::now(),
            origin: tokio::time::Instant::now(),
        }
    }

    /// A clock that reads `epoch` now (for the simulator and tests: reproducible timestamps).
    pub fn starting_at(epoch: DateTime<Utc>) -> Self {
        Clock {
            epoch,
            origin: tokio::time::Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now() - self.origin;
        self.epoch + chrono::Duration::from_std(elapsed).unwrap_or(chrono::TimeDelta::MAX)
    }

    /// Time since this clock started.
    pub fn elapsed(&self) -> Duration {
        tokio::time::Instant::now() - self.origin
    }

    pub async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// Await real work — a build, a registry push or copy, a call to GitHub — so that, under the
/// simulator's paused clock, virtual time advances by the work's real duration. (Paused, tokio
/// jumps to the next timer whenever the runtime idles, so an awaited build would otherwise
/// take as long as the next poll or bake, minutes of virtual time.) Outside paused time it
/// only awaits `work`.
pub async fn real_work<F: Future>(work: F) -> F::Output {
    let _real = RealTime::begin();
    work.await
}

/// [`real_work`] for synchronous work on the runtime thread (a git fetch with git2): paused
/// time would otherwise stand still while it runs.
pub fn real_work_blocking<T>(work: impl FnOnce() -> T) -> T {
    let _real = RealTime::begin();
    work()
}

thread_local! {
    /// Real work in progress on this thread's current-thread runtime, whose clock this module
    /// resumed: the first to begin resumes it, the last to end pauses it again.
    static REAL_WORK: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// While held, the runtime's clock runs in real time (if it was paused, or resumed by another
/// holder on this thread).
struct RealTime {
    counted: bool,
}

impl RealTime {
    fn begin() -> RealTime {
        let counted = REAL_WORK.with(|n| {
            if n.get() == 0 {
                if !clock_paused() {
                    return false;
                }
                tokio::time::resume();
            }
            n.set(n.get() + 1);
            true
        });
        RealTime { counted }
    }
}

impl Drop for RealTime {
    fn drop(&mut self) {
        if !self.counted {
            return;
        }
        REAL_WORK.with(|n| {
            n.set(n.get() - 1);
            // A runtime shutting down may drop the work outside its context: nothing to pause.
            if n.get() == 0 && tokio::runtime::Handle::try_current().is_ok() {
                tokio::time::pause();
            }
        });
    }
}

/// Whether this thread's runtime runs on paused time. tokio has no query for it: paused
/// time is frozen between two reads unless the runtime advances it, which it cannot do while
/// this thread runs; running time moves with the system clock. Only a current-thread runtime
/// can pause (resume/pause panic elsewhere).
fn clock_paused() -> bool {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::CurrentThread => {}
        _ => return false,
    }
    let before = tokio::time::Instant::now();
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_micros(2) {
        std::hint::spin_loop();
    }
    tokio::time::Instant::now() == before
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two overlapping pieces of real work of 300 ms each, started 100 ms apart, while a
    /// virtual 10-minute timer is pending: virtual time moves by their real span (~400 ms),
    /// not to the timer; afterwards time is paused again (the timer's 10 minutes pass at once).
    #[tokio::test(start_paused = true)]
    async fn real_work_advances_paused_time_by_its_real_duration() {
        let clock = Clock::starting_at(chrono::Utc::now());
        let timer = tokio::spawn(tokio::time::sleep(Duration::from_secs(600)));
        let real = std::time::Instant::now();
        let work = |delay: u64| {
            real_work(async move {
                std::thread::sleep(Duration::from_millis(delay));
                // Awaiting real I/O: the runtime idles here.
                let (tx, rx) = tokio::sync::oneshot::channel();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(300 - delay));
                    let _ = tx.send(());
                });
                rx.await.unwrap();
            })
        };
        tokio::join!(work(0), work(100));
        let virtual_span = clock.elapsed();
        let real_span = real.elapsed();
        // Slack for a loaded machine; the failure this guards against is off by minutes.
        assert!(
            virtual_span >= real_span.saturating_sub(Duration::from_millis(250))
                && virtual_span <= real_span + Duration::from_millis(250),
            "virtual {virtual_span:?} for real {real_span:?}"
        );
        assert!(clock_paused(), "time is paused again after the work");
        timer.await.unwrap();
        assert!(clock.elapsed() >= Duration::from_secs(600));
        assert!(real.elapsed() < Duration::from_secs(60));
    }

    #[tokio::test]
    async fn real_work_on_running_time_only_awaits() {
        assert!(!clock_paused());
        assert_eq!(real_work(async { 7 }).await, 7);
        assert_eq!(real_work_blocking(|| 8), 8);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn real_work_on_a_multi_thread_runtime_only_awaits() {
        assert_eq!(real_work(async { 7 }).await, 7);
    }
}
