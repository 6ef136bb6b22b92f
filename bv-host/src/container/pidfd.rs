//! Waiting for a process that is not our child (a container's init is re-parented away
//! from runc), using a pidfd: readable once the process has exited.

use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

use tokio::io::unix::AsyncFd;

/// Opens a pidfd; `Ok(None)` when the process does not exist (already gone).
pub fn open(pid: u32) -> std::io::Result<Option<OwnedFd>> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "pid out of range"))?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; no memory is shared.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        let err = std::io::Error::last_os_error();
        return if err.raw_os_error() == Some(libc::ESRCH) {
            Ok(None)
        } else {
            Err(err)
        };
    }
    let fd = i32::try_from(fd)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "bad fd"))?;
    // SAFETY: the kernel just returned this fd and nothing else owns it.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Waits until `pid` exits. `Ok(false)` on timeout.
pub async fn wait_exit(pid: u32, timeout: Duration) -> std::io::Result<bool> {
    let Some(fd) = open(pid)? else {
        return Ok(true);
    };
    // SAFETY: `fd` is an open pidfd owned by the AsyncFd for its whole lifetime.
    let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }?;
    match tokio::time::timeout(timeout, fd.readable()).await {
        Ok(ready) => {
            ready?.retain_ready();
            Ok(true)
        }
        Err(_) => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_exit_and_times_out() {
        let mut child = std::process::Command::new("sleep")
            .arg("0.2")
            .spawn()
            .unwrap();
        let pid = child.id();
        assert!(!wait_exit(pid, Duration::from_millis(20)).await.unwrap());
        // A zombie child still has its pid: the pidfd turns readable when it exits anyway.
        assert!(wait_exit(pid, Duration::from_secs(5)).await.unwrap());
        child.wait().unwrap();
        assert!(wait_exit(pid, Duration::from_secs(1)).await.unwrap());
    }
}
