//! The web console: a browser front end (built from `web/`) and the JSON + server-sent
//! events API it reads, on a port of its own. Fleet state comes from the database; usage,
//! height, block age, jobs and alerts from scraping each host daemon's metrics endpoint.

pub mod assets;
pub mod config;
pub mod error;
pub mod events;
pub mod exposition;
pub mod handlers;
pub mod serve;
pub mod session;
pub mod state;
pub mod telemetry;
pub mod view;

pub use config::ConsoleConfig;
pub use serve::{ConsoleError, ConsoleHandle, router, start};
