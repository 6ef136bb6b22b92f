//! How a job process ended, in words for people: "exited with code 3", "killed by SIGKILL".

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// Describes an exit status ("exited with code 3", "killed by SIGKILL").
pub fn describe(status: &ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exited with code {code}");
    }
    match status.signal() {
        Some(sig) => {
            let name = nix::sys::signal::Signal::try_from(sig)
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|_| format!("signal {sig}"));
            let core = if status.core_dumped() {
                " (core dumped)"
            } else {
                ""
            };
            format!("killed by {name}{core}")
        }
        None => "ended".to_string(),
    }
}

/// Describes the outcome of waiting for a process.
pub fn describe_wait(result: &std::io::Result<ExitStatus>) -> String {
    match result {
        Ok(status) => describe(status),
        Err(e) => format!("could not be waited for: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_and_signals_read_as_words() {
        assert_eq!(
            describe(&ExitStatus::from_raw(3 << 8)),
            "exited with code 3"
        );
        assert_eq!(describe(&ExitStatus::from_raw(0)), "exited with code 0");
        assert_eq!(describe(&ExitStatus::from_raw(9)), "killed by SIGKILL");
        assert_eq!(describe(&ExitStatus::from_raw(15)), "killed by SIGTERM");
        assert_eq!(
            describe(&ExitStatus::from_raw(11 | 0x80)),
            "killed by SIGSEGV (core dumped)"
        );
        let err = std::io::Error::other("gone");
        assert_eq!(describe_wait(&Err(err)), "could not be waited for: gone");
    }

    #[test]
    fn no_debug_formats_leak() {
        for raw in [0, 3 << 8, 768, 9, 15, 11 | 0x80, 255 << 8] {
            let text = describe(&ExitStatus::from_raw(raw));
            assert!(
                !text.contains("Some(")
                    && !text.contains("wait_status")
                    && !text.contains("ExitStatus"),
                "{text}"
            );
        }
    }
}
