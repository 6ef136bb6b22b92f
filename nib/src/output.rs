//! Where progress goes. With `--format json` stdout carries exactly one JSON document (the
//! command's result, or `{"ok": false, "error": ...}`), so progress goes to stderr instead.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::cli::Format;

static JSON: AtomicBool = AtomicBool::new(false);

/// Set once at start from `--format`.
pub fn set_format(format: Format) {
    JSON.store(format == Format::Json, Ordering::Relaxed);
}

/// Whether stdout is reserved for the JSON result.
pub fn json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// A progress line: stdout in text mode, stderr in JSON mode.
macro_rules! say {
    ($($arg:tt)*) => {
        if $crate::output::json() {
            eprintln!($($arg)*);
        } else {
            println!($($arg)*);
        }
    };
}
pub(crate) use say;
