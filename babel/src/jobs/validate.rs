//! Validation of a job config before it is accepted: every error names the job and field.

use std::path::Path;
use std::str::FromStr;

use babel_api::job::{JobConfig, JobType, RestartPolicy};
use nix::sys::signal::Signal;

use crate::ops::users;
use crate::paths::{JobNameError, validate_job_name};

/// A signal name that names no signal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown signal '{0}'")]
pub struct UnknownSignal(pub String);

/// Parses a signal name (`SIGTERM`, `TERM`, `sigint`).
pub fn parse_signal(name: &str) -> Result<Signal, UnknownSignal> {
    let upper = name.trim().to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&full).map_err(|_| UnknownSignal(name.to_string()))
}

/// Why a job config was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidJob {
    #[error(transparent)]
    Name(#[from] JobNameError),
    #[error("job '{name}': invalid `{field}`: {problem}")]
    Field {
        name: String,
        field: &'static str,
        problem: FieldProblem,
    },
}

/// What is wrong with one field of a job config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldProblem {
    #[error("empty shell body")]
    EmptyShellBody,
    #[error(transparent)]
    UnknownSignal(#[from] UnknownSignal),
    #[error("{0} ms is more than an hour")]
    BackoffOverAnHour(u64),
    #[error("must be at least 1")]
    ZeroLogBuffer,
    #[error("a job can't depend on itself")]
    DependsOnItself,
    #[error("cant run as a '{0}': user not found")]
    UnknownUser(String),
}

/// Checks `config` of job `name`; `passwd` is the passwd file for `run_as` lookups.
pub fn validate(name: &str, config: &JobConfig, passwd: &Path) -> Result<(), InvalidJob> {
    validate_job_name(name)?;
    let field = |field: &'static str, problem: FieldProblem| {
        Err(InvalidJob::Field {
            name: name.to_string(),
            field,
            problem,
        })
    };
    if let JobType::RunSh(body) = &config.job_type
        && crate::ops::sh::normalize_body(body).is_empty()
    {
        return field("job_type.run_sh", FieldProblem::EmptyShellBody);
    }
    if let Some(sig) = &config.shutdown_signal
        && let Err(e) = parse_signal(sig)
    {
        return field("shutdown_signal", e.into());
    }
    if let RestartPolicy::Always(c) | RestartPolicy::OnFailure(c) = &config.restart
        && c.backoff_base_ms > 3_600_000
    {
        return field(
            "restart.backoff_base_ms",
            FieldProblem::BackoffOverAnHour(c.backoff_base_ms),
        );
    }
    if config.log_buffer_capacity_mb == Some(0) {
        return field("log_buffer_capacity_mb", FieldProblem::ZeroLogBuffer);
    }
    for (f, list) in [("needs", &config.needs), ("wait_for", &config.wait_for)] {
        for dep in list.iter().flatten() {
            if dep == name {
                return field(f, FieldProblem::DependsOnItself);
            }
        }
    }
    if let Some(user) = &config.run_as
        && users::lookup_user(passwd, user).is_none()
    {
        return field("run_as", FieldProblem::UnknownUser(user.clone()));
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
        let e = validate("j", &sh("  \\ "), passwd).unwrap_err().to_string();
        assert!(e.contains("job_type.run_sh"), "{e}");
        let mut c = sh("x");
        c.shutdown_signal = Some("SIGFOO".into());
        assert!(
            validate("j", &c, passwd)
                .unwrap_err()
                .to_string()
                .contains("shutdown_signal")
        );
        let mut c = sh("x");
        c.needs = Some(vec!["j".into()]);
        assert!(
            validate("j", &c, passwd)
                .unwrap_err()
                .to_string()
                .contains("needs")
        );
        let mut c = sh("x");
        c.run_as = Some("no_such_user_xyz".into());
        assert!(
            validate("j", &c, passwd)
                .unwrap_err()
                .to_string()
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
                .to_string()
                .contains("backoff_base_ms")
        );
        assert!(validate("a/b", &sh("x"), passwd).is_err());
    }
}
