//! The rootfs seam: what node lifecycle asks of an image provider.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use crate::image::ImageError;

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// The image store could not provide or mount the image.
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("`{uri}` is not a {scheme} image")]
    NotDirImage { uri: String, scheme: &'static str },
    #[error("image `{uri}`: {} is not an existing absolute directory", path.display())]
    BadDir { uri: String, path: PathBuf },
    #[error("{context} {}: {source}", path.display())]
    Io {
        context: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("image `{uri}` not found")]
    NotFound { uri: String },
}

/// Progress of an image pull/unpack, for the CLI's progress bars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// `pull` or `unpack`; empty with `done` set at the end of a phase.
    pub phase: String,
    pub total: Option<u64>,
    pub advance: u64,
    pub done: bool,
}

pub type ProgressFn = Box<dyn Fn(Progress) + Send + Sync>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub uri: String,
    pub digest: String,
    /// `KEY=value` pairs from the image config.
    pub env: Vec<String>,
}

/// Where a node's writable layer lives, and its backup during an upgrade.
pub const LAYER_DIR: &str = "overlay";
pub const LAYER_BACKUP_DIR: &str = "overlay.pre-upgrade";

/// Wraps an I/O error with what was done to which path.
pub fn io(context: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RootfsError {
    let path = path.to_owned();
    move |source| RootfsError::Io {
        context,
        path,
        source,
    }
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
    /// Unmounts the node's rootfs (the writable layer stays).
    async fn unmount(&self, node_dir: &Path) -> Result<(), RootfsError>;
    /// Every mount point at or below `dir`, deepest first (the start-up sweep).
    fn mounts_under(&self, dir: &Path) -> Vec<PathBuf>;
    /// Unmounts whatever is mounted at `target` (the start-up sweep).
    async fn unmount_at(&self, target: &Path) -> Result<(), RootfsError>;
    /// Removes leftovers of interrupted pulls; what was removed. Only at daemon start.
    async fn sweep_tmp(&self) -> Vec<PathBuf> {
        vec![]
    }

    /// Upgrade: unmount and keep the writable layer aside, so the next mount starts fresh.
    async fn set_aside(&self, node_dir: &Path) -> Result<(), RootfsError> {
        self.unmount(node_dir).await?;
        let (layer, backup) = (node_dir.join(LAYER_DIR), node_dir.join(LAYER_BACKUP_DIR));
        if backup.exists() {
            std::fs::remove_dir_all(&backup).map_err(io("removing", &backup))?;
        }
        if layer.exists() {
            std::fs::rename(&layer, &backup).map_err(io("moving aside", &layer))?;
        }
        Ok(())
    }

    /// Rollback: unmount and bring the set-aside layer back.
    async fn restore(&self, node_dir: &Path) -> Result<(), RootfsError> {
        self.unmount(node_dir).await?;
        let (layer, backup) = (node_dir.join(LAYER_DIR), node_dir.join(LAYER_BACKUP_DIR));
        if backup.exists() {
            if layer.exists() {
                std::fs::remove_dir_all(&layer).map_err(io("removing", &layer))?;
            }
            std::fs::rename(&backup, &layer).map_err(io("restoring", &backup))?;
        }
        Ok(())
    }

    /// Upgrade done: drop the set-aside layer.
    async fn discard(&self, node_dir: &Path) -> Result<(), RootfsError> {
        let backup = node_dir.join(LAYER_BACKUP_DIR);
        if backup.exists() {
            std::fs::remove_dir_all(&backup).map_err(io("removing", &backup))?;
        }
        Ok(())
    }
}
