//! [`ImageStore`]: resolve → fetch → unpack once per digest → record; node mounts.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::config::parse_config_blob;
use super::index::{Layout, RefEntry, now_secs};
use super::mount::{self, Mounter, SystemMounter};
use super::sources::{self, Fetched, Plan, Resolved, docker_daemon, oci_layout, registry};
use super::unpack::{UnpackOptions, unpack_layers};
use super::uri::{ImageUri, is_sha256_digest};
use super::{Image, ImageError, NodeRootfs, ProgressSink, progress};

/// Username and password (or token) for a registry.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryCredentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for RegistryCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Configuration of the store.
#[derive(Debug, Clone)]
pub struct ImageStoreConfig {
    /// Everything lives under this directory (e.g. `<bv_root>/images`).
    pub root: PathBuf,
    /// Docker endpoint, default `unix:///var/run/docker.sock`.
    pub docker_host: Option<String>,
    /// Registry hosts (`host[:port]`) allowed over plain HTTP.
    pub registry_insecure: Vec<String>,
    /// Basic-auth credentials per registry host (`host[:port]`); others pull anonymously.
    pub registry_credentials: BTreeMap<String, RegistryCredentials>,
    /// Re-inspect `docker-daemon://` tags older than this (default 0 = always).
    pub docker_refresh: Duration,
    /// Re-resolve `docker://` tags older than this (default 5 min).
    pub registry_refresh: Duration,
    /// Use overlay mounts for nodes (default true); `false` forces copies.
    pub overlay: bool,
    /// Unpack options (ownership etc. follow whether we run as root).
    pub unpack: UnpackOptions,
}

impl ImageStoreConfig {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ImageStoreConfig {
            root: root.into(),
            docker_host: None,
            registry_insecure: Vec::new(),
            registry_credentials: BTreeMap::new(),
            docker_refresh: Duration::ZERO,
            registry_refresh: Duration::from_secs(300),
            overlay: true,
            unpack: UnpackOptions::default(),
        }
    }
}

/// The image store. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct ImageStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ImageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageStore")
            .field("root", &self.inner.layout.root)
            .finish()
    }
}

struct Inner {
    config: ImageStoreConfig,
    layout: Layout,
    docker: tokio::sync::OnceCell<bollard::Docker>,
    registry: std::sync::OnceLock<oci_client::Client>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    refs_lock: Mutex<()>,
    mounter: Arc<dyn Mounter>,
}

impl ImageStore {
    pub fn new(config: ImageStoreConfig) -> Self {
        Self::with_mounter(config, Arc::new(SystemMounter))
    }

    /// A store with a custom [`Mounter`] (tests, alternative mount strategies).
    pub fn with_mounter(config: ImageStoreConfig, mounter: Arc<dyn Mounter>) -> Self {
        let layout = Layout {
            root: config.root.clone(),
        };
        clean_stale_tmp(&layout.tmp());
        ImageStore {
            inner: Arc::new(Inner {
                config,
                layout,
                docker: tokio::sync::OnceCell::new(),
                registry: std::sync::OnceLock::new(),
                locks: Mutex::new(HashMap::new()),
                refs_lock: Mutex::new(()),
                mounter,
            }),
        }
    }

    pub fn root(&self) -> &Path {
        &self.inner.layout.root
    }

