//! Node rootfs as an overlay over a local directory (`dir:/abs/path` images): the lower
//! layer is shared and read-only, each node gets its own upper layer under its node dir.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use nix::mount::{MntFlags, MsFlags};

use super::provider::{ImageInfo, ProgressFn, RootfsError, RootfsProvider};

pub const DIR_SCHEME: &str = "dir:";

#[derive(Debug, Default)]
pub struct DirOverlay;

fn lower_of(uri: &str) -> Result<PathBuf, RootfsError> {
    let path = uri
        .strip_prefix(DIR_SCHEME)
        .ok_or_else(|| RootfsError(format!("`{uri}` is not a {DIR_SCHEME} image")))?;
    let path = PathBuf::from(path);
    if !path.is_absolute() || !path.is_dir() {
        return Err(RootfsError(format!(
            "image `{uri}`: {} is not an existing absolute directory",
            path.display()
        )));
    }
    Ok(path)
}

/// Whether `path` is a mount point (listed in /proc/self/mountinfo).
pub fn is_mounted(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let target = path.to_string_lossy();
    info.lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .any(|m| m == target)
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
        if is_mounted(&target) {
            return Ok(target);
        }
        let upper = node_dir.join(super::provider::LAYER_DIR).join("upper");
        let work = node_dir.join(super::provider::LAYER_DIR).join("work");
        for d in [&target, &upper, &work] {
            std::fs::create_dir_all(d)
                .map_err(|e| RootfsError(format!("creating {}: {e}", d.display())))?;
        }
        let data = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.display(),
            upper.display(),
            work.display()
        );
        nix::mount::mount(
            Some("overlay"),
            &target,
            Some("overlay"),
            MsFlags::empty(),
            Some(data.as_str()),
        )
        .map_err(|e| RootfsError(format!("mounting overlay at {}: {e}", target.display())))?;
        Ok(target)
    }

    async fn unmount(&self, node_dir: &Path) -> Result<(), RootfsError> {
        let target = node_dir.join("rootfs");
        if is_mounted(&target) {
            nix::mount::umount2(&target, MntFlags::empty())
                .map_err(|e| RootfsError(format!("unmounting {}: {e}", target.display())))?;
        }
        Ok(())
    }
}
