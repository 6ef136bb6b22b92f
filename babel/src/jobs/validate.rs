//! Validation of a job config before it is accepted: every error names the job and field.

use std::path::Path;
use std::str::FromStr;

use babel_api::job::{JobConfig, JobType, RestartPolicy};
use nix::sys::signal::Signal;

use crate::ops::users;
use crate::paths::validate_job_name;

/// Parses a signal name (`SIGTERM`, `TERM`, `sigint`).
pub fn parse_signal(name: &str) -> Result<Signal, String> {
    let upper = name.trim().to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&full).map_err(|_| format!("unknown signal '{name}'"))
}

/// Checks `config` of job `name`; `passwd` is the passwd file for `run_as` lookups.
pub fn validate(name: &str, config: &JobConfig, passwd: &Path) -> Result<(), String> {
    validate_job_name(name)?;
    let field = |f: &str, msg: String| Err(format!("job '{name}': invalid `{f}`: {msg}"));
    if let JobType::RunSh(body) = &config.job_type
        && crate::ops::sh::normalize_body(body).is_empty()
    {
        return field("job_type.run_sh", "empty shell body".into());
    }
    if let Some(sig) = &config.shutdown_signal
        && let Err(e) = parse_signal(sig)
    {
        return field("shutdown_signal", e);
    }
    if let RestartPolicy::Always(c) | RestartPolicy::OnFailure(c) = &config.restart
        && c.backoff_base_ms > 3_600_000
    {
        return field(
            "restart.backoff_base_ms",
            format!("{} ms is more than an hour", c.backoff_base_ms),
        );
    }
    if config.log_buffer_capacity_mb == Some(0) {
        return field("log_buffer_capacity_mb", "must be at least 1".into());
    }
    for (f, list) in [("needs", &config.needs), ("wait_for", &config.wait_for)] {
        for dep in list.iter().flatten() {
            if dep == name {
                return field(f, "a job can't depend on itself".into());
            }
        }
    }
    if let Some(user) = &config.run_as
        && users::lookup_user(passwd, user).is_none()
    {
        return field("run_as", format!("cant run as a '{user}': user not found"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use babel_api::job::RestartConfig;

    fn sh(body: &str) -> JobConfig {
        JobConfig::new(JobType::RunSh(body.into()), RestartPolicy::Never)
    }

    #[test]
    fn signals() {
        assert_eq!(parse_signal("SIGINT").unwrap(), Signal::SIGINT);
        assert_eq!(parse_signal("term").unwrap(), Signal::SIGTERM);
        assert!(parse_signal("SIGNOPE").is_err());
    }

    #[test]
    fn rejects_bad_configs_naming_the_field() {
        let passwd = Path::new("/etc/passwd");
        assert!(validate("ok", &sh("echo"), passwd).is_ok());
        let e = validate("j", &sh("  \\ "), passwd).unwrap_err();
        assert!(e.contains("job_type.run_sh"), "{e}");
        let mut c = sh("x");
        c.shutdown_signal = Some("SIGFOO".into());
        assert!(
            validate("j", &c, passwd)
                .unwrap_err()
                .contains("shutdown_signal")
        );
        let mut c = sh("x");
        c.needs = Some(vec!["j".into()]);
        assert!(validate("j", &c, passwd).unwrap_err().contains("needs"));
        let mut c = sh("x");
        c.run_as = Some("no_such_user_xyz".into());
        assert!(
            validate("j", &c, passwd)
                .unwrap_err()
                .contains("user not found")
        );
        let mut c = sh("x");
        c.restart = RestartPolicy::Always(RestartConfig {
            backoff_timeout_ms: 1,
            backoff_base_ms: u64::MAX,
            max_retries: None,
        });
        assert!(
            validate("j", &c, passwd)
                .unwrap_err()
                .contains("backoff_base_ms")
        );
        assert!(validate("a/b", &sh("x"), passwd).is_err());
    }
}
