//! `run_sh`: a shell command inside the node, with a timeout.

use std::process::Stdio;
use std::time::Duration;

use babel_api::engine::ShResponse;
use tokio::process::Command;

/// Normalizes a shell body the way jobs and `run_sh` expect: trimmed, without trailing
/// backslashes or dangling `&&`.
pub fn normalize_body(body: &str) -> String {
    let mut s = body.trim().trim_end_matches('\\').trim();
    while let Some(rest) = s.strip_suffix("&&") {
        s = rest.trim_end();
    }
    s.trim().to_string()
}

/// The shell command for `body`: `sh -c <body>`, or `su - $BV_USER -c <body>` when the
/// agent runs with `BV_USER` set.
pub fn shell_command(body: &str) -> (String, Vec<String>) {
    match std::env::var("BV_USER") {
        Ok(user) if !user.is_empty() => (
            "su".into(),
            vec!["-".into(), user, "-c".into(), body.into()],
        ),
        _ => ("sh".into(), vec!["-c".into(), body.into()]),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ShError {
    #[error("failed to spawn `{body}`: {source}")]
    Spawn {
        body: String,
        source: std::io::Error,
    },
    #[error("deadline has elapsed: `{body}` did not finish within {timeout:?}")]
    Timeout { body: String, timeout: Duration },
    #[error("Failed to run command `{body}`, got output `{output}`")]
    Killed { body: String, output: String },
}

/// Runs `body` with `sh -c`; on timeout the whole process group is killed.
pub async fn run_sh(body: &str, timeout: Duration) -> Result<ShResponse, ShError> {
    let body = normalize_body(body);
    let (prog, args) = shell_command(&body);
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let child = cmd.spawn().map_err(|source| ShError::Spawn {
        body: body.clone(),
        source,
    })?;
    let pid = child.id();
    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(r) => r.map_err(|source| ShError::Spawn {
            body: body.clone(),
            source,
        })?,
        Err(_) => {
            if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            return Err(ShError::Timeout { body, timeout });
        }
    };
    match output.status.code() {
        Some(exit_code) => Ok(ShResponse {
            exit_code,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }),
        None => Err(ShError::Killed {
            body,
            output: format!("{output:?}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_normalization() {
        assert_eq!(normalize_body("  echo a && \\\n"), "echo a");
        assert_eq!(normalize_body("a && && "), "a");
        assert_eq!(normalize_body("plain"), "plain");
    }

    #[tokio::test]
    async fn captures_output_and_exit_code() {
        let r = run_sh("echo out; echo err >&2; exit 3", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(r.exit_code, 3);
        assert_eq!(r.stdout, "out\n");
        assert_eq!(r.stderr, "err\n");
    }

    #[tokio::test]
    async fn timeout_kills_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("m");
        let body = format!("(sleep 1; touch {}) & sleep 30", marker.display());
        let err = run_sh(&body, Duration::from_millis(200)).await.unwrap_err();
        assert!(err.to_string().contains("deadline has elapsed"), "{err}");
        tokio::time::sleep(Duration::from_millis(1300)).await;
        assert!(!marker.exists(), "background child survived the timeout");
    }
}
