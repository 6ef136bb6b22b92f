//! Conversion of `plugin_config` entries to engine job configs, filling in the defaults
//! each kind of entry implies (restart policy, dependencies, protocol data use).

use super::model::{
    AlternativeDownload, AuxService, ColdInit, Compression, Download, Job, JobRestart, Service,
    Upload,
};
use babel_api::job::{self, JobConfig, JobType, RestartPolicy};

/// Services restart always with this backoff unless they set their own.
pub const DEFAULT_SERVICE_RESTART: job::RestartConfig = job::RestartConfig {
    backoff_timeout_ms: 60_000,
    backoff_base_ms: 1_000,
    max_retries: None,
};

/// Download and upload jobs restart on failure with this backoff unless configured.
pub const DEFAULT_ARCHIVE_RESTART: job::RestartConfig = job::RestartConfig {
    backoff_timeout_ms: 600_000,
    backoff_base_ms: 500,
    max_retries: Some(10),
};

/// Default upload compression level (ZSTD).
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

fn signal(s: &Option<super::Signal>) -> Option<String> {
    s.as_ref().map(|s| s.as_str().to_string())
}

/// A plugin job of a stage: `needs` = own needs ++ the stage's incoming needs.
pub fn job_config(job: &Job, stage_needs: &[String]) -> JobConfig {
    let mut needs = job.needs.clone().unwrap_or_default();
    needs.extend_from_slice(stage_needs);
    JobConfig {
        job_type: JobType::RunSh(job.run_sh.clone()),
        restart: match job.restart {
            None | Some(JobRestart::Never) => RestartPolicy::Never,
            Some(JobRestart::OnFailure(cfg)) => RestartPolicy::OnFailure(cfg.into()),
        },
        shutdown_timeout_secs: job.shutdown_timeout_secs,
        shutdown_signal: signal(&job.shutdown_signal),
        needs: Some(needs),
        wait_for: None,
        run_as: job.run_as.clone(),
        log_buffer_capacity_mb: job.log_buffer_capacity_mb,
        log_timestamp: job.log_timestamp,
        use_protocol_data: Some(job.use_protocol_data),
        one_time: Some(job.one_time),
    }
}

/// A protocol service; only `use_protocol_data` services get the stage's `needs`/`wait_for`.
/// The service's own `needs` apply either way.
pub fn service_config(service: &Service, needs: &[String], wait_for: &[String]) -> JobConfig {
    let deps = |list: &[String]| service.use_protocol_data.then(|| list.to_vec());
    let own = service.needs.clone().unwrap_or_default();
    let needs = match deps(needs) {
        Some(mut stage) => {
            stage.extend(own);
            Some(stage)
        }
        None if own.is_empty() => None,
        None => Some(own),
    };
    JobConfig {
        job_type: JobType::RunSh(service.run_sh.clone()),
        restart: RestartPolicy::Always(
            service
                .restart_config
                .map(Into::into)
                .unwrap_or(DEFAULT_SERVICE_RESTART),
        ),
        shutdown_timeout_secs: service.shutdown_timeout_secs,
        shutdown_signal: signal(&service.shutdown_signal),
        needs,
        wait_for: deps(wait_for),
        run_as: service.run_as.clone(),
        log_buffer_capacity_mb: service.log_buffer_capacity_mb,
        log_timestamp: service.log_timestamp,
        use_protocol_data: Some(service.use_protocol_data),
        one_time: None,
    }
}

/// An auxiliary service: a service that never uses protocol data and waits for nothing.
pub fn aux_service_config(aux: &AuxService) -> JobConfig {
    service_config(
        &Service {
            name: aux.name.clone(),
            run_sh: aux.run_sh.clone(),
            restart_config: aux.restart_config,
            needs: None,
            shutdown_timeout_secs: aux.shutdown_timeout_secs,
            shutdown_signal: aux.shutdown_signal.clone(),
            run_as: aux.run_as.clone(),
            use_protocol_data: false,
            log_buffer_capacity_mb: aux.log_buffer_capacity_mb,
            log_timestamp: aux.log_timestamp,
        },
        &[],
        &[],
    )
}

/// The built-in download job (from an archive).
pub fn download_config(download: Option<&Download>, needs: &[String]) -> JobConfig {
    let mut cfg = JobConfig::new(
        JobType::Download {
            max_connections: download.and_then(|d| d.max_connections),
            max_runners: download.and_then(|d| d.max_runners),
        },
        RestartPolicy::OnFailure(
            download
                .and_then(|d| d.restart_config)
                .map(Into::into)
                .unwrap_or(DEFAULT_ARCHIVE_RESTART),
        ),
    );
    cfg.needs = Some(needs.to_vec());
    cfg
}

fn on_failure_or_never(restart: Option<super::RestartConfig>) -> RestartPolicy {
    restart.map_or(RestartPolicy::Never, |c| RestartPolicy::OnFailure(c.into()))
}

/// The `download` job when no archive exists but an alternative download is configured.
pub fn alternative_download_config(alt: &AlternativeDownload, needs: &[String]) -> JobConfig {
    let mut cfg = JobConfig::new(
        JobType::RunSh(alt.run_sh.clone()),
        on_failure_or_never(alt.restart_config),
    );
    cfg.needs = Some(needs.to_vec());
    cfg.run_as = alt.run_as.clone();
    cfg.log_buffer_capacity_mb = alt.log_buffer_capacity_mb;
    cfg.log_timestamp = alt.log_timestamp;
    cfg
}

/// The `download` job when neither an archive nor an alternative download exists.
pub fn cold_init_config(cold: &ColdInit, needs: &[String]) -> JobConfig {
    let mut cfg = JobConfig::new(
        JobType::RunSh(cold.run_sh.clone()),
        on_failure_or_never(cold.restart_config),
    );
    cfg.needs = Some(needs.to_vec());
    cfg.run_as = cold.run_as.clone();
    cfg.log_buffer_capacity_mb = cold.log_buffer_capacity_mb;
    cfg.log_timestamp = cold.log_timestamp;
    cfg.one_time = cold.one_time;
    cfg
}

/// The built-in upload job.
pub fn upload_config(upload: Option<&Upload>, needs: &[String]) -> JobConfig {
    let compression = match upload.and_then(|u| u.compression) {
        None => Some(job::Compression::Zstd(DEFAULT_ZSTD_LEVEL)),
        Some(Compression::None) => None,
        Some(Compression::Zstd(level)) => Some(job::Compression::Zstd(level)),
    };
    let mut cfg = JobConfig::new(
        JobType::Upload {
            exclude: upload.and_then(|u| u.exclude.clone()),
            compression,
            max_connections: upload.and_then(|u| u.max_connections),
            max_runners: upload.and_then(|u| u.max_runners),
            number_of_chunks: upload.and_then(|u| u.number_of_chunks),
            url_expires_secs: upload.and_then(|u| u.url_expires_secs),
            data_version: upload.and_then(|u| u.data_version),
        },
        RestartPolicy::OnFailure(
            upload
                .and_then(|u| u.restart_config)
                .map(Into::into)
                .unwrap_or(DEFAULT_ARCHIVE_RESTART),
        ),
    );
    cfg.needs = Some(needs.to_vec());
    cfg
}
