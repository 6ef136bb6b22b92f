//! Standard output that never panics when its reader has gone (`bv node info x | head`).
//! The first failed write marks stdout closed: later lines are dropped, streaming commands
//! stop at their next line ([`closed`]), and the binary exits quietly with 141, the status
//! of a process ended by SIGPIPE.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes one line to stdout; a failed write marks stdout closed instead of panicking.
pub fn line(args: std::fmt::Arguments<'_>) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{args}").and_then(|()| out.flush()).is_err() {
        CLOSED.store(true, Ordering::Relaxed);
    }
}

/// True once a write to stdout failed (the reader closed the pipe).
pub fn closed() -> bool {
    CLOSED.load(Ordering::Relaxed)
}

/// `println!` that does not panic on a closed stdout; see [`line`].
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::out::line(format_args!($($arg)*))
    };
}
