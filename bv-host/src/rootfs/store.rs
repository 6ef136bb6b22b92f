//! [`RootfsProvider`] over the image store (`docker-daemon://`, `docker://`, `oci:`).

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::provider::{ImageInfo, Progress, ProgressFn, RootfsError, RootfsProvider};
use crate::image::{ImageStore, ImageStoreConfig, NoProgress, Phase, ProgressSink};

#[derive(Debug, Clone)]
pub struct StoreRootfs {
    store: ImageStore,
}

impl StoreRootfs {
    pub fn new(config: &crate::config::Config) -> Self {
        let mut cfg = ImageStoreConfig::new(config.images_dir());
        cfg.docker_host = config.docker_host.clone();
        Self {
            store: ImageStore::new(cfg),
        }
    }
}

struct Sink(ProgressFn);

impl ProgressSink for Sink {
    fn begin(&self, phase: Phase, total_bytes: Option<u64>) {
        (self.0)(Progress {
            phase: match phase {
                Phase::Pull => "pull".into(),
                Phase::Unpack => "unpack".into(),
            },
            total: total_bytes,
            advance: 0,
            done: false,
        });
    }
    fn advance(&self, bytes: u64) {
        (self.0)(Progress {
            phase: String::new(),
            total: None,
            advance: bytes,
            done: false,
        });
    }
    fn finish(&self) {
        (self.0)(Progress {
            phase: String::new(),
            total: None,
            advance: 0,
            done: true,
        });
    }
}

#[async_trait]
impl RootfsProvider for StoreRootfs {
    async fn ensure(
        &self,
        uri: &str,
        progress: Option<ProgressFn>,
    ) -> Result<ImageInfo, RootfsError> {
        let image = match progress {
            Some(f) => self.store.ensure(uri, &Sink(f)).await,
            None => self.store.ensure(uri, &NoProgress).await,
        }?;
        Ok(ImageInfo {
            uri: image.uri,
            digest: image.digest,
            env: image.config.env,
        })
    }

    async fn mount(&self, uri: &str, node_dir: &Path) -> Result<PathBuf, RootfsError> {
        if self.store.is_mounted(node_dir) {
            return Ok(node_dir.join("rootfs"));
        }
        let image = self.store.ensure(uri, &NoProgress).await?;
        let rootfs = self.store.mount_node_rootfs(&image, node_dir)?;
        Ok(rootfs.path)
    }

    async fn unmount(&self, node_dir: &Path) -> Result<(), RootfsError> {
        Ok(self.store.unmount_node_rootfs(node_dir)?)
    }

    fn mounts_under(&self, dir: &Path) -> Vec<PathBuf> {
        self.store.mounts_under(dir)
    }

    async fn unmount_at(&self, target: &Path) -> Result<(), RootfsError> {
        Ok(self.store.unmount_at(target)?)
    }

    async fn sweep_tmp(&self) -> Vec<PathBuf> {
        self.store.sweep_tmp()
    }
}
