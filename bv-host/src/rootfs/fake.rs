//! Fake rootfs provider for unit tests: "mounts" a plain directory with a plugin in it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;

use super::provider::{ImageInfo, ProgressFn, RootfsError, RootfsProvider};

#[derive(Debug, Default)]
pub struct FakeRootfs {
    pub calls: Mutex<Vec<String>>,
    /// Plugin written into every mounted rootfs.
    pub plugin: String,
}

#[async_trait]
impl RootfsProvider for FakeRootfs {
    async fn ensure(&self, uri: &str, _p: Option<ProgressFn>) -> Result<ImageInfo, RootfsError> {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!("ensure {uri}"));
        if uri.contains("missing") {
            return Err(RootfsError(format!("image `{uri}` not found")));
        }
        Ok(ImageInfo {
            uri: uri.into(),
            digest: format!("sha256:{uri}"),
            env: vec![],
        })
    }

    async fn mount(&self, uri: &str, node_dir: &Path) -> Result<PathBuf, RootfsError> {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!("mount {uri}"));
        if uri.contains("unmountable") {
            return Err(RootfsError("cannot mount".into()));
        }
        let rootfs = node_dir.join("rootfs");
        let plugin = rootfs.join("var/lib/babel/plugin");
        std::fs::create_dir_all(&plugin).map_err(|e| RootfsError(e.to_string()))?;
        std::fs::write(plugin.join("main.rhai"), &self.plugin)
            .map_err(|e| RootfsError(e.to_string()))?;
        std::fs::write(rootfs.join("image"), uri).map_err(|e| RootfsError(e.to_string()))?;
        Ok(rootfs)
    }

    async fn unmount(&self, node_dir: &Path) -> Result<(), RootfsError> {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push("unmount".into());
        let _ = node_dir;
        Ok(())
    }
}
