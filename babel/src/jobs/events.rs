//! In-memory job event log (what `JobInfo.logs` shows) and restart stamps, both kept for
//! 24 hours. Bounded: the newest 1024 entries, each at most 1024 characters.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

pub const WINDOW: Duration = Duration::from_secs(24 * 3600);
pub const MAX_ENTRIES: usize = 1024;
pub const MAX_ENTRY_CHARS: usize = 1024;

#[derive(Debug, Default, Clone)]
pub struct Events {
    /// Oldest first.
    logs: VecDeque<(SystemTime, String)>,
    restarts: VecDeque<SystemTime>,
}

impl Events {
    pub fn push(&mut self, now: SystemTime, message: &str) {
        let local: chrono::DateTime<chrono::Local> = now.into();
        let mut entry = format!("{}| {message}", local.format("%Y-%m-%d %H:%M:%S%.3f %z"));
        if let Some((idx, _)) = entry.char_indices().nth(MAX_ENTRY_CHARS) {
            entry.truncate(idx);
        }
        self.logs.push_back((now, entry));
        while self.logs.len() > MAX_ENTRIES {
            self.logs.pop_front();
        }
    }

    pub fn register_restart(&mut self, now: SystemTime) {
        self.restarts.push_back(now);
        while self.restarts.len() > MAX_ENTRIES {
            self.restarts.pop_front();
        }
    }

    fn prune(&mut self, now: SystemTime) {
        let fresh = |t: &SystemTime| now.duration_since(*t).map(|d| d <= WINDOW).unwrap_or(true);
        while self.logs.front().is_some_and(|(t, _)| !fresh(t)) {
            self.logs.pop_front();
        }
        while self.restarts.front().is_some_and(|t| !fresh(t)) {
            self.restarts.pop_front();
        }
    }

    /// Entries of the last 24 h, newest first.
    pub fn logs(&mut self, now: SystemTime) -> Vec<String> {
        self.prune(now);
        self.logs.iter().rev().map(|(_, m)| m.clone()).collect()
    }

    /// Restarts in the last 24 h.
    pub fn restart_count(&mut self, now: SystemTime) -> usize {
        self.prune(now);
        self.restarts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_newest_bounded_entries() {
        let mut e = Events::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        for i in 0..(MAX_ENTRIES + 5) {
            e.push(t0, &format!("m{i}"));
        }
        let logs = e.logs(t0);
        assert_eq!(logs.len(), MAX_ENTRIES);
        assert!(logs[0].ends_with(&format!("| m{}", MAX_ENTRIES + 4)));
        e.push(t0, &"x".repeat(5000));
        assert_eq!(e.logs(t0)[0].chars().count(), MAX_ENTRY_CHARS);
    }

    #[test]
    fn entries_expire_after_a_day() {
        let mut e = Events::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        e.push(t0, "old");
        e.register_restart(t0);
        e.register_restart(t0 + Duration::from_secs(3600));
        assert_eq!(e.restart_count(t0 + Duration::from_secs(3600)), 2);
        let later = t0 + WINDOW + Duration::from_secs(1);
        assert_eq!(e.restart_count(later), 1);
        assert!(e.logs(later).is_empty());
    }
}
