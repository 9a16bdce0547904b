//! tracing-subscriber set-up: logs to stderr, `RUST_LOG` wins over `-v`.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// `verbose` counts `-v`: 0 warn, 1 info, 2 debug, 3+ trace.
pub fn init(verbose: u8, format: LogFormat) {
    let default = match verbose {
        // The credential chain logs each provider it tries at warn: noise unless asked for.
        0 => "warn,aws_config=error",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        // Its own fallback is eprintln!, which panics when stderr is closed.
        .log_internal_errors(false);
    // try_init: tests may call this more than once in a process.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
