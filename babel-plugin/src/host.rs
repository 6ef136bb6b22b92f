//! State shared between the plugin host and the functions it registers in Rhai.

use std::sync::{Arc, RwLock};

use babel_api::engine::Engine;

use super::cancel::CancelState;
use super::config::PluginConfig;
use super::limits::Deadline;

/// What registered functions act on: the node's [`Engine`] and the loaded config.
pub(crate) struct Host {
    pub engine: Arc<dyn Engine>,
    /// The current `plugin_config`; replaced by `reload_plugin_config`, so script-callable
    /// `default_init()` / `default_upload()` always see the fresh one.
    pub config: RwLock<Option<PluginConfig>>,
    /// The per-call script budget; paused while the engine runs a request.
    pub deadline: Arc<Deadline>,
    /// Cancellation of the running call, shared by every runtime of this plugin.
    pub cancel: Arc<CancelState>,
}

impl Host {
    pub fn new(engine: Arc<dyn Engine>) -> Arc<Self> {
        Arc::new(Self {
            engine,
            config: RwLock::new(None),
            deadline: Deadline::new(),
            cancel: Arc::default(),
        })
    }

    pub fn config(&self) -> Option<PluginConfig> {
        match self.config.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn set_config(&self, config: Option<PluginConfig>) {
        match self.config.write() {
            Ok(mut guard) => *guard = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
    }
}

/// The engine tag through which registered functions find their [`Host`]. Functions are
/// registered once per process in a shared module; only the tag differs per plugin.
#[derive(Clone)]
pub(crate) struct HostHandle(pub Arc<Host>);
