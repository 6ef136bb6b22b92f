//! Errors of the plugin host.

use babel_api::engine::EngineError;

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The plugin files could not be read.
    #[error("failed to read plugin file {file}: {message}")]
    Io { file: String, message: String },
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
    Timeout { function: String, reason: String },
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
    Config(String),
    /// The default procedures need a `plugin_config`.
    #[error("Missing plugin_config function")]
    MissingConfig,
    /// A node-side effect failed outside script code (default init/upload, status checks).
    #[error(transparent)]
    Engine(#[from] EngineError),
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
