//! Strict parsing and validation of `plugin_config`: unknown keys and duplicate names are
//! errors, not warnings.

use std::collections::HashSet;

use super::model::{Job, PluginConfig};

/// Parses the JSON form of a `plugin_config` map. Unknown keys, missing required keys and
/// wrong types are reported with their key path, e.g.
/// `plugin_config.services[0].restart_confg: unknown field`.
pub fn parse_plugin_config(value: serde_json::Value) -> Result<PluginConfig, String> {
    let config: PluginConfig = serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner().to_string();
        let path = if path == "." {
            "plugin_config".to_string()
        } else {
            format!("plugin_config.{path}")
        };
        format!("{path}: {}", describe(&inner))
    })?;
    validate(&config)?;
    Ok(config)
}

/// Shortens serde's texts to the form `unknown field (expected one of ...)`.
fn describe(serde_message: &str) -> String {
    if let Some(rest) = serde_message.strip_prefix("unknown field `") {
        let expected = rest.split_once("`, ").map(|(_, e)| e).unwrap_or("");
        if expected.is_empty() {
            return "unknown field".to_string();
        }
        return format!("unknown field ({expected})");
    }
    serde_message.to_string()
}

/// Checks unique names: scheduled task names, then one shared namespace of job
/// names pre-seeded with the reserved `upload` and `download`.
pub fn validate(config: &PluginConfig) -> Result<(), String> {
    if let Some(tasks) = &config.scheduled {
        let mut names = HashSet::new();
        if !tasks.iter().all(|t| names.insert(t.name.as_str())) {
            return Err("Scheduled tasks names are not unique".to_string());
        }
    }
    fn job_names(jobs: Option<&Vec<Job>>) -> Vec<&str> {
        jobs.map(|j| j.iter().map(|j| j.name.as_str()).collect())
            .unwrap_or_default()
    }
    let categories: [(&str, Vec<&str>); 6] = [
        (
            "Auxiliary services",
            config
                .aux_services
                .iter()
                .flatten()
                .map(|s| s.name.as_str())
                .collect(),
        ),
        (
            "Init jobs",
            job_names(config.init.as_ref().map(|a| &a.jobs)),
        ),
        (
            "Post-download jobs",
            job_names(config.post_download.as_ref()),
        ),
        (
            "Services",
            config.services.iter().map(|s| s.name.as_str()).collect(),
        ),
        (
            "Pre-upload jobs",
            job_names(config.pre_upload.as_ref().map(|a| &a.jobs)),
        ),
        ("Post-upload jobs", job_names(config.post_upload.as_ref())),
    ];
    let mut names: HashSet<&str> = ["upload", "download"].into_iter().collect();
    for (category, list) in categories {
        for name in list {
            if !names.insert(name) {
                return Err(format!("{category} names are not unique"));
            }
        }
    }
    Ok(())
}
