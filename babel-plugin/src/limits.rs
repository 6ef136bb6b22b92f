//! Resource limits of plugin calls and the wall-clock deadline enforced through
//! Rhai's progress callback.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::cancel::{CANCEL_TOKEN, CancelState};

/// Limits applied to every plugin engine. Set explicitly, so debug and release builds behave
/// the same (Rhai's own defaults differ between them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginLimits {
    /// Wall-clock budget of one host→plugin call (script code only; blocking engine calls
    /// such as `run_sh` have their own timeouts).
    pub call_timeout: Duration,
    /// Rhai operations per call (a second, CPU-independent bound next to the wall-clock
    /// budget; 0 = unlimited).
    pub max_operations: u64,
    /// Nesting of function calls.
    pub max_call_levels: usize,
    /// Expression nesting at global level.
    pub max_expr_depth: usize,
    /// Expression nesting inside functions.
    pub max_function_expr_depth: usize,
}

impl Default for PluginLimits {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(30),
            max_operations: 100_000_000,
            max_call_levels: 64,
            max_expr_depth: 64,
            max_function_expr_depth: 32,
        }
    }
}

impl PluginLimits {
    pub(crate) fn apply(&self, engine: &mut rhai::Engine) {
        engine
            .set_max_expr_depths(self.max_expr_depth, self.max_function_expr_depth)
            .set_max_call_levels(self.max_call_levels)
            .set_max_operations(self.max_operations);
    }
}

/// Marker thrown by the progress callback when the deadline passed.
pub(crate) const DEADLINE_TOKEN: &str = "babel-plugin-deadline";

/// A per-engine deadline, armed around each call.
#[derive(Debug)]
pub(crate) struct Deadline {
    base: Instant,
    /// Nanoseconds after `base`; `u64::MAX` = disarmed.
    at: AtomicU64,
}

impl Deadline {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            base: Instant::now(),
            at: AtomicU64::new(u64::MAX),
        })
    }

    /// Arms the deadline `timeout` from now; disarms when the guard drops.
    pub(crate) fn arm(self: &Arc<Self>, timeout: Duration) -> DeadlineGuard {
        let at = self
            .base
            .elapsed()
            .saturating_add(timeout)
            .as_nanos()
            .min(u128::from(u64::MAX - 1));
        let previous = self.at.swap(at as u64, Ordering::Relaxed);
        DeadlineGuard {
            deadline: self.clone(),
            previous,
        }
    }

    /// Stops the clock until the guard drops: an armed deadline moves later by the time
    /// paused, so only script execution counts against the budget.
    pub(crate) fn pause(self: &Arc<Self>) -> PauseGuard {
        PauseGuard {
            deadline: self.clone(),
            since: Instant::now(),
        }
    }

    pub(crate) fn expired(&self) -> bool {
        let at = self.at.load(Ordering::Relaxed);
        at != u64::MAX && self.base.elapsed().as_nanos() > u128::from(at)
    }

    /// Installs the progress callback that stops a run once the deadline passed or the
    /// call was cancelled.
    pub(crate) fn install(self: &Arc<Self>, cancel: &Arc<CancelState>, engine: &mut rhai::Engine) {
        let deadline = self.clone();
        let cancel = cancel.clone();
        engine.on_progress(move |ops| {
            // Reading the clock on every operation costs more than the operation itself.
            if ops % 64 != 0 {
                None
            } else if cancel.should_stop() {
                Some(CANCEL_TOKEN.into())
            } else if deadline.expired() {
                Some(DEADLINE_TOKEN.into())
            } else {
                None
            }
        });
    }
}

#[derive(Debug)]
pub(crate) struct PauseGuard {
    deadline: Arc<Deadline>,
    since: Instant,
}

impl Drop for PauseGuard {
    fn drop(&mut self) {
        let paused = u64::try_from(self.since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        // Disarmed (`u64::MAX`) stays disarmed; an armed deadline never reaches it.
        let _ = self
            .deadline
            .at
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |at| {
                (at != u64::MAX).then(|| at.saturating_add(paused).min(u64::MAX - 1))
            });
    }
}

#[derive(Debug)]
pub(crate) struct DeadlineGuard {
    deadline: Arc<Deadline>,
    previous: u64,
}

impl Drop for DeadlineGuard {
    fn drop(&mut self) {
        self.deadline.at.store(self.previous, Ordering::Relaxed);
    }
}