    /// Parse `uri`, fetch it unless cached, unpack it once per image digest (concurrent callers
    /// for one digest wait for a single unpack) and return it. See the module docs for when a
    /// cached tag → digest mapping is trusted without asking the source.
    pub async fn ensure(
        &self,
        uri: &str,
        progress: &dyn ProgressSink,
    ) -> Result<Image, ImageError> {
        let parsed = ImageUri::parse(uri)?;
        let key = parsed.canonical();
        let layout = &self.inner.layout;
        layout.create_dirs()?;
        let cached = self.cached_ref(&key)?;
        if let Some(r) = &cached
            && self.is_fresh(&parsed, r)
            && let Some(img) = layout.load_image(&r.digest)?
        {
            return Ok(Image {
                uri: uri.to_string(),
                ..img
            });
        }
        let resolved = match self.resolve(&parsed, uri).await {
            Ok(r) => r,
            Err(e @ (ImageError::Docker { .. } | ImageError::Registry { .. })) => {
                if let Some(r) = &cached
                    && let Some(img) = layout.load_image(&r.digest)?
                {
                    tracing::warn!(%uri, error = %e, digest = %r.digest, "source unreachable; using the cached image");
                    return Ok(Image {
                        uri: uri.to_string(),
                        ..img
                    });
                }
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let digest = resolved.digest.clone();
        let lock = self.lock_for(&digest);
        let _guard = lock.lock().await;
        if let Some(img) = layout.load_image(&digest)? {
            self.record_ref(&key, &digest)?;
            return Ok(Image {
                uri: uri.to_string(),
                ..img
            });
        }
        let img = self.fetch_and_unpack(resolved, uri, progress).await?;
        self.record_ref(&key, &digest)?;
        Ok(img)
    }

    /// Mount the node's writable rootfs at `node_dir/rootfs` (see the module docs).
    pub fn mount_node_rootfs(
        &self,
        image: &Image,
        node_dir: &Path,
    ) -> Result<NodeRootfs, ImageError> {
        mount::mount_node(
            self.inner.mounter.as_ref(),
            image,
            node_dir,
            self.inner.config.overlay,
        )
    }

    /// Unmount the node's overlay (idempotent). A copy-mode rootfs is left in place.
    pub fn unmount_node_rootfs(&self, node_dir: &Path) -> Result<(), ImageError> {
        mount::unmount_node(self.inner.mounter.as_ref(), node_dir)
    }

    /// Before an upgrade (rootfs unmounted): move the node's writable state aside
    /// (`overlay/` → `overlay.backup/`, and `rootfs/` → `rootfs.backup/` for a copy), so the
    /// new image gets a fresh upper. Replaces an older backup. Node data is not involved.
    pub fn backup_node_rootfs(&self, node_dir: &Path) -> Result<(), ImageError> {
        mount::backup_node(self.inner.mounter.as_ref(), node_dir)
    }

    /// Roll back a failed upgrade: drop the current writable state and restore the backup.
    pub fn restore_node_rootfs(&self, node_dir: &Path) -> Result<(), ImageError> {
        mount::restore_node(self.inner.mounter.as_ref(), node_dir)
    }

    /// Delete the backup after a successful upgrade (idempotent).
    pub fn discard_node_rootfs_backup(&self, node_dir: &Path) -> Result<(), ImageError> {
        mount::discard_backup(node_dir)
    }

    /// Whether the node's rootfs is ready to use (overlay mounted, or a copy present).
    /// Every mount point at or below `dir`, deepest first.
    pub fn mounts_under(&self, dir: &Path) -> Vec<PathBuf> {
        self.inner.mounter.mounts_under(dir)
    }

    /// Unmounts whatever is mounted at `target`.
    pub fn unmount_at(&self, target: &Path) -> Result<(), ImageError> {
        self.inner
            .mounter
            .unmount(target)
            .map_err(|e| ImageError::io(target, e))
    }

    /// Removes every temporary entry (interrupted pulls and unpacks). Only for a caller that
    /// knows no pull runs on this store (the daemon at start, under its root lock).
    pub fn sweep_tmp(&self) -> Vec<PathBuf> {
        let Ok(rd) = std::fs::read_dir(self.inner.layout.tmp()) else {
            return vec![];
        };
        let mut removed = vec![];
        for ent in rd.flatten() {
            let path = ent.path();
            let gone = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            match gone {
                Ok(()) => removed.push(path),
                Err(e) => tracing::warn!(path = %path.display(), "cannot remove: {e}"),
            }
        }
        removed
    }

    pub fn is_mounted(&self, node_dir: &Path) -> bool {
        mount::is_mounted(self.inner.mounter.as_ref(), node_dir)
    }

    /// Delete an unpacked image (`sha256:<hex>` or `<hex>`). Refused while an overlay uses it.
    pub fn remove(&self, digest: &str) -> Result<(), ImageError> {
        let digest = if digest.starts_with("sha256:") {
            digest.to_string()
        } else {
            format!("sha256:{digest}")
        };
        if !is_sha256_digest(&digest) {
            return Err(ImageError::UnknownDigest { digest });
        }
        let layout = &self.inner.layout;
        let record = layout.record(&digest);
        let rootfs = layout.rootfs(&digest);
        if !record.exists() && !rootfs.exists() {
            return Err(ImageError::UnknownDigest { digest });
        }
        if let Some(mount) = self.inner.mounter.overlays_on(&rootfs).into_iter().next() {
            return Err(ImageError::InUse { digest, mount });
        }
        match std::fs::remove_file(&record) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ImageError::io(&record, e)),
        }
        if rootfs.exists() {
            layout.create_dirs()?;
            let trash = layout.tmp().join(format!(
                "gc-{}-{}",
                std::process::id(),
                super::index::unique()
            ));
            std::fs::rename(&rootfs, &trash).map_err(|e| ImageError::io(&rootfs, e))?;
            std::fs::remove_dir_all(&trash).map_err(|e| ImageError::io(&trash, e))?;
        }
        let _g = self
            .inner
            .refs_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut refs = layout.load_refs()?;
        refs.retain(|_, r| r.digest != digest);
        layout.save_refs(&refs)
    }

