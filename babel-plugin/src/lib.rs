//! The Rhai plugin host.
//!
//! The host loads a node's `main.rhai`, exposes the babel functions to it and runs its
//! methods; the linter checks a plugin directory statically and by a dry run against a stub
//! engine. Every node-side effect goes through [`babel_api::engine::Engine`].
//!
//! * [`Plugin`]: one per node; calls are blocking (run them on a blocking thread).
//! * [`config`]: the typed, strictly parsed `plugin_config`.
//! * [`defaults`]: the built-in `init` / `upload` procedures.
//! * [`lint()`]: static and dry-run checks of a plugin directory.
//!
//! Only host-side tools link this crate; the in-node agent needs only `babel-api`.

mod cancel;
pub mod config;
pub mod defaults;
mod error;
mod functions;
mod host;
mod limits;
pub mod lint;
mod plugin;
mod pure;
mod script;
mod script_cache;
mod status;

#[cfg(feature = "definitions")]
mod definitions;

pub use cancel::{CallCancel, CallId, CallScope};
pub use config::{PluginConfig, UpgradeRollback};
#[cfg(feature = "definitions")]
pub use definitions::{DEFINITIONS_FILE, definitions};
pub use error::{PluginError, TimeoutReason};
pub use functions::{DressedHttpResponse, DressedShResponse};
pub use limits::PluginLimits;
pub use lint::{Finding, LintReport, Severity, lint};
pub use plugin::{MAIN_SCRIPT, Plugin};
pub use pure::{
    ParseValueError, ScheduleError, UnsafeShParam, parse_hex, parse_rfc2822, parse_rfc3339,
    parse_time, sanitize_sh_param, schedule_parser, validate_schedule,
};
pub use status::{DOWNLOADING, Health, ProtocolStatus, STARTING, UPLOADING};
