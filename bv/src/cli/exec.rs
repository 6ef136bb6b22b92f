//! What a command leaves for the `bv` binary to do: most are done when they return, `bv node
//! shell` hands over a program to run in the foreground. Spawning it and exiting with its
//! status are effects of the binary, never of this library.

use std::ffi::OsString;

/// A program to run in the foreground; `bv` exits with its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecPlan {
    pub program: OsString,
    pub args: Vec<OsString>,
    /// Names the step in an error when the program cannot be started.
    pub what: String,
}

/// The end of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Everything is done.
    Done,
    /// Run this program next.
    Exec(ExecPlan),
}
