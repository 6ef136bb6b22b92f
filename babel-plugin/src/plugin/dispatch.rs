//! Host method dispatch by name: the methods the host calls, and custom methods callers
//! name themselves.

use rhai::Dynamic;

use super::{Plugin, PluginError};

impl Plugin {
    /// Runs plugin method `name` with a string parameter and returns its string result:
    /// `init` → `""`, `height`/`block_age` → decimal, `consensus` → `true`/`false`,
    /// `protocol_status` → JSON, `upload` → `null`, anything else → custom method.
    pub fn call_method(&mut self, name: &str, param: &str) -> Result<String, PluginError> {
        if !self.has_capability(name) {
            return Err(PluginError::MethodNotFound(name.to_string()));
        }
        match name {
            "init" => self.init().map(|()| String::new()),
            "upload" => self.upload().map(|()| "null".to_string()),
            "height" => self.height().map(|h| h.to_string()),
            "block_age" => self.block_age().map(|a| a.to_string()),
            "upgrade_window" => self.upgrade_window().map(|s| s.to_string()),
            "name" => self.name(),
            "address" => self.address(),
            "consensus" => self.consensus().map(|c| c.to_string()),
            "protocol_status" => {
                let status = self.protocol_status()?;
                serde_json::to_string(&status).map_err(|err| PluginError::Script {
                    function: name.to_string(),
                    message: err.to_string(),
                    position: None,
                })
            }
            _ => self.call_custom_method(name, param),
        }
    }

    /// A script function taking one string (or none, when `param` is empty) and returning a
    /// string.
    pub fn call_custom_method(&self, name: &str, param: &str) -> Result<String, PluginError> {
        let value = if self.script.has_fn(name, 1) {
            self.runtime
                .call(name, Some(Dynamic::from(param.to_string())))?
        } else if param.is_empty() && self.script.has_fn(name, 0) {
            self.runtime.call(name, None)?
        } else {
            return Err(PluginError::MethodNotFound(name.to_string()));
        };
        value.into_string().map_err(|actual| PluginError::Script {
            function: name.to_string(),
            message: format!("Output type incorrect: {actual} (expecting string)"),
            position: None,
        })
    }
}
