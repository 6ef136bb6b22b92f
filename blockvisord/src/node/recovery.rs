//! Failure recovery: nodes that should run but do not are restarted with exponential
//! backoff; after too many failures they are marked Failed for good.

use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use super::Node;
use super::state::Status;

/// In-memory backoff bookkeeping of one node.
#[derive(Debug, Clone, Default)]
pub struct Recovery {
    pub failures: u32,
    pub next_attempt: Option<Instant>,
}

impl Recovery {
    /// Records a failure; `true` when the node must be given up.
    pub fn failed(&mut self, now: Instant, base: Duration, max_tries: u32) -> bool {
        self.failures += 1;
        if self.failures >= max_tries {
            return true;
        }
        let factor = 1u32 << (self.failures - 1).min(16);
        self.next_attempt = Some(now + base * factor);
        false
    }

    pub fn due(&self, now: Instant) -> bool {
        self.next_attempt.is_none_or(|t| now >= t)
    }

    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_gives_up() {
        let mut r = Recovery::default();
        let now = Instant::now();
        let base = Duration::from_millis(100);
        assert!(r.due(now));
        assert!(!r.failed(now, base, 3));
        assert_eq!(r.next_attempt, Some(now + base));
        assert!(!r.due(now));
        assert!(!r.failed(now, base, 3));
        assert_eq!(r.next_attempt, Some(now + base * 2));
        assert!(r.failed(now, base, 3));
        r.reset();
        assert!(r.due(now));
    }
}
