//! [`Plugin`]: one loaded `main.rhai` of one node and the calls into its methods.

mod dispatch;

use std::path::Path;
use std::sync::Arc;

use rhai::Dynamic;

use babel_api::engine::{Engine, LogLevel};

use crate::cancel::{CallCancel, CallId, CallScope};
use crate::config::{self, ConfigError, PluginConfig, UnknownKey};
use crate::defaults;
use crate::error::PluginError;
use crate::host::Host;
use crate::limits::PluginLimits;
use crate::script::{INLINE_SOURCE, Runtime, Script};
use crate::status::{self, ProtocolStatus};

/// File name of a plugin's entry script inside its directory.
pub const MAIN_SCRIPT: &str = "main.rhai";

/// A loaded plugin of one node.
pub struct Plugin {
    host: Arc<Host>,
    script: Script,
    runtime: Runtime,
    limits: PluginLimits,
    /// Copy of the host's current config, for borrowing callers.
    config: Option<PluginConfig>,
    /// Unknown keys of the last evaluated `plugin_config()` (ignored, reported as warnings).
    unknown_keys: Vec<UnknownKey>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("functions", &self.script.functions)
            .field("has_config", &self.config.is_some())
            .finish()
    }
}

impl Plugin {
    /// Loads `<plugin_dir>/main.rhai`; `import "x"` resolves to `<plugin_dir>/x.rhai`.
    pub fn load(
        plugin_dir: &Path,
        engine: Arc<dyn Engine>,
        limits: PluginLimits,
    ) -> Result<Self, PluginError> {
        let path = plugin_dir.join(MAIN_SCRIPT);
        let source = std::fs::read_to_string(&path).map_err(|source| PluginError::Io {
            file: path.clone(),
            source,
        })?;
        let script = Script::compile(
            &source,
            &path.display().to_string(),
            Some(plugin_dir),
            &limits,
        )?;
        Self::new(script, engine, limits)
    }

    /// A plugin from source text (`import` resolves from the working directory).
    pub fn from_source(
        source: &str,
        engine: Arc<dyn Engine>,
        limits: PluginLimits,
    ) -> Result<Self, PluginError> {
        let script = Script::compile(source, INLINE_SOURCE, None, &limits)?;
        Self::new(script, engine, limits)
    }

    fn new(
        script: Script,
        engine: Arc<dyn Engine>,
        limits: PluginLimits,
    ) -> Result<Self, PluginError> {
        let host = Host::new(engine);
        let (config, unknown_keys) = match saved_config(host.engine.as_ref()) {
            Some(parsed) => (Some(parsed.config), parsed.unknown_keys),
            None => (None, Vec::new()),
        };
        host.set_config(config);
        let runtime = Runtime::new(&script, &host, &limits)?;
        Ok(Self {
            config: host.config(),
            host,
            script,
            runtime,
            limits,
            unknown_keys,
        })
    }

    /// The handle that cancels this plugin's calls from another thread.
    pub fn canceller(&self) -> CallCancel {
        CallCancel(self.host.cancel.clone())
    }

    /// Marks call `id` as the running one until the scope drops, so
    /// [`CallCancel::cancel`]`(id)` stops it; fails when it was cancelled before it started.
    pub fn enter_call(&self, id: CallId) -> Result<CallScope, PluginError> {
        CallScope::enter(&self.host.cancel, id).ok_or_else(|| PluginError::Cancelled {
            function: String::new(),
        })
    }

    /// The plugin's interface: public script functions `bv node run` can call (no
    /// parameter or one; each overload once), plus `init` and `upload` when a `plugin_config` is
    /// loaded or the script defines `plugin_config()` (so a node that never ran init can
    /// still be initialised by name). Helpers stay out: `private fn`, or more parameters.
    pub fn capabilities(&self) -> Vec<String> {
        let mut caps: Vec<String> = self
            .script
            .functions
            .iter()
            .filter(|(_, params)| *params <= 1)
            .map(|(name, _)| name.clone())
            .collect();
        if self.has_defaults() {
            for name in ["init", "upload"] {
                if !caps.iter().any(|c| c == name) {
                    caps.push(name.to_string());
                }
            }
        }
        caps
    }

    pub fn has_capability(&self, name: &str) -> bool {
        self.script.has_fn(name, 0)
            || self.script.has_fn(name, 1)
            || (self.has_defaults() && (name == "init" || name == "upload"))
    }

    /// Whether default init/upload are available.
    fn has_defaults(&self) -> bool {
        self.config.is_some() || self.script.has_fn("plugin_config", 0)
    }

    /// The loaded `plugin_config`, if any.
    pub fn plugin_config(&self) -> Option<&PluginConfig> {
        self.config.as_ref()
    }

    /// Unknown `plugin_config` keys found by the last [`Self::reload_plugin_config`]: they
    /// are ignored, so the node runs; callers show them as warnings.
    pub fn config_warnings(&self) -> &[UnknownKey] {
        &self.unknown_keys
    }

    fn set_config(&mut self, config: Option<PluginConfig>) {
        self.host.set_config(config.clone());
        self.config = config;
    }

