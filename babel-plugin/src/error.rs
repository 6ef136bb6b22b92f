//! Errors of the plugin host.

use babel_api::engine::EngineError;

use crate::config::ConfigError;
use crate::defaults::DefaultsError;

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The plugin files could not be read.
    #[error("failed to read plugin file {}: {source}", file.display())]
    Io {
        file: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The script does not compile.
    #[error("Rhai syntax error in {file}:{line}:{column}: {message}")]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// No callable plugin function of that name (and arity).
    #[error("no matching method '{0}' found")]
    MethodNotFound(String),
    /// A script call ran past its wall-clock or operation budget.
    #[error("Rhai function '{function}' timed out: {reason}")]
    Timeout {
        function: String,
        reason: TimeoutReason,
    },
    /// The caller gave up on the call (a timeout, the node stopping) and cancelled it.
    #[error("plugin call was cancelled{}", in_function(function))]
    Cancelled {
        /// The function stopped, empty when the call was cancelled before it started.
        function: String,
    },
    /// The script failed (a `throw`, a runtime error, a failed engine call inside it).
    #[error("Rhai function '{function}' returned error: {message}")]
    Script {
        function: String,
        message: String,
        /// 1-based line and column in the script, when Rhai knows them.
        position: Option<(usize, usize)>,
    },
    /// `plugin_config` is invalid; the message names the key path.
    #[error("invalid plugin_config: {0}")]
    Config(#[from] ConfigError),
    /// The default procedures need a `plugin_config`.
    #[error("Missing plugin_config function")]
    MissingConfig,
    /// A node-side effect failed outside script code (status checks, saving the config).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The default init or upload failed.
    #[error(transparent)]
    Default(#[from] DefaultsError),
}

/// Which budget a timed-out script call ran out of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimeoutReason {
    #[error("ran longer than {0:?}")]
    WallClock(std::time::Duration),
    #[error("exceeded {0} operations")]
    Operations(u64),
}

fn in_function(function: &str) -> String {
    if function.is_empty() {
        String::new()
    } else {
        format!(" in Rhai function '{function}'")
    }
}

impl PluginError {
    /// Line and column of a script error, if any.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            Self::Script { position, .. } => *position,
            Self::Syntax { line, column, .. } => Some((*line, *column)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn typed_parts_keep_their_messages() {
        let json_error = || serde_json::from_str::<u32>("x").unwrap_err();
        let cases: Vec<(PluginError, &str)> = vec![
            (
                PluginError::Io {
                    file: "/p/main.rhai".into(),
                    source: std::io::Error::other("gone"),
                },
                "failed to read plugin file /p/main.rhai: gone",
            ),
            (
                PluginError::Timeout {
                    function: "init".into(),
                    reason: TimeoutReason::WallClock(Duration::from_secs(30)),
                },
                "Rhai function 'init' timed out: ran longer than 30s",
            ),
            (
                PluginError::Timeout {
                    function: "init".into(),
                    reason: TimeoutReason::Operations(100),
                },
                "Rhai function 'init' timed out: exceeded 100 operations",
            ),
            (
                ConfigError::Key {
                    path: "plugin_config.services".into(),
                    source: json_error(),
                }
                .into(),
                "invalid plugin_config: plugin_config.services: expected value at line 1 column 1",
            ),
            (
                ConfigError::DuplicateNames {
                    category: "Services",
                }
                .into(),
                "invalid plugin_config: Services names are not unique",
            ),
            (
                ConfigError::Json(json_error()).into(),
                "invalid plugin_config: expected value at line 1 column 1",
            ),
            (
                DefaultsError::CommandFailed {
                    stage: "init",
                    command: "false".into(),
                    response: babel_api::engine::ShResponse {
                        exit_code: 1,
                        stdout: String::new(),
                        stderr: "no".into(),
                    },
                }
                .into(),
                r#"init command 'false' failed with exit_code: ShResponse { exit_code: 1, stdout: "", stderr: "no" }"#,
            ),
            (
                DefaultsError::Engine(EngineError::Engine("start_job failed".into())).into(),
                "start_job failed",
            ),
        ];
        for (err, message) in cases {
            assert_eq!(err.to_string(), message);
        }
    }
}
