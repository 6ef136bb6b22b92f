//! Cancelling plugin calls from outside the thread that runs them. A call runs on a blocking
//! thread under the plugin's lock; the caller that gave up on it (a timeout, a node being
//! stopped or deleted) cancels it through a [`CallCancel`], and Rhai's progress callback
//! stops the script at its next check.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Marker thrown by the progress callback when the running call was cancelled.
pub(crate) const CANCEL_TOKEN: &str = "babel-plugin-cancelled";

/// Identifies one host→plugin call, so cancelling it never hits the call after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallId(u64);

/// Cancellation state of one plugin (shared by its runtimes).
#[derive(Debug, Default)]
pub(crate) struct CancelState {
    /// Set once: every running and later call fails at once.
    closed: AtomicBool,
    /// The call running now (0 = none).
    current: AtomicU64,
    /// The last call cancelled (0 = none).
    cancelled: AtomicU64,
    next: AtomicU64,
}

impl CancelState {
    /// Whether the running script must stop.
    pub(crate) fn should_stop(&self) -> bool {
        if self.closed.load(Ordering::Relaxed) {
            return true;
        }
        let cancelled = self.cancelled.load(Ordering::Relaxed);
        cancelled != 0 && cancelled == self.current.load(Ordering::Relaxed)
    }
}

/// Cancels calls into one plugin; cheap to clone, usable while a call holds the plugin.
#[derive(Debug, Clone)]
pub struct CallCancel(pub(crate) Arc<CancelState>);

impl CallCancel {
    /// A fresh id for a call about to be made (see [`crate::Plugin::enter_call`]).
    pub fn new_call(&self) -> CallId {
        CallId(self.0.next.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// Cancels call `id`: stops it if it runs, refuses it if it has not started yet.
    pub fn cancel(&self, id: CallId) {
        self.0.cancelled.store(id.0, Ordering::Relaxed);
    }

    /// Cancels the running call and every later one (the plugin is being dropped).
    pub fn close(&self) {
        self.0.closed.store(true, Ordering::Relaxed);
    }

    pub fn is_closed(&self) -> bool {
        self.0.closed.load(Ordering::Relaxed)
    }
}

/// Marks a call as the running one until dropped.
#[derive(Debug)]
pub struct CallScope {
    state: Arc<CancelState>,
}

impl CallScope {
    /// `None` when the call was already cancelled (or the plugin closed) before it started.
    pub(crate) fn enter(state: &Arc<CancelState>, id: CallId) -> Option<Self> {
        state.current.store(id.0, Ordering::Relaxed);
        if state.should_stop() {
            state.current.store(0, Ordering::Relaxed);
            return None;
        }
        Some(Self {
            state: state.clone(),
        })
    }
}

impl Drop for CallScope {
    fn drop(&mut self) {
        self.state.current.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancelling_one_call_leaves_the_next_alone() {
        let cancel = CallCancel(Arc::default());
        let first = cancel.new_call();
        let second = cancel.new_call();
        let scope = CallScope::enter(&cancel.0, first).expect("not cancelled yet");
        assert!(!cancel.0.should_stop());
        cancel.cancel(first);
        assert!(cancel.0.should_stop());
        drop(scope);
        let _scope = CallScope::enter(&cancel.0, second).expect("a later call runs");
        assert!(!cancel.0.should_stop());
    }

    #[test]
    fn a_call_cancelled_before_it_starts_never_runs() {
        let cancel = CallCancel(Arc::default());
        let id = cancel.new_call();
        cancel.cancel(id);
        assert!(CallScope::enter(&cancel.0, id).is_none());
    }

    #[test]
    fn close_stops_every_call() {
        let cancel = CallCancel(Arc::default());
        let id = cancel.new_call();
        let _scope = CallScope::enter(&cancel.0, id).expect("runs");
        cancel.close();
        assert!(cancel.0.should_stop());
        assert!(CallScope::enter(&cancel.0, cancel.new_call()).is_none());
    }
}
