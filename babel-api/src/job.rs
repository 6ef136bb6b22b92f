//! Job model shared by the plugin host, the agent and the daemon.
//!
//! The serde shapes are those of the job files Blockvisor keeps on disk
//! (`/var/lib/babel/jobs/<name>/config.json` and `status.json`), so real plugins and job
//! directories keep working: externally tagged snake_case enums, `null` for absent options.

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// Default `shutdown_timeout_secs` when a job sets none.
pub const DEFAULT_SHUTDOWN_TIMEOUT_SECS: u64 = 60;
/// Default `shutdown_signal` when a job sets none.
pub const DEFAULT_SHUTDOWN_SIGNAL: &str = "SIGTERM";
/// Default `log_buffer_capacity_mb` when a job sets none.
pub const DEFAULT_LOG_BUFFER_CAPACITY_MB: u64 = 128;
/// Maximal number of jobs one agent keeps.
pub const MAX_JOBS: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobType {
    RunSh(String),
    Download {
        max_connections: Option<u32>,
        max_runners: Option<u32>,
    },
    Upload {
        exclude: Option<Vec<String>>,
        compression: Option<Compression>,
        max_connections: Option<u32>,
        max_runners: Option<u32>,
        number_of_chunks: Option<u32>,
        url_expires_secs: Option<u32>,
        data_version: Option<u64>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Compression {
    #[serde(rename = "ZSTD")]
    Zstd(i32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartConfig {
    pub backoff_timeout_ms: u64,
    pub backoff_base_ms: u64,
    pub max_retries: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestartPolicy {
    Never,
    Always(RestartConfig),
    OnFailure(RestartConfig),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobConfig {
    pub job_type: JobType,
    pub restart: RestartPolicy,
    #[serde(default)]
    pub shutdown_timeout_secs: Option<u64>,
    #[serde(default)]
    pub shutdown_signal: Option<String>,
    #[serde(default)]
    pub needs: Option<Vec<String>>,
    #[serde(default)]
    pub wait_for: Option<Vec<String>>,
    #[serde(default)]
    pub run_as: Option<String>,
    #[serde(default)]
    pub log_buffer_capacity_mb: Option<u64>,
    #[serde(default)]
    pub log_timestamp: Option<bool>,
    #[serde(default)]
    pub use_protocol_data: Option<bool>,
    #[serde(default)]
    pub one_time: Option<bool>,
}

impl JobConfig {
    /// A job of the given type with every option left at its default.
    pub fn new(job_type: JobType, restart: RestartPolicy) -> Self {
        Self {
            job_type,
            restart,
            shutdown_timeout_secs: None,
            shutdown_signal: None,
            needs: None,
            wait_for: None,
            run_as: None,
            log_buffer_capacity_mb: None,
            log_timestamp: None,
            use_protocol_data: None,
            one_time: None,
        }
    }

    pub fn shutdown_timeout_secs(&self) -> u64 {
        self.shutdown_timeout_secs
            .unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT_SECS)
    }

    pub fn shutdown_signal(&self) -> &str {
        self.shutdown_signal
            .as_deref()
            .unwrap_or(DEFAULT_SHUTDOWN_SIGNAL)
    }

    pub fn log_buffer_capacity_mb(&self) -> u64 {
        self.log_buffer_capacity_mb
            .unwrap_or(DEFAULT_LOG_BUFFER_CAPACITY_MB)
    }

    /// Whether a running job of this config blocks node upgrades and property updates.
    pub fn upgrade_blocking(&self) -> bool {
        match self.restart {
            RestartPolicy::Never => true,
            RestartPolicy::OnFailure(cfg) => cfg.max_retries.is_some(),
            RestartPolicy::Always(_) => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Pending {
        waiting_for: Vec<String>,
    },
    Running,
    Finished {
        exit_code: Option<i32>,
        message: String,
    },
    Stopped,
}

impl JobStatus {
    pub fn finished(exit_code: Option<i32>, message: impl Into<String>) -> Self {
        Self::Finished {
            exit_code,
            message: message.into(),
        }
    }

    /// Finished with exit code 0 (what `needs` requires).
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            Self::Finished {
                exit_code: Some(0),
                ..
            }
        )
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobStatus::Pending { waiting_for } => {
                write!(f, "Pending (waiting for: {waiting_for:?})")
            }
            JobStatus::Running => write!(f, "Running"),
            JobStatus::Finished { exit_code, message } => {
                write!(f, "Finished")?;
                if let Some(code) = exit_code {
                    write!(f, " with exit code {code}")?;
                    if !message.is_empty() {
                        write!(f, " and message `{message}`")?;
                    }
                } else if !message.is_empty() {
                    write!(f, " with message `{message}`")?;
                }
                Ok(())
            }
            JobStatus::Stopped => write!(f, "Stopped"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobProgress {
    pub total: u32,
    pub current: u32,
    pub message: String,
}

impl fmt::Display for JobProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = if self.total == 0 {
            0.0
        } else {
            f64::from(self.current) * 100.0 / f64::from(self.total)
        };
        write!(
            f,
            "{pct:.2}% ({}/{} {})",
            self.current, self.total, self.message
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobInfo {
    pub status: JobStatus,
    pub timestamp: SystemTime,
    pub progress: Option<JobProgress>,
    pub restart_count: usize,
    /// Newest first.
    pub logs: Vec<String>,
    pub upgrade_blocking: bool,
}

/// Every job of a node by name.
pub type JobsInfo = BTreeMap<String, JobInfo>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_config_json_matches_blockvisor_files() {
        let json = r#"{"job_type":{"run_sh":"echo hi"},"restart":{"on_failure":{"backoff_timeout_ms":1000,"backoff_base_ms":10,"max_retries":3}},"shutdown_timeout_secs":null,"shutdown_signal":null,"needs":["a"],"wait_for":null,"run_as":null,"log_buffer_capacity_mb":null,"log_timestamp":null,"use_protocol_data":true,"one_time":null}"#;
        let cfg: JobConfig = serde_json::from_str(json).unwrap();
        assert_eq!(cfg.job_type, JobType::RunSh("echo hi".into()));
        assert_eq!(
            cfg.restart,
            RestartPolicy::OnFailure(RestartConfig {
                backoff_timeout_ms: 1000,
                backoff_base_ms: 10,
                max_retries: Some(3)
            })
        );
        assert!(cfg.upgrade_blocking());
        assert_eq!(serde_json::to_string(&cfg).unwrap(), json);
        let never: RestartPolicy = serde_json::from_str(r#""never""#).unwrap();
        assert_eq!(never, RestartPolicy::Never);
        let up: JobType =
            serde_json::from_str(r#"{"upload":{"exclude":["*.tmp"],"compression":{"ZSTD":5},"max_connections":null,"max_runners":null,"number_of_chunks":2,"url_expires_secs":null,"data_version":null}}"#).unwrap();
        assert!(matches!(
            up,
            JobType::Upload {
                compression: Some(Compression::Zstd(5)),
                number_of_chunks: Some(2),
                ..
            }
        ));
    }

    #[test]
    fn status_display_and_json() {
        let s = JobStatus::finished(Some(1), "boom");
        assert_eq!(
            s.to_string(),
            "Finished with exit code 1 and message `boom`"
        );
        assert_eq!(
            JobStatus::finished(Some(0), "").to_string(),
            "Finished with exit code 0"
        );
        assert_eq!(
            JobStatus::finished(None, "x").to_string(),
            "Finished with message `x`"
        );
        assert_eq!(
            JobStatus::Pending {
                waiting_for: vec!["a".into()]
            }
            .to_string(),
            r#"Pending (waiting for: ["a"])"#
        );
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"finished":{"exit_code":1,"message":"boom"}}"#
        );
        assert_eq!(
            serde_json::to_string(&JobStatus::Stopped).unwrap(),
            r#""stopped""#
        );
        let p = JobProgress {
            total: 4,
            current: 1,
            message: "chunks".into(),
        };
        assert_eq!(p.to_string(), "25.00% (1/4 chunks)");
    }
}
