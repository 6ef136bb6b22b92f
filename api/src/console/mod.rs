//! The web console: a browser front end (built from `web/`) and the JSON + server-sent
//! events API it reads, on a port of its own. Everything comes from the database: fleet
//! state, and the figures (usage, height, block age, jobs, alerts, status history) hosts
//! report over their connection, so every replica serves the same view.

pub mod assets;
pub mod config;
pub mod error;
pub mod events;
pub mod exposition;
pub mod handlers;
pub mod logs;
pub mod serve;
pub mod session;
pub mod state;
pub mod telemetry;
pub mod view;

pub use config::ConsoleConfig;
pub use serve::{ConsoleError, ConsoleHandle, router, start};
