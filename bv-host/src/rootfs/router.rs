//! The provider the daemon uses: `dir:` images as plain overlays, the rest from the image
//! store.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::provider::{ImageInfo, ProgressFn, RootfsError, RootfsProvider};
use super::{overlay, store};

/// Routes `dir:` images to [`overlay::DirOverlay`] and everything else to the image store.
#[derive(Debug)]
pub struct Router {
    dir: overlay::DirOverlay,
    store: store::StoreRootfs,
}

pub fn default_provider(config: &crate::config::Config) -> std::sync::Arc<dyn RootfsProvider> {
    std::sync::Arc::new(Router {
        dir: overlay::DirOverlay::default(),
        store: store::StoreRootfs::new(config),
    })
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
        self.store.ensure(uri, progress).await
    }

    async fn mount(&self, uri: &str, node_dir: &Path) -> Result<PathBuf, RootfsError> {
        if uri.starts_with(overlay::DIR_SCHEME) {
            return self.dir.mount(uri, node_dir).await;
        }
        self.store.mount(uri, node_dir).await
    }

    async fn unmount(&self, node_dir: &Path) -> Result<(), RootfsError> {
        self.store.unmount(node_dir).await?;
        self.dir.unmount(node_dir).await
    }

    // Both providers see the same mount table.
    fn mounts_under(&self, dir: &Path) -> Vec<PathBuf> {
        self.store.mounts_under(dir)
    }

    async fn unmount_at(&self, target: &Path) -> Result<(), RootfsError> {
        self.store.unmount_at(target).await
    }

    async fn sweep_tmp(&self) -> Vec<PathBuf> {
        self.store.sweep_tmp().await
    }
}
