//! Fake rootfs provider for unit tests: "mounts" a plain directory with a plugin in it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;

use super::provider::{ImageInfo, ProgressFn, RootfsError, RootfsProvider, io};

#[derive(Debug, Default)]
pub struct FakeRootfs {
    pub calls: Mutex<Vec<String>>,
    /// Plugin written into every mounted rootfs.
    pub plugin: String,
    /// Plugins of particular images: the first whose key the URI contains replaces `plugin`.
    pub plugin_for: Vec<(String, String)>,
    /// Mounted rootfs paths.
    pub mounted: Mutex<std::collections::BTreeSet<PathBuf>>,
    /// Leftovers the next `sweep_tmp` reports as removed (tests plant them).
    pub tmp: Mutex<Vec<PathBuf>>,
}

impl FakeRootfs {
    pub fn mounted(&self) -> Vec<PathBuf> {
        self.mounted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

#[async_trait]
impl RootfsProvider for FakeRootfs {
    async fn ensure(&self, uri: &str, _p: Option<ProgressFn>) -> Result<ImageInfo, RootfsError> {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!("ensure {uri}"));
        if uri.contains("missing") {
            return Err(RootfsError::NotFound { uri: uri.into() });
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
            return Err(RootfsError::Io {
                context: "mounting",
                path: node_dir.join("rootfs"),
                source: std::io::Error::other("cannot mount"),
            });
        }
        let rootfs = node_dir.join("rootfs");
        let plugin = rootfs.join("var/lib/babel/plugin");
        std::fs::create_dir_all(&plugin).map_err(io("creating", &plugin))?;
        let main = plugin.join("main.rhai");
        let plugin_text = self
            .plugin_for
            .iter()
            .find(|(key, _)| uri.contains(key.as_str()))
            .map_or(&self.plugin, |(_, text)| text);
        std::fs::write(&main, plugin_text).map_err(io("writing", &main))?;
        let image = rootfs.join("image");
        std::fs::write(&image, uri).map_err(io("writing", &image))?;
        self.mounted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(rootfs.clone());
        Ok(rootfs)
    }

    fn mounts_under(&self, dir: &Path) -> Vec<PathBuf> {
        self.mounted()
            .into_iter()
            .filter(|p| p.starts_with(dir))
            .collect()
    }

    async fn unmount_at(&self, target: &Path) -> Result<(), RootfsError> {
        self.mounted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(target);
        Ok(())
    }

    async fn sweep_tmp(&self) -> Vec<PathBuf> {
        std::mem::take(&mut *self.tmp.lock().unwrap_or_else(|p| p.into_inner()))
    }

    async fn unmount(&self, node_dir: &Path) -> Result<(), RootfsError> {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push("unmount".into());
        self.mounted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&node_dir.join("rootfs"));
        Ok(())
    }
}
