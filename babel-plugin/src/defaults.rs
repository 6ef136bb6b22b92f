//! The built-in `init` and `upload` procedures driven by `plugin_config`.

use babel_api::engine::{Engine, EngineError, EngineResult, ShResponse};
use babel_api::job::JobConfig;

use super::config::{self, Actions, Job, PluginConfig};

/// Name of the download job (archive, alternative download and cold init alike).
pub const DOWNLOAD_JOB: &str = "download";
/// Name of the upload job.
pub const UPLOAD_JOB: &str = "upload";

/// Why a default procedure (init, upload) failed.
#[derive(Debug, thiserror::Error)]
pub enum DefaultsError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A command of a stage's actions exited non-zero.
    #[error("{stage} command '{command}' failed with exit_code: {response:?}")]
    CommandFailed {
        stage: &'static str,
        command: String,
        response: ShResponse,
    },
    /// A config file's template params can't be written as JSON.
    #[error(transparent)]
    Params(#[from] serde_json::Error),
}

fn start(engine: &dyn Engine, name: &str, cfg: JobConfig) -> EngineResult<()> {
    engine.create_job(name, cfg)?;
    engine.start_job(name)
}

/// Starts every job of a stage with `needs = own ++ stage_needs`; returns the stage output:
/// the names of the jobs started, or the incoming needs when the stage had none.
pub fn run_jobs(
    engine: &dyn Engine,
    jobs: Option<&[Job]>,
    stage_needs: Vec<String>,
) -> EngineResult<Vec<String>> {
    let jobs = jobs.unwrap_or_default();
    if jobs.is_empty() {
        return Ok(stage_needs);
    }
    for job in jobs {
        start(engine, &job.name, config::job_config(job, &stage_needs))?;
    }
    Ok(jobs.iter().map(|j| j.name.clone()).collect())
}

/// Runs the commands in order (a non-zero exit fails), then the stage's jobs.
pub fn run_actions(
    engine: &dyn Engine,
    stage: &'static str,
    actions: Option<&Actions>,
    stage_needs: Vec<String>,
) -> Result<Vec<String>, DefaultsError> {
    let Some(actions) = actions else {
        return Ok(stage_needs);
    };
    for command in &actions.commands {
        let response = engine.run_sh(command, None)?;
        if response.exit_code != 0 {
            return Err(DefaultsError::CommandFailed {
                stage,
                command: command.clone(),
                response,
            });
        }
    }
    Ok(run_jobs(engine, Some(&actions.jobs), stage_needs)?)
}

/// Default init, in this order: stop all jobs; render the config files; start the aux
/// services; run the `init` commands and jobs; when there is no protocol data yet, start the
/// download (from the archive, else the alternative download, else cold init) and its
/// post-download jobs; start the services after all that; add the scheduled tasks.
pub fn default_init(engine: &dyn Engine, config: &PluginConfig) -> Result<(), DefaultsError> {
    engine.stop_all_jobs()?;
    for file in config.config_files.iter().flatten() {
        let params = serde_json::to_string(&file.params)?;
        engine.render_template(&file.template, &file.destination, &params)?;
    }
    for aux in config.aux_services.iter().flatten() {
        start(engine, &aux.name, config::aux_service_config(aux))?;
    }
    let mut needs = run_actions(engine, "init", config.init.as_ref(), vec![])?;
    if engine.protocol_data_stamp()?.is_none() {
        if engine.has_protocol_archive()? {
            let cfg = config::download_config(config.download.as_ref(), &needs);
            start(engine, DOWNLOAD_JOB, cfg)?;
            needs = run_jobs(
                engine,
                config.post_download.as_deref(),
                vec![DOWNLOAD_JOB.to_string()],
            )?;
        } else if let Some(alt) = &config.alternative_download {
            let cfg = config::alternative_download_config(alt, &needs);
            start(engine, DOWNLOAD_JOB, cfg)?;
            needs = run_jobs(
                engine,
                config.post_download.as_deref(),
                vec![DOWNLOAD_JOB.to_string()],
            )?;
        } else if let Some(cold) = &config.cold_init {
            start(engine, DOWNLOAD_JOB, config::cold_init_config(cold, &needs))?;
            needs = vec![DOWNLOAD_JOB.to_string()];
        }
    }
    for service in &config.services {
        start(
            engine,
            &service.name,
            config::service_config(service, &needs, &[]),
        )?;
    }
    for task in config.scheduled.iter().flatten() {
        engine.add_task(
            &task.name,
            &task.schedule,
            &task.function,
            task.param.as_deref().unwrap_or(""),
        )?;
    }
    Ok(())
}

/// Default upload, in this order: stop the services that use protocol data; run the
/// `pre_upload` commands and jobs; start the upload and its post-upload jobs; start those
/// services again once the upload and post-upload jobs are done.
pub fn default_upload(engine: &dyn Engine, config: &PluginConfig) -> Result<(), DefaultsError> {
    let services: Vec<_> = config
        .services
        .iter()
        .filter(|s| s.use_protocol_data)
        .collect();
    for service in &services {
        engine.stop_job(&service.name)?;
    }
    let needs = run_actions(engine, "pre_upload", config.pre_upload.as_ref(), vec![])?;
    start(
        engine,
        UPLOAD_JOB,
        config::upload_config(config.upload.as_ref(), &needs),
    )?;
    let wait_for = run_jobs(
        engine,
        config.post_upload.as_deref(),
        vec![UPLOAD_JOB.to_string()],
    )?;
    for service in services {
        start(
            engine,
            &service.name,
            config::service_config(service, &[], &wait_for),
        )?;
    }
    Ok(())
}
