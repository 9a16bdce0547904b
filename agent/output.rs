//! Printing that never aborts work: `outln!`/`out!` (stdout) and `errln!` (stderr) write like
//! `println!`/`eprintln!` but ignore a failed write (EPIPE from `amagent deploy | head`, a
//! closed terminal) instead of panicking, and remember it. A deploy whose reader went away
//! still finishes or rolls back and journals its decision; the exit code stays the work's.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_LOST: AtomicBool = AtomicBool::new(false);

/// Some output to stdout could not be written (the reader closed it).
pub fn stdout_lost() -> bool {
    STDOUT_LOST.load(Ordering::Relaxed)
}

#[doc(hidden)]
pub fn write_stdout(args: std::fmt::Arguments<'_>, newline: bool) {
    if write(std::io::stdout().lock(), args, newline).is_err() {
        STDOUT_LOST.store(true, Ordering::Relaxed);
    }
}

#[doc(hidden)]
pub fn write_stderr(args: std::fmt::Arguments<'_>) {
    // Nowhere left to say it: stderr is where failures would be told.
    let _ = write(std::io::stderr().lock(), args, true);
}

fn write(mut w: impl Write, args: std::fmt::Arguments<'_>, newline: bool) -> std::io::Result<()> {
    w.write_fmt(args)?;
    if newline {
        w.write_all(b"\n")?;
    }
    Ok(())
}

/// `println!` that never panics (see the module).
#[macro_export]
macro_rules! outln {
    () => { $crate::output::write_stdout(format_args!(""), true) };
    ($($arg:tt)*) => { $crate::output::write_stdout(format_args!($($arg)*), true) };
}

/// `print!` that never panics (see the module).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::write_stdout(format_args!($($arg)*), false) };
}

/// `eprintln!` that never panics (see the module).
#[macro_export]
macro_rules! errln {
    () => { $crate::output::write_stderr(format_args!("")) };
    ($($arg:tt)*) => { $crate::output::write_stderr(format_args!($($arg)*)) };
}
