//! Typed `plugin_config`. Unknown keys are ignored when parsing (published plugins carry
//! keys this host does not know); `parse` reports each one as a warning with its key path.

use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginConfig {
    /// Templates rendered first in default init.
    pub config_files: Option<Vec<ConfigFile>>,
    /// Services started before the init actions; they never wait for anything.
    pub aux_services: Option<Vec<AuxService>>,
    pub init: Option<Actions>,
    /// Tuning of the built-in download job.
    pub download: Option<Download>,
    /// Used when no archive exists.
    pub alternative_download: Option<AlternativeDownload>,
    /// Jobs after download / alternative download (not after cold init).
    pub post_download: Option<Vec<Job>>,
    /// Fallback when neither an archive nor an alternative download exists.
    pub cold_init: Option<ColdInit>,
    /// Required (may be empty).
    pub services: Vec<Service>,
    pub pre_upload: Option<Actions>,
    /// Tuning of the built-in upload job.
    pub upload: Option<Upload>,
    pub post_upload: Option<Vec<Job>>,
    /// Registered at the end of default init.
    pub scheduled: Option<Vec<Task>>,
    /// How an upgrade to this image is judged and, if it fails, rolled back.
    pub upgrade: Option<UpgradeRollback>,
}

/// What an image declares about upgrades to it: how long it may take to report a healthy
/// protocol status, and whether the previous version can still read the data it wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpgradeRollback {
    /// Seconds the new version gets to report `health: "healthy"` before it is rolled back
    /// (an operator's own timeout overrides it).
    pub health_timeout_secs: Option<u64>,
    /// `true` when the previous version cannot read data this version wrote (a one-way
    /// migration): a rollback then empties the data dir and the old version initializes
    /// again. Unset or `false`: the data stays as the new version left it.
    pub data_incompatible_with_previous: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigFile {
    pub template: PathBuf,
    pub destination: PathBuf,
    /// Tera context (a map).
    pub params: serde_json::Map<String, serde_json::Value>,
}

/// Commands run in order, then jobs started in parallel. Both keys are required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Actions {
    pub commands: Vec<String>,
    pub jobs: Vec<Job>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub name: String,
    pub run_sh: String,
    /// Default `never`.
    pub restart: Option<JobRestart>,
    pub shutdown_timeout_secs: Option<u64>,
    pub shutdown_signal: Option<Signal>,
    pub needs: Option<Vec<String>>,
    pub run_as: Option<String>,
    pub log_buffer_capacity_mb: Option<u64>,
    pub log_timestamp: Option<bool>,
    #[serde(default)]
    pub use_protocol_data: bool,
    #[serde(default)]
    pub one_time: bool,
}

/// Restart policy of a plugin job: `"never"` or `#{on_failure: RestartConfig}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobRestart {
    Never,
    OnFailure(RestartConfig),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartConfig {
    pub backoff_timeout_ms: u64,
    pub backoff_base_ms: u64,
    /// Absent = unlimited.
    pub max_retries: Option<u32>,
}

impl From<RestartConfig> for babel_api::job::RestartConfig {
    fn from(c: RestartConfig) -> Self {
        Self {
            backoff_timeout_ms: c.backoff_timeout_ms,
            backoff_base_ms: c.backoff_base_ms,
            max_retries: c.max_retries,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
    pub run_sh: String,
    pub restart_config: Option<RestartConfig>,
    /// Jobs that must finish successfully before the service starts (as job `needs`).
    pub needs: Option<Vec<String>>,
    pub shutdown_timeout_secs: Option<u64>,
    pub shutdown_signal: Option<Signal>,
    pub run_as: Option<String>,
    /// Default true: the service waits for protocol data and is stopped for uploads.
    #[serde(default = "default_true")]
    pub use_protocol_data: bool,
    pub log_buffer_capacity_mb: Option<u64>,
    pub log_timestamp: Option<bool>,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuxService {
    pub name: String,
    pub run_sh: String,
    pub restart_config: Option<RestartConfig>,
    pub shutdown_timeout_secs: Option<u64>,
    pub shutdown_signal: Option<Signal>,
    pub run_as: Option<String>,
    pub log_buffer_capacity_mb: Option<u64>,
    pub log_timestamp: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Download {
    pub restart_config: Option<RestartConfig>,
    pub max_connections: Option<u32>,
    pub max_runners: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlternativeDownload {
    pub run_sh: String,
    pub restart_config: Option<RestartConfig>,
    pub run_as: Option<String>,
    pub log_buffer_capacity_mb: Option<u64>,
    pub log_timestamp: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColdInit {
    pub run_sh: String,
    pub restart_config: Option<RestartConfig>,
    pub run_as: Option<String>,
    pub log_buffer_capacity_mb: Option<u64>,
    pub log_timestamp: Option<bool>,
    pub one_time: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Upload {
    pub restart_config: Option<RestartConfig>,
    /// Glob patterns of files left out of the archive.
    pub exclude: Option<Vec<String>>,
    /// Absent = ZSTD level 3.
    pub compression: Option<Compression>,
    pub max_connections: Option<u32>,
    pub max_runners: Option<u32>,
    pub number_of_chunks: Option<u32>,
    pub url_expires_secs: Option<u32>,
    pub data_version: Option<u64>,
}

/// `"NONE"` or `#{ZSTD: level}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Compression {
    #[serde(rename = "NONE")]
    None,
    #[serde(rename = "ZSTD")]
    Zstd(i32),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub name: String,
    /// Cron expression, seconds first (6 or 7 fields).
    pub schedule: String,
    /// Plugin function called as `function(param)`.
    pub function: String,
    pub param: Option<String>,
}

/// Signal names a job may be stopped with.
pub const SIGNAL_NAMES: &[&str] = &[
    "SIGABRT",
    "SIGALRM",
    "SIGBUS",
    "SIGCHLD",
    "SIGCLD",
    "SIGCONT",
    "SIGEMT",
    "SIGFPE",
    "SIGHUP",
    "SIGILL",
    "SIGINFO",
    "SIGINT",
    "SIGIO",
    "SIGIOT",
    "SIGKILL",
    "SIGPIPE",
    "SIGPOLL",
    "SIGPROF",
    "SIGPWR",
    "SIGQUIT",
    "SIGSEGV",
    "SIGSTOP",
    "SIGTSTP",
    "SIGSYS",
    "SIGTERM",
    "SIGTRAP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGUNUSED",
    "SIGURG",
    "SIGUSR1",
    "SIGUSR2",
    "SIGVTALRM",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGWINCH",
];

/// A validated signal name (one of [`SIGNAL_NAMES`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Signal(String);

impl Signal {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Signal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        if SIGNAL_NAMES.contains(&name.as_str()) {
            Ok(Self(name))
        } else {
            Err(serde::de::Error::custom(format!(
                "unknown signal `{name}`, expected one of {}",
                SIGNAL_NAMES.join(", ")
            )))
        }
    }
}
