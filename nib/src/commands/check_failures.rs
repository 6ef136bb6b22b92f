//! What a failed runtime check explains: the failing job's exit code and last log lines, and
//! the plugin's own error.

use babel_api::pb::babel::v1 as babel;
use babel_api::pb::blockvisor::v1 as pb;
use serde::Serialize;

use crate::cli::Check;

/// How many of a job's newest log lines a failure shows.
pub const LOG_LINES: usize = 10;

/// One failed check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// `jobs-status`, `jobs-restarts` or `protocol-status`.
    pub check: &'static str,
    /// One line: what failed.
    pub headline: String,
    /// The failing job, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// Its last exit code, when it finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Its newest log lines, oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub last_logs: Vec<String>,
    /// Errors the plugin reported (alerts of kind `plugin_error`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plugin_errors: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.headline)?;
        if let Some(code) = self.exit_code {
            write!(f, "\n    last exit code: {code}")?;
        }
        if !self.last_logs.is_empty() {
            write!(f, "\n    last {} log line(s):", self.last_logs.len())?;
            for line in &self.last_logs {
                write!(f, "\n    | {line}")?;
            }
        } else if self.job.is_some() {
            write!(f, "\n    (the job logged nothing)")?;
        }
        for e in &self.plugin_errors {
            write!(f, "\n    plugin error: {e}")?;
        }
        Ok(())
    }
}

/// The error of a run whose checks failed; carries the failures for `--format json`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{} check(s) failed", .0.len())]
pub struct ChecksFailed(pub Vec<Failure>);

/// The failed runtime checks for these metrics, one line each.
#[cfg(test)]
pub fn evaluate(checks: &[Check], metrics: &pb::NodeMetrics) -> Vec<String> {
    explain(checks, metrics)
        .into_iter()
        .map(|f| f.headline)
        .collect()
}

fn finished(info: &babel::JobInfo) -> Option<&babel::JobFinished> {
    match info.status.as_ref().and_then(|s| s.status.as_ref()) {
        Some(babel::job_status::Status::Finished(f)) => Some(f),
        _ => None,
    }
}

fn job_failure(check: &'static str, headline: String, job: &babel::JobEntry) -> Failure {
    let info = job.info.clone().unwrap_or_default();
    let mut last_logs: Vec<String> = info.logs.iter().take(LOG_LINES).cloned().collect();
    last_logs.reverse();
    Failure {
        check,
        headline,
        job: Some(job.name.clone()),
        exit_code: finished(&info).map(|f| f.exit_code.unwrap_or(0)),
        last_logs,
        plugin_errors: Vec::new(),
    }
}

fn plugin_errors(metrics: &pb::NodeMetrics) -> Vec<String> {
    metrics
        .alerts
        .iter()
        .filter(|a| a.kind == "plugin_error")
        .map(|a| a.message.clone())
        .collect()
}

/// The failed runtime checks for these metrics, with what explains them.
pub fn explain(checks: &[Check], metrics: &pb::NodeMetrics) -> Vec<Failure> {
    let mut failures = Vec::new();
    for check in checks {
        match check {
            Check::Plugin => {}
            Check::JobsStatus => {
                for job in &metrics.jobs {
                    let Some(info) = &job.info else { continue };
                    if let Some(f) = finished(info)
                        && f.exit_code.unwrap_or(0) != 0
                    {
                        let headline = format!(
                            "job '{}' finished with {} exit code: {}",
                            job.name,
                            f.exit_code.unwrap_or(0),
                            f.message
                        );
                        failures.push(job_failure("jobs-status", headline, job));
                    }
                }
            }
            Check::JobsRestarts => {
                for job in &metrics.jobs {
                    let restarts = job.info.as_ref().map(|i| i.restart_count).unwrap_or(0);
                    if restarts != 0 {
                        let headline = format!("job '{}' restarted {restarts} time(s)", job.name);
                        failures.push(job_failure("jobs-restarts", headline, job));
                    }
                }
            }
            Check::ProtocolStatus => {
                let errors = plugin_errors(metrics);
                let headline = match &metrics.protocol_status {
                    None if errors.is_empty() => "No protocol status".to_string(),
                    None => format!("No protocol status: {}", errors.join("; ")),
                    Some(s) if s.health == "unhealthy" => {
                        format!("protocol status is unhealthy (state '{}')", s.state)
                    }
                    Some(_) => continue,
                };
                failures.push(Failure {
                    check: "protocol-status",
                    headline,
                    job: None,
                    exit_code: None,
                    last_logs: Vec::new(),
                    plugin_errors: Vec::new(),
                });
            }
        }
    }
    // job failures also show what the plugin reported meanwhile
    let errors = plugin_errors(metrics);
    for f in failures.iter_mut().filter(|f| f.job.is_some()) {
        f.plugin_errors.clone_from(&errors);
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restarted_job_shows_its_exit_code_and_last_logs() {
        let job = babel::JobEntry {
            name: "svc".into(),
            info: Some(babel::JobInfo {
                status: Some(babel::JobStatus {
                    status: Some(babel::job_status::Status::Finished(babel::JobFinished {
                        exit_code: Some(127),
                        message: "exited".into(),
                    })),
                }),
                restart_count: 2,
                logs: vec!["sh: client: not found".into(), "starting".into()],
                ..Default::default()
            }),
        };
        let metrics = pb::NodeMetrics {
            jobs: vec![job],
            alerts: vec![pb::NodeAlert {
                kind: "plugin_error".into(),
                message: "height: boom".into(),
            }],
            ..Default::default()
        };
        let f = explain(&[Check::JobsRestarts], &metrics);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].exit_code, Some(127));
        assert_eq!(
            f[0].to_string(),
            "job 'svc' restarted 2 time(s)\n    last exit code: 127\n    last 2 log line(s):\n    | starting\n    | sh: client: not found\n    plugin error: height: boom"
        );
        let json = serde_json::to_value(&f[0]).unwrap();
        assert_eq!(json["check"], "jobs-restarts");
        assert_eq!(json["last_logs"][1], "sh: client: not found");
    }
}
