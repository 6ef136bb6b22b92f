//! Image store: OCI images → unpacked rootfs directories → per-node writable roots.
//!
//! Sources: `docker-daemon://NAME:TAG` (local dockerd via bollard, API version negotiated),
//! `docker://REF` (registry via oci-client) and `oci:/layout/dir[:tag]`. Each image is
//! unpacked **once per image digest** (the config digest, i.e. the image ID) by our own layer
//! unpacker (whiteouts, opaque dirs, root-confined paths), into `<root>/rootfs/<hex>`.
//! Nodes get an overlay over it (`mount_node_rootfs`), or a copy where overlay is unavailable.
//!
//! # Freshness policy (tag → digest)
//! `ensure` caches `URI → digest` in `<root>/refs.json` with the time it was checked:
//! * digest-pinned references (`NAME@sha256:..`) never re-resolve;
//! * `docker-daemon://` re-inspects the image unless the mapping is younger than
//!   `docker_refresh` (default 0: always; an inspect is one local round trip, ~ms), so a
//!   rebuilt tag is picked up on the next `ensure`;
//! * `docker://` re-fetches the manifest when the mapping is older than `registry_refresh`
//!   (default 5 min);
//! * `oci:` re-reads the layout's `index.json` every time (local file).
//!
//! If the daemon or registry cannot be reached and a previously unpacked image is known for the
//! URI, that image is returned with a warning.
//!
//! # Node rootfs and upgrades
//! `<node_dir>/rootfs` is the mount point; `<node_dir>/overlay/{upper,work}` hold every change
//! the node made to its root filesystem. The node's data dir is separate (bind-mounted by the
//! runtime), so nothing here touches node data. For an image upgrade we recommend a **fresh
//! upper**: `unmount_node_rootfs`, `backup_node_rootfs` (moves `overlay/` aside),
//! `mount_node_rootfs(new_image)`; on failure `unmount_node_rootfs` + `restore_node_rootfs` +
//! mount the old image; on success `discard_node_rootfs_backup`. Keeping the old upper over a
//! new lower would let stale copies of files (and whiteouts) shadow the new image's versions.

mod config;
mod error;
mod index;
mod mount;
mod mount_root;
mod progress;
mod sources;
mod store;
pub mod unpack;
mod uri;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use config::ImageConfig;
pub use error::ImageError;
pub use mount::{Mounter, SystemMounter};
pub use progress::{NoProgress, Phase, ProgressSink};
pub use store::{ImageStore, ImageStoreConfig, RegistryCredentials};
pub use uri::ImageUri;

/// An image unpacked in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// The URI it was (last) ensured with.
    pub uri: String,
    /// `sha256:<hex>` of the image config (the image ID).
    pub digest: String,
    /// The unpacked rootfs; read-only by convention (it is every node's overlay lower dir).
    pub rootfs: PathBuf,
    pub config: ImageConfig,
}

/// A node's writable root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRootfs {
    pub path: PathBuf,
    /// `true` for an overlay mount, `false` for a full copy (fallback).
    pub overlay: bool,
}
