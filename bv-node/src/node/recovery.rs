//! Failure recovery: nodes that should run but do not are restarted with exponential
//! backoff; after too many failures they are marked Failed for good.

use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use super::Node;
use super::state::Status;

impl Node {
    /// One recovery pass for this node.
    pub async fn recover(&mut self) {
        let expected = self.state.expected_status;
        if expected == Status::Failed || self.state.upgrade.is_some() {
            return;
        }
        let status = self.status().await;
        if status != Status::Failed {
            if self.recovery.failures > 0 && status == expected {
                self.recovery.reset();
            }
            return;
        }
        let now = Instant::now();
        if !self.recovery.due(now) {
            return;
        }
        let cfg = &self.svc.config;
        let (base, max) = (
            Duration::from_millis(cfg.recovery_backoff_ms),
            cfg.recovery_max_tries,
        );
        let result = match expected {
            Status::Running => {
                info!(node = %self.state.id, "recovery: starting node that should run");
                self.start().await
            }
            _ => {
                info!(node = %self.state.id, "recovery: stopping node that should not run");
                self.stop(true).await
            }
        };
        match result {
            Ok(()) => self.recovery.reset(),
            Err(e) => {
                warn!(node = %self.state.id, "recovery attempt failed: {e}");
                if self.recovery.failed(now, base, max) {
                    error!(node = %self.state.id, "recovery gave up; node marked Failed");
                    self.state.expected_status = Status::Failed;
                    if let Err(e) = self.save() {
                        error!(node = %self.state.id, "saving state: {e}");
                    }
                }
            }
        }
    }
}
