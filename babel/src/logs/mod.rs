//! Job log files: the runner appends job output with size-based rotation ([`writer`]); the
//! agent tails and follows them for the `JobLogs` RPC with bounded memory ([`tail`]).

pub mod tail;
pub mod writer;

/// Longest line kept whole; longer output is split into lines of this size.
pub const MAX_LINE: usize = 16 * 1024;
/// Rotated files kept next to `logs` (`logs.1`, `logs.2`).
pub const ROTATED_FILES: usize = 2;
