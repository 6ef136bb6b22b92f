//! Node rootfs as an overlay over a local directory (`dir:/abs/path` images): the lower
//! layer is shared and read-only, each node gets its own upper layer under its node dir.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

use super::provider::{ImageInfo, ProgressFn, RootfsError, RootfsProvider, io};
use crate::image::{Mounter, SystemMounter};

pub const DIR_SCHEME: &str = "dir:";

/// Overlays over local directories; mount syscalls go through the image store's [`Mounter`].
pub struct DirOverlay {
    mounter: Arc<dyn Mounter>,
}

impl DirOverlay {
    pub fn new(mounter: Arc<dyn Mounter>) -> Self {
        Self { mounter }
    }
}

impl Default for DirOverlay {
    fn default() -> Self {
        Self::new(Arc::new(SystemMounter))
    }
}

impl std::fmt::Debug for DirOverlay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirOverlay").finish_non_exhaustive()
    }
}

fn lower_of(uri: &str) -> Result<PathBuf, RootfsError> {
    let path = uri
        .strip_prefix(DIR_SCHEME)
        .ok_or_else(|| RootfsError::NotDirImage {
            uri: uri.into(),
            scheme: DIR_SCHEME,
        })?;
    let path = PathBuf::from(path);
    if !path.is_absolute() || !path.is_dir() {
        return Err(RootfsError::BadDir {
            uri: uri.into(),
            path,
        });
    }
    Ok(path)
}

#[async_trait]
impl RootfsProvider for DirOverlay {
    async fn ensure(
        &self,
        uri: &str,
        _progress: Option<ProgressFn>,
    ) -> Result<ImageInfo, RootfsError> {
        let path = lower_of(uri)?;
        Ok(ImageInfo {
            uri: uri.into(),
            digest: format!("dir:{}", path.display()),
            env: vec![],
        })
    }

    async fn mount(&self, uri: &str, node_dir: &Path) -> Result<PathBuf, RootfsError> {
        let lower = lower_of(uri)?;
        let target = node_dir.join("rootfs");
        if self.mounter.is_mount_point(&target) {
            return Ok(target);
        }
        let upper = node_dir.join(super::provider::LAYER_DIR).join("upper");
        let work = node_dir.join(super::provider::LAYER_DIR).join("work");
        for d in [&target, &upper, &work] {
            std::fs::create_dir_all(d).map_err(io("creating", d))?;
        }
        self.mounter
            .mount_overlay(&lower, &upper, &work, &target)
            .map_err(io("mounting an overlay at", &target))?;
        Ok(target)
    }

    fn mounts_under(&self, dir: &Path) -> Vec<PathBuf> {
        self.mounter.mounts_under(dir)
    }

    async fn unmount_at(&self, target: &Path) -> Result<(), RootfsError> {
        self.mounter
            .unmount(target)
            .map_err(io("unmounting", target))
    }

    async fn unmount(&self, node_dir: &Path) -> Result<(), RootfsError> {
        let target = node_dir.join("rootfs");
        if self.mounter.is_mount_point(&target) {
            self.mounter
                .unmount(&target)
                .map_err(io("unmounting", &target))?;
        }
        Ok(())
    }
}
