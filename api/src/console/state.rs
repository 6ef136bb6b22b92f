//! What the console's handlers and background tasks share.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::config::ScrapeTarget;
use crate::services::State;

#[derive(Debug)]
pub struct Console {
    pub app: State,
    pub targets: Vec<ScrapeTarget>,
    /// JSON of the latest fleet view; every change wakes the event streams.
    pub fleet: watch::Sender<Arc<str>>,
    /// Asks the refresher for a new fleet view now (after an action).
    pub refresh: Notify,
    pub assets: PathBuf,
    pub interval: Duration,
    pub http: reqwest::Client,
}

pub type Shared = Arc<Console>;
