//! Parsing and validation of `plugin_config`: unknown keys are warnings (the config still
//! loads), wrong types, missing keys and duplicate names are errors.

use std::collections::HashSet;
use std::fmt;

use serde_json::Value;

use super::model::{Job, PluginConfig};
use bv_base::suggest;

/// A `plugin_config` key this host does not know; it was ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey {
    /// Key path, e.g. `plugin_config.services[0].needz`.
    pub path: String,
    /// The key itself, e.g. `needz`.
    pub key: String,
    /// The closest known key at the same place, if any is close.
    pub suggestion: Option<String>,
}

impl fmt::Display for UnknownKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: unknown key ignored", self.path)?;
        if let Some(s) = &self.suggestion {
            write!(f, " (did you mean `{s}`?)")?;
        }
        Ok(())
    }
}

/// Why a `plugin_config` was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `plugin_config()` returned a value that isn't plain data.
    #[error("plugin_config: {0}")]
    Value(#[source] Box<rhai::EvalAltResult>),
    /// A key is missing or has the wrong type; `path` is its key path, e.g.
    /// `plugin_config.services[0].run_sh`.
    #[error("{path}: {source}")]
    Key {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// Two entries that share a name space have the same name.
    #[error("{category} names are not unique")]
    DuplicateNames { category: &'static str },
    /// The config's JSON form could not be written or read back.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// A parsed `plugin_config` and the unknown keys it carried.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedConfig {
    pub config: PluginConfig,
    pub unknown_keys: Vec<UnknownKey>,
}

/// Parses the JSON form of a `plugin_config` map. Missing required keys and wrong types are
/// errors with their key path, e.g. `plugin_config.services[0].run_sh: missing field`;
/// unknown keys are ignored and returned.
pub fn parse_plugin_config(value: Value) -> Result<ParsedConfig, ConfigError> {
    let config: PluginConfig = serde_path_to_error::deserialize(&value).map_err(|err| {
        let path = err.path().to_string();
        let path = if path == "." {
            "plugin_config".to_string()
        } else {
            format!("plugin_config.{path}")
        };
        ConfigError::Key {
            path,
            source: err.into_inner(),
        }
    })?;
    validate(&config)?;
    let known = serde_json::to_value(&config)?;
    let mut unknown_keys = Vec::new();
    unknown_in(&value, &known, "plugin_config", &mut unknown_keys);
    Ok(ParsedConfig {
        config,
        unknown_keys,
    })
}

/// Keys of `given` that did not survive the round trip through the typed model (`known`,
/// which holds every field of each struct, absent ones as `null`).
fn unknown_in(given: &Value, known: &Value, path: &str, out: &mut Vec<UnknownKey>) {
    match (given, known) {
        (Value::Object(given), Value::Object(known)) => {
            for (key, value) in given {
                let child = format!("{path}.{key}");
                match known.get(key) {
                    Some(known_value) => unknown_in(value, known_value, &child, out),
                    None => out.push(UnknownKey {
                        path: child,
                        key: key.clone(),
                        suggestion: suggest::did_you_mean(key, known.keys().map(String::as_str))
                            .map(str::to_string),
                    }),
                }
            }
        }
        (Value::Array(given), Value::Array(known)) => {
            for (i, (g, k)) in given.iter().zip(known).enumerate() {
                unknown_in(g, k, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Checks unique names: scheduled task names, then one shared namespace of job
/// names pre-seeded with the reserved `upload` and `download`.
pub fn validate(config: &PluginConfig) -> Result<(), ConfigError> {
    if let Some(tasks) = &config.scheduled {
        let mut names = HashSet::new();
        if !tasks.iter().all(|t| names.insert(t.name.as_str())) {
            return Err(ConfigError::DuplicateNames {
                category: "Scheduled tasks",
            });
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
                return Err(ConfigError::DuplicateNames { category });
            }
        }
    }
    Ok(())
}