    /// All unpacked images.
    pub fn list(&self) -> Result<Vec<Image>, ImageError> {
        self.inner.layout.list_images()
    }

    fn lock_for(&self, digest: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.inner.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.retain(|_, l| Arc::strong_count(l) > 1);
        locks.entry(digest.to_string()).or_default().clone()
    }

    fn cached_ref(&self, key: &str) -> Result<Option<RefEntry>, ImageError> {
        let _g = self
            .inner
            .refs_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        Ok(self.inner.layout.load_refs()?.remove(key))
    }

    fn record_ref(&self, key: &str, digest: &str) -> Result<(), ImageError> {
        let _g = self
            .inner
            .refs_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut refs = self.inner.layout.load_refs()?;
        refs.insert(
            key.to_string(),
            RefEntry {
                digest: digest.to_string(),
                checked_at: now_secs(),
            },
        );
        self.inner.layout.save_refs(&refs)
    }

    fn is_fresh(&self, uri: &ImageUri, r: &RefEntry) -> bool {
        if uri.is_pinned() {
            return true;
        }
        let age = Duration::from_secs(now_secs().saturating_sub(r.checked_at));
        match uri {
            ImageUri::DockerDaemon { .. } => age < self.inner.config.docker_refresh,
            ImageUri::Registry { .. } => age < self.inner.config.registry_refresh,
            ImageUri::OciLayout { .. } => false,
        }
    }

    async fn docker(&self, uri: &str) -> Result<&bollard::Docker, ImageError> {
        let host = self
            .inner
            .config
            .docker_host
            .clone()
            .unwrap_or_else(|| docker_daemon::DEFAULT_HOST.to_string());
        self.inner
            .docker
            .get_or_try_init(|| docker_daemon::connect(&host, uri))
            .await
    }

    fn registry(&self) -> &oci_client::Client {
        self.inner
            .registry
            .get_or_init(|| registry::client(&self.inner.config.registry_insecure))
    }

    async fn resolve(&self, parsed: &ImageUri, uri: &str) -> Result<Resolved, ImageError> {
        match parsed {
            ImageUri::DockerDaemon { reference } => {
                docker_daemon::resolve(self.docker(uri).await?, reference, uri).await
            }
            ImageUri::Registry { reference } => {
                let host = reference.split('/').next().unwrap_or_default();
                let auth = match self.inner.config.registry_credentials.get(host) {
                    Some(c) => oci_client::secrets::RegistryAuth::Basic(
                        c.username.clone(),
                        c.password.clone(),
                    ),
                    None => oci_client::secrets::RegistryAuth::Anonymous,
                };
                registry::resolve(self.registry(), reference, &auth, uri).await
            }
            ImageUri::OciLayout { dir, tag } => {
                let (d, t, u) = (dir.clone(), tag.clone(), uri.to_string());
                tokio::task::spawn_blocking(move || oci_layout::resolve(&d, t.as_deref(), &u))
                    .await
                    .map_err(ImageError::Task)?
            }
        }
    }

