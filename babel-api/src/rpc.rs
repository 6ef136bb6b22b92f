//! Conversions between the model types and their protobuf messages.
//!
//! Model → message is infallible; message → model fails when a required field is missing,
//! naming that field.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::job::{
    Compression, JobConfig, JobInfo, JobProgress, JobStatus, JobType, RestartConfig, RestartPolicy,
};
use crate::node_env::{BabelConfig, NodeEnv, RamDisk};
use crate::pb::babel::v1 as pb;

/// A protobuf message lacked a field the model requires.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid message: missing field `{0}`")]
pub struct MissingField(pub &'static str);

/// Names of the running jobs that are upgrade-blocking (an upgrade now would kill them).
pub fn running_upgrade_blocking(jobs: &[pb::JobEntry]) -> Vec<String> {
    jobs.iter()
        .filter(|j| {
            j.info.as_ref().is_some_and(|i| {
                i.upgrade_blocking
                    && matches!(
                        i.status.as_ref().and_then(|s| s.status.as_ref()),
                        Some(pb::job_status::Status::Running(_))
                    )
            })
        })
        .map(|j| j.name.clone())
        .collect()
}

fn list(v: Option<Vec<String>>) -> Option<pb::StringList> {
    v.map(|items| pb::StringList { items })
}

fn unlist(v: Option<pb::StringList>) -> Option<Vec<String>> {
    v.map(|l| l.items)
}

pub fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    prost_types::Timestamp {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

pub fn system_time(t: &prost_types::Timestamp) -> SystemTime {
    let secs = u64::try_from(t.seconds).unwrap_or(0);
    let nanos = u32::try_from(t.nanos).unwrap_or(0);
    UNIX_EPOCH + Duration::new(secs, nanos)
}

impl From<Compression> for pb::Compression {
    fn from(c: Compression) -> Self {
        match c {
            Compression::Zstd(level) => pb::Compression {
                kind: Some(pb::compression::Kind::Zstd(level)),
            },
        }
    }
}

impl TryFrom<pb::Compression> for Compression {
    type Error = MissingField;
    fn try_from(c: pb::Compression) -> Result<Self, Self::Error> {
        match c.kind {
            Some(pb::compression::Kind::Zstd(level)) => Ok(Compression::Zstd(level)),
            None => Err(MissingField("compression.kind")),
        }
    }
}

impl From<RestartConfig> for pb::RestartConfig {
    fn from(c: RestartConfig) -> Self {
        pb::RestartConfig {
            backoff_timeout_ms: c.backoff_timeout_ms,
            backoff_base_ms: c.backoff_base_ms,
            max_retries: c.max_retries,
        }
    }
}

impl From<pb::RestartConfig> for RestartConfig {
    fn from(c: pb::RestartConfig) -> Self {
        RestartConfig {
            backoff_timeout_ms: c.backoff_timeout_ms,
            backoff_base_ms: c.backoff_base_ms,
            max_retries: c.max_retries,
        }
    }
}

impl From<RestartPolicy> for pb::RestartPolicy {
    fn from(p: RestartPolicy) -> Self {
        use pb::restart_policy::Policy;
        let policy = match p {
            RestartPolicy::Never => Policy::Never(pb::RestartNever {}),
            RestartPolicy::Always(c) => Policy::Always(c.into()),
            RestartPolicy::OnFailure(c) => Policy::OnFailure(c.into()),
        };
        pb::RestartPolicy {
            policy: Some(policy),
        }
    }
}

impl TryFrom<pb::RestartPolicy> for RestartPolicy {
    type Error = MissingField;
    fn try_from(p: pb::RestartPolicy) -> Result<Self, Self::Error> {
        use pb::restart_policy::Policy;
        Ok(match p.policy.ok_or(MissingField("restart.policy"))? {
            Policy::Never(_) => RestartPolicy::Never,
            Policy::Always(c) => RestartPolicy::Always(c.into()),
            Policy::OnFailure(c) => RestartPolicy::OnFailure(c.into()),
        })
    }
}

impl From<JobType> for pb::JobType {
    fn from(t: JobType) -> Self {
        use pb::job_type::Kind;
        let kind = match t {
            JobType::RunSh(body) => Kind::RunSh(body),
            JobType::Download {
                max_connections,
                max_runners,
            } => Kind::Download(pb::DownloadJob {
                max_connections,
                max_runners,
            }),
            JobType::Upload {
                exclude,
                compression,
                max_connections,
                max_runners,
                number_of_chunks,
                url_expires_secs,
                data_version,
            } => Kind::Upload(pb::UploadJob {
                exclude: list(exclude),
                compression: compression.map(Into::into),
                max_connections,
                max_runners,
                number_of_chunks,
                url_expires_secs,
                data_version,
            }),
        };
        pb::JobType { kind: Some(kind) }
    }
}

impl TryFrom<pb::JobType> for JobType {
    type Error = MissingField;
    fn try_from(t: pb::JobType) -> Result<Self, Self::Error> {
        use pb::job_type::Kind;
        Ok(match t.kind.ok_or(MissingField("job_type.kind"))? {
            Kind::RunSh(body) => JobType::RunSh(body),
            Kind::Download(d) => JobType::Download {
                max_connections: d.max_connections,
                max_runners: d.max_runners,
            },
            Kind::Upload(u) => JobType::Upload {
                exclude: unlist(u.exclude),
                compression: u.compression.map(TryInto::try_into).transpose()?,
                max_connections: u.max_connections,
                max_runners: u.max_runners,
                number_of_chunks: u.number_of_chunks,
                url_expires_secs: u.url_expires_secs,
                data_version: u.data_version,
            },
        })
    }
}

impl From<JobConfig> for pb::JobConfig {
    fn from(c: JobConfig) -> Self {
        pb::JobConfig {
            job_type: Some(c.job_type.into()),
            restart: Some(c.restart.into()),
            shutdown_timeout_secs: c.shutdown_timeout_secs,
            shutdown_signal: c.shutdown_signal,
            needs: list(c.needs),
            wait_for: list(c.wait_for),
            run_as: c.run_as,
            log_buffer_capacity_mb: c.log_buffer_capacity_mb,
            log_timestamp: c.log_timestamp,
            use_protocol_data: c.use_protocol_data,
            one_time: c.one_time,
        }
    }
}

impl TryFrom<pb::JobConfig> for JobConfig {
    type Error = MissingField;
    fn try_from(c: pb::JobConfig) -> Result<Self, Self::Error> {
        Ok(JobConfig {
            job_type: c.job_type.ok_or(MissingField("job_type"))?.try_into()?,
            restart: c.restart.ok_or(MissingField("restart"))?.try_into()?,
            shutdown_timeout_secs: c.shutdown_timeout_secs,
            shutdown_signal: c.shutdown_signal,
            needs: unlist(c.needs),
            wait_for: unlist(c.wait_for),
            run_as: c.run_as,
            log_buffer_capacity_mb: c.log_buffer_capacity_mb,
            log_timestamp: c.log_timestamp,
            use_protocol_data: c.use_protocol_data,
            one_time: c.one_time,
        })
    }
}

impl From<JobStatus> for pb::JobStatus {
    fn from(s: JobStatus) -> Self {
        use pb::job_status::Status;
        let status = match s {
            JobStatus::Pending { waiting_for } => Status::Pending(pb::JobPending { waiting_for }),
            JobStatus::Running => Status::Running(pb::JobRunning {}),
            JobStatus::Finished { exit_code, message } => {
                Status::Finished(pb::JobFinished { exit_code, message })
            }
            JobStatus::Stopped => Status::Stopped(pb::JobStopped {}),
        };
        pb::JobStatus {
            status: Some(status),
        }
    }
}

impl TryFrom<pb::JobStatus> for JobStatus {
    type Error = MissingField;
    fn try_from(s: pb::JobStatus) -> Result<Self, Self::Error> {
        use pb::job_status::Status;
        Ok(match s.status.ok_or(MissingField("status"))? {
            Status::Pending(p) => JobStatus::Pending {
                waiting_for: p.waiting_for,
            },
            Status::Running(_) => JobStatus::Running,
            Status::Finished(f) => JobStatus::Finished {
                exit_code: f.exit_code,
                message: f.message,
            },
            Status::Stopped(_) => JobStatus::Stopped,
        })
    }
}

impl From<JobProgress> for pb::JobProgress {
    fn from(p: JobProgress) -> Self {
        pb::JobProgress {
            total: p.total,
            current: p.current,
            message: p.message,
        }
    }
}

impl From<pb::JobProgress> for JobProgress {
    fn from(p: pb::JobProgress) -> Self {
        JobProgress {
            total: p.total,
            current: p.current,
            message: p.message,
        }
    }
}

impl From<JobInfo> for pb::JobInfo {
    fn from(i: JobInfo) -> Self {
        pb::JobInfo {
            status: Some(i.status.into()),
            timestamp: Some(timestamp(i.timestamp)),
            progress: i.progress.map(Into::into),
            restart_count: u32::try_from(i.restart_count).unwrap_or(u32::MAX),
            logs: i.logs,
            upgrade_blocking: i.upgrade_blocking,
        }
    }
}

impl TryFrom<pb::JobInfo> for JobInfo {
    type Error = MissingField;
    fn try_from(i: pb::JobInfo) -> Result<Self, Self::Error> {
        Ok(JobInfo {
            status: i.status.ok_or(MissingField("status"))?.try_into()?,
            timestamp: i.timestamp.as_ref().map(system_time).unwrap_or(UNIX_EPOCH),
            progress: i.progress.map(Into::into),
            restart_count: i.restart_count as usize,
            logs: i.logs,
            upgrade_blocking: i.upgrade_blocking,
        })
    }
}

impl From<NodeEnv> for pb::NodeEnv {
    fn from(e: NodeEnv) -> Self {
        pb::NodeEnv {
            node_id: e.node_id,
            node_name: e.node_name,
            node_org_id: e.node_org_id,
            node_version: e.node_version,
            node_protocol: e.node_protocol,
            node_variant: e.node_variant,
            node_ip: e.node_ip,
            node_gateway: e.node_gateway,
            dev_mode: e.dev_mode,
            bv_host_id: e.bv_host_id,
            bv_host_name: e.bv_host_name,
            bv_api_url: e.bv_api_url,
            data_mount_point: e.data_mount_point,
            protocol_data_path: e.protocol_data_path,
        }
    }
}

impl From<pb::NodeEnv> for NodeEnv {
    fn from(e: pb::NodeEnv) -> Self {
        NodeEnv {
            node_id: e.node_id,
            node_name: e.node_name,
            node_org_id: e.node_org_id,
            node_version: e.node_version,
            node_protocol: e.node_protocol,
            node_variant: e.node_variant,
            node_ip: e.node_ip,
            node_gateway: e.node_gateway,
            dev_mode: e.dev_mode,
            bv_host_id: e.bv_host_id,
            bv_host_name: e.bv_host_name,
            bv_api_url: e.bv_api_url,
            data_mount_point: e.data_mount_point,
            protocol_data_path: e.protocol_data_path,
        }
    }
}

impl From<BabelConfig> for pb::BabelConfig {
    fn from(c: BabelConfig) -> Self {
        pb::BabelConfig {
            node_env: Some(c.node_env.into()),
            ramdisks: c
                .ramdisks
                .into_iter()
                .map(|r| pb::RamDisk {
                    ram_disk_mount_point: r.ram_disk_mount_point,
                    ram_disk_size_mb: r.ram_disk_size_mb,
                })
                .collect(),
        }
    }
}

impl TryFrom<pb::BabelConfig> for BabelConfig {
    type Error = MissingField;
    fn try_from(c: pb::BabelConfig) -> Result<Self, Self::Error> {
        Ok(BabelConfig {
            node_env: c.node_env.ok_or(MissingField("node_env"))?.into(),
            ramdisks: c
                .ramdisks
                .into_iter()
                .map(|r| RamDisk {
                    ram_disk_mount_point: r.ram_disk_mount_point,
                    ram_disk_size_mb: r.ram_disk_size_mb,
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_config_round_trips_through_protobuf() {
        let mut cfg = JobConfig::new(
            JobType::Upload {
                exclude: Some(vec!["*.log".into()]),
                compression: Some(Compression::Zstd(3)),
                max_connections: Some(2),
                max_runners: None,
                number_of_chunks: Some(7),
                url_expires_secs: None,
                data_version: Some(4),
            },
            RestartPolicy::OnFailure(RestartConfig {
                backoff_timeout_ms: 600_000,
                backoff_base_ms: 500,
                max_retries: Some(10),
            }),
        );
        cfg.needs = Some(vec![]);
        cfg.one_time = Some(true);
        let msg: pb::JobConfig = cfg.clone().into();
        assert_eq!(JobConfig::try_from(msg).unwrap(), cfg);
    }

    #[test]
    fn missing_fields_are_named() {
        let err = JobConfig::try_from(pb::JobConfig::default()).unwrap_err();
        assert_eq!(err.to_string(), "invalid message: missing field `job_type`");
    }

    #[test]
    fn job_info_round_trips() {
        let info = JobInfo {
            status: JobStatus::finished(Some(0), "ok"),
            timestamp: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            progress: Some(JobProgress {
                total: 3,
                current: 1,
                message: "chunks".into(),
            }),
            restart_count: 2,
            logs: vec!["b".into(), "a".into()],
            upgrade_blocking: true,
        };
        let msg: pb::JobInfo = info.clone().into();
        assert_eq!(JobInfo::try_from(msg).unwrap(), info);
    }
}
