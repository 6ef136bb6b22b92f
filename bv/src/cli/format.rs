//! How `bv` prints: text for people, JSON for scripts.

use clap::ValueEnum;

/// Output format of every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}
