//! The seam between node lifecycle and the image store: fetch an image once, give each node
//! a writable rootfs on top of it.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RootfsError(pub String);

/// Progress of an image pull/unpack, for the CLI's progress bars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// `pull` or `unpack`.
    pub phase: String,
    pub current: u64,
    pub total: u64,
    pub message: String,
}

pub type ProgressFn = Box<dyn Fn(Progress) + Send + Sync>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub uri: String,
    pub digest: String,
    /// `KEY=value` pairs from the image config.
    pub env: Vec<String>,
}

#[async_trait]
pub trait RootfsProvider: Send + Sync + 'static {
    /// Makes the image available locally (pull + unpack once per digest).
    async fn ensure(
        &self,
        uri: &str,
        progress: Option<ProgressFn>,
    ) -> Result<ImageInfo, RootfsError>;
    /// Mounts `<node_dir>/rootfs` as a writable layer over the image; returns its path.
    /// Idempotent: an already mounted rootfs is left as is.
    async fn mount(&self, uri: &str, node_dir: &Path) -> Result<PathBuf, RootfsError>;
    /// Unmounts the node's rootfs and drops its writable layer.
    async fn unmount(&self, node_dir: &Path) -> Result<(), RootfsError>;
}

pub mod overlay;

/// Routes `dir:` images to [`overlay::DirOverlay`] and everything else to the image store.
#[derive(Debug, Default)]
pub struct Router {
    dir: overlay::DirOverlay,
}

pub fn default_provider(_config: &crate::config::Config) -> std::sync::Arc<dyn RootfsProvider> {
    std::sync::Arc::new(Router::default())
}

#[async_trait]
impl RootfsProvider for Router {
    async fn ensure(
        &self,
        uri: &str,
        progress: Option<ProgressFn>,
    ) -> Result<ImageInfo, RootfsError> {
        if uri.starts_with(overlay::DIR_SCHEME) {
            return self.dir.ensure(uri, progress).await;
        }
        Err(RootfsError(format!(
            "image `{uri}`: no image store for this scheme yet"
        )))
    }

    async fn mount(&self, uri: &str, node_dir: &Path) -> Result<PathBuf, RootfsError> {
        if uri.starts_with(overlay::DIR_SCHEME) {
            return self.dir.mount(uri, node_dir).await;
        }
        Err(RootfsError(format!(
            "image `{uri}`: no image store for this scheme yet"
        )))
    }

    async fn unmount(&self, node_dir: &Path) -> Result<(), RootfsError> {
        self.dir.unmount(node_dir).await
    }
}