    /// Re-evaluates the script's top level, then evaluates, validates and saves
    /// `plugin_config()` (or clears it when the script has none). Unknown keys are logged
    /// as warnings and kept for [`Self::config_warnings`].
    pub fn reload_plugin_config(&mut self) -> Result<(), PluginError> {
        self.runtime = Runtime::new(&self.script, &self.host, &self.limits)?;
        self.unknown_keys.clear();
        if !self.script.has_fn("plugin_config", 0) {
            self.set_config(None);
            self.host.engine.save_config("null")?;
            return Ok(());
        }
        let value = self.runtime.call("plugin_config", None)?;
        let json: serde_json::Value =
            rhai::serde::from_dynamic(&value).map_err(ConfigError::Value)?;
        // Saved as evaluated, unknown keys included, so a restarted host reports them too.
        let text = serde_json::to_string(&json).map_err(ConfigError::Json)?;
        let parsed = config::parse_plugin_config(json)?;
        for key in &parsed.unknown_keys {
            self.host.engine.log(LogLevel::Warn, &key.to_string());
        }
        self.host.engine.save_config(&text)?;
        self.unknown_keys = parsed.unknown_keys;
        self.set_config(Some(parsed.config));
        Ok(())
    }

    /// Reloads the config, then runs the script's `init()` or the default init.
    pub fn init(&mut self) -> Result<(), PluginError> {
        self.reload_plugin_config()?;
        if self.script.has_fn_named("init") {
            let _ = self.runtime.call("init", None)?;
            return Ok(());
        }
        let config = self.config.clone().ok_or(PluginError::MissingConfig)?;
        defaults::default_init(self.host.engine.as_ref(), &config)?;
        Ok(())
    }

    /// Runs the script's `upload()` or the default upload.
    pub fn upload(&mut self) -> Result<(), PluginError> {
        if self.script.has_fn_named("upload") {
            let _ = self.runtime.call("upload", None)?;
            return Ok(());
        }
        let config = self.config.clone().ok_or(PluginError::MissingConfig)?;
        defaults::default_upload(self.host.engine.as_ref(), &config)?;
        Ok(())
    }

    /// Special job-derived states first (uploading, downloading, starting), else the
    /// script's `protocol_status()`.
    pub fn protocol_status(&self) -> Result<ProtocolStatus, PluginError> {
        let jobs = self.host.engine.get_jobs()?;
        if let Some(status) = status::special_state(&jobs, self.config.as_ref()) {
            return Ok(status);
        }
        let value = self.call_known("protocol_status")?;
        rhai::serde::from_dynamic(&value).map_err(|err| PluginError::Script {
            function: "protocol_status".to_string(),
            message: format!(
                "expected #{{state: string, health: \"healthy\"|\"neutral\"|\"unhealthy\"}}: {err}"
            ),
            position: None,
        })
    }

    pub fn height(&self) -> Result<u64, PluginError> {
        self.call_u64("height")
    }

    pub fn block_age(&self) -> Result<u64, PluginError> {
        self.call_u64("block_age")
    }

    /// Seconds until it is safe to restart the node for an upgrade (0: now).
    pub fn upgrade_window(&self) -> Result<u64, PluginError> {
        self.call_u64("upgrade_window")
    }

    pub fn name(&self) -> Result<String, PluginError> {
        self.call_string("name")
    }

    pub fn address(&self) -> Result<String, PluginError> {
        self.call_string("address")
    }

    pub fn consensus(&self) -> Result<bool, PluginError> {
        let value = self.call_known("consensus")?;
        value
            .as_bool()
            .map_err(|t| mismatch("consensus", "bool", t))
    }

    fn call_known(&self, name: &str) -> Result<Dynamic, PluginError> {
        if !self.script.has_fn(name, 0) {
            return Err(PluginError::MethodNotFound(name.to_string()));
        }
        self.runtime.call(name, None)
    }

    fn call_u64(&self, name: &str) -> Result<u64, PluginError> {
        let value = self.call_known(name)?;
        let int = value.as_int().map_err(|t| mismatch(name, "i64", t))?;
        u64::try_from(int).map_err(|_| PluginError::Script {
            function: name.to_string(),
            message: format!("must return a non-negative integer, got {int}"),
            position: None,
        })
    }

    fn call_string(&self, name: &str) -> Result<String, PluginError> {
        let value = self.call_known(name)?;
        value.into_string().map_err(|t| mismatch(name, "string", t))
    }
}

fn mismatch(function: &str, expected: &str, actual: &str) -> PluginError {
    PluginError::Script {
        function: function.to_string(),
        message: format!("Output type incorrect: {actual} (expecting {expected})"),
        position: None,
    }
}

/// The config saved by the last successful reload (and its unknown keys), so capabilities
/// and warnings survive restarts.
fn saved_config(engine: &dyn Engine) -> Option<config::ParsedConfig> {
    let text = match engine.load_config() {
        Ok(Some(text)) => text,
        Ok(None) => return None,
        Err(err) => {
            engine.log(
                LogLevel::Warn,
                &format!("failed to load saved plugin_config: {err}"),
            );
            return None;
        }
    };
    let parsed = serde_json::from_str::<serde_json::Value>(&text)
        .map_err(ConfigError::Json)
        .and_then(|value| match value {
            serde_json::Value::Null => Ok(None),
            value => config::parse_plugin_config(value).map(Some),
        });
    parsed.unwrap_or_else(|err| {
        engine.log(
            LogLevel::Warn,
            &format!("ignoring invalid saved plugin_config: {err}"),
        );
        None
    })
}
