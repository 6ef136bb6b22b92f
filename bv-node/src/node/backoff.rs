//! In-memory bookkeeping of a node's failed recoveries: exponential backoff between
//! attempts, and when to give up.

use std::time::{Duration, Instant};

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