    async fn fetch_and_unpack(
        &self,
        resolved: Resolved,
        uri: &str,
        progress: &dyn ProgressSink,
    ) -> Result<Image, ImageError> {
        let layout = &self.inner.layout;
        let spool = match &resolved.plan {
            Plan::Local { .. } => None,
            _ => Some(layout.scratch("pull")?),
        };
        bv_base::fault::point("pull.after_scratch");
        let result = self
            .fetch_unpack_inner(resolved, uri, spool.as_deref(), progress)
            .await;
        if let Some(s) = spool {
            remove_tree_bg(s).await;
        }
        result
    }

    async fn fetch_unpack_inner(
        &self,
        resolved: Resolved,
        uri: &str,
        spool: Option<&Path>,
        progress: &dyn ProgressSink,
    ) -> Result<Image, ImageError> {
        let layout = &self.inner.layout;
        let digest = resolved.digest;
        let spool_dir = || spool.ok_or(ImageError::NoSpool);
        let fetched: Fetched = match resolved.plan {
            Plan::Docker { reference, size } => {
                let docker = self.docker(uri).await?;
                docker_daemon::fetch(docker, &reference, size, uri, spool_dir()?, progress).await?
            }
            Plan::Registry { reference, layers } => {
                let config = resolved.config.ok_or(ImageError::NoRegistryConfig)?;
                registry::fetch(
                    self.registry(),
                    &reference,
                    &layers,
                    config,
                    uri,
                    spool_dir()?,
                    progress,
                )
                .await?
            }
            Plan::Local { layers } => Fetched {
                config: resolved.config.unwrap_or_default(),
                layers,
            },
        };
        let bad = |reason: String| ImageError::BadImage {
            uri: uri.to_string(),
            reason,
        };
        if sources::sha256_digest(&fetched.config) != digest {
            return Err(bad(format!(
                "config blob does not match the image ID {digest}"
            )));
        }
        let parsed = parse_config_blob(&fetched.config).map_err(bad)?;
        if !parsed.diff_ids.is_empty() && parsed.diff_ids.len() != fetched.layers.len() {
            return Err(bad(format!(
                "config lists {} layers but the manifest has {}",
                parsed.diff_ids.len(),
                fetched.layers.len()
            )));
        }
        let staging = layout.scratch("unpack")?;
        let tmp_rootfs = staging.join("rootfs");
        let result = async {
            std::fs::create_dir(&tmp_rootfs).map_err(|e| ImageError::io(&tmp_rootfs, e))?;
            let opts = self.inner.config.unpack;
            let (dir, layers) = (tmp_rootfs.clone(), fetched.layers);
            progress::run_blocking(progress, move |sink| {
                unpack_layers(&dir, &layers, opts, sink)
            })
            .await??;
            let final_rootfs = layout.rootfs(&digest);
            if final_rootfs.exists() {
                // Left over from an interrupted run (no record was written): replace it.
                let old = staging.join("old");
                std::fs::rename(&final_rootfs, &old)
                    .map_err(|e| ImageError::io(&final_rootfs, e))?;
            }
            std::fs::rename(&tmp_rootfs, &final_rootfs)
                .map_err(|e| ImageError::io(&final_rootfs, e))?;
            let img = Image {
                uri: uri.to_string(),
                digest: digest.clone(),
                rootfs: final_rootfs,
                config: parsed.config,
            };
            bv_base::json_file::write(&layout.record(&digest), &img, None)?;
            Ok(img)
        }
        .await;
        remove_tree_bg(staging).await;
        result
    }
}

/// Remove a directory tree on the blocking pool, logging failures.
async fn remove_tree_bg(path: PathBuf) {
    let res = tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err((path, e)),
    })
    .await;
    if let Ok(Err((path, e))) = res {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove temporary files");
    }
}

/// Remove temp entries older than an hour (left by crashed runs).
fn clean_stale_tmp(tmp: &Path) {
    let Ok(rd) = std::fs::read_dir(tmp) else {
        return;
    };
    for ent in rd.flatten() {
        let old = ent
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(3600));
        if old {
            let _ = std::fs::remove_dir_all(ent.path());
        }
    }
}
