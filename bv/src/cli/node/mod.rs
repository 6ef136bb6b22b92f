//! `bv node …`: one file per verb, [`dispatch`] hands each subcommand to its verb.

pub mod capabilities;
pub mod command;
pub mod common;
pub mod create;
pub mod delete;
pub mod dispatch;
pub mod info;
pub mod list;
pub mod logs;
pub mod reload_plugin;
pub mod restart;
pub mod run_method;
pub mod shell;
pub mod start;
pub mod status;
pub mod stop;
pub mod upgrade;

pub use command::{CreateArgs, NodeCommand, UpgradeArgs};
pub use create::create_request;
pub use dispatch::run;
