//! Where rollout progress goes: the console (plain lines or indicatif bars, chosen by the CLI),
//! or nowhere (tests). The engine only calls this trait.

/// Receives progress as it happens. Messages never contain secrets.
pub trait Progress: Send + Sync {
    /// A step of `service` in `env` started or changed.
    fn step(&self, env: &str, service: &str, message: &str);
    /// `service` is done; `message` is the verdict line.
    fn done(&self, env: &str, service: &str, succeeded: bool, message: &str);
}

/// Discards progress.
pub struct Silent;

impl Progress for Silent {
    fn step(&self, _: &str, _: &str, _: &str) {}
    fn done(&self, _: &str, _: &str, _: bool, _: &str) {}
}
