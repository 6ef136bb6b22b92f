//! The record of a job's process group, kept so that a later runner can end what an earlier
//! one left behind.
//!
//! A bare group id is not enough: a node restart brings a fresh PID namespace where small
//! ids repeat, and a new runner could find its own id in a stale record and end itself.
//! The record therefore also holds the leader's start time. A group is ended only when its
//! leader is the recorded process (same start time) or the leader is gone while members
//! remain: the kernel does not hand out an id that is still some group's id, so a running
//! process with that id and another start time proves the recorded group no longer exists.

use std::path::Path;

/// Group id and its leader's start time (clock ticks after boot, from `/proc/<pid>/stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupRecord {
    pub pgid: i32,
    pub leader_start: Option<u64>,
}

impl GroupRecord {
    /// The record of a group just started by `leader`.
    pub fn of_leader(pgid: i32) -> Self {
        Self {
            pgid,
            leader_start: start_time(pgid),
        }
    }

    pub fn to_line(self) -> String {
        match self.leader_start {
            Some(t) => format!("{} {t}", self.pgid),
            None => self.pgid.to_string(),
        }
    }

    /// `"<pgid> [<start>]"`; None for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split_whitespace();
        let pgid = parts.next()?.parse::<i32>().ok()?;
        let leader_start = match parts.next() {
            Some(t) => Some(t.parse::<u64>().ok()?),
            None => None,
        };
        Some(Self { pgid, leader_start })
    }

    pub fn read(path: &Path) -> Option<Self> {
        Self::parse(&std::fs::read_to_string(path).ok()?)
    }

    /// Whether this record still names a group left by an earlier runner, given the
    /// current start time of the process with id `pgid` (None: no such process) and the
    /// caller's own group.
    pub fn is_leftover(self, current_leader_start: Option<u64>, own_pgid: i32) -> bool {
        if self.pgid <= 1 || self.pgid == own_pgid {
            return false;
        }
        match (current_leader_start, self.leader_start) {
            // The leader exited; members (if any) can only belong to the recorded group.
            (None, _) => true,
            (Some(now), Some(recorded)) => now == recorded,
            // A live process with this id and no start time to compare: not provably ours.
            (Some(_), None) => false,
        }
    }

    /// [`Self::is_leftover`] against this machine's process table.
    pub fn is_leftover_now(self) -> bool {
        self.is_leftover(start_time(self.pgid), nix::unistd::getpgrp().as_raw())
    }
}

/// Start time of process `pid` in clock ticks after boot; None when it does not exist.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_time(&stat)
}

/// Field 22 of a `/proc/<pid>/stat` line; the command name (field 2) may hold spaces and
/// parentheses, so fields are counted after its last `)`.
fn parse_start_time(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_is_read_after_the_command_name() {
        let stat = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1 2";
        assert_eq!(parse_start_time(stat), Some(987_654));
        assert_eq!(parse_start_time("garbage"), None);
        let own = start_time(std::process::id() as i32);
        assert!(own.is_some(), "own /proc entry readable");
    }

    #[test]
    fn records_round_trip_and_old_records_still_parse() {
        let r = GroupRecord {
            pgid: 8,
            leader_start: Some(1234),
        };
        assert_eq!(GroupRecord::parse(&r.to_line()), Some(r));
        assert_eq!(
            GroupRecord::parse("17\n"),
            Some(GroupRecord {
                pgid: 17,
                leader_start: None
            })
        );
        assert_eq!(GroupRecord::parse("x"), None);
        assert_eq!(GroupRecord::parse("5 y"), None);
    }

    #[test]
    fn a_reused_id_is_not_a_leftover() {
        let r = GroupRecord {
            pgid: 8,
            leader_start: Some(100),
        };
        // The caller's own group, whatever the times say.
        assert!(!r.is_leftover(Some(100), 8));
        // Same id, another process: the recorded group is gone.
        assert!(!r.is_leftover(Some(200), 3));
        // The recorded leader itself.
        assert!(r.is_leftover(Some(100), 3));
        // Leader gone: only the recorded group can still use the id.
        assert!(r.is_leftover(None, 3));
        let old = GroupRecord {
            pgid: 8,
            leader_start: None,
        };
        assert!(!old.is_leftover(Some(5), 3));
        assert!(old.is_leftover(None, 3));
        assert!(
            !GroupRecord {
                pgid: 1,
                leader_start: None
            }
            .is_leftover(None, 3)
        );
    }
}
