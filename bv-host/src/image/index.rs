//! On-disk index of the store, all under `root`:
//! * `images/<hex>.json` — one record per unpacked image (written after its rootfs is final);
//! * `rootfs/<hex>/` — the unpacked rootfs, never modified after the rename into place;
//! * `refs.json` — URI → digest with the time it was last checked (freshness policy);
//! * `tmp/` — spool files and unpack staging, renamed into place or deleted.
//!
//! Every JSON file is written atomically (temp file + fsync + rename + fsync of the dir).

use std::collections::BTreeMap;
use std::path::PathBuf;

use bv_base::json_file;
use serde::{Deserialize, Serialize};

use super::{Image, ImageError};

/// A process-unique counter for temp names.
pub(crate) fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct RefEntry {
    pub(crate) digest: String,
    pub(crate) checked_at: u64,
}

/// Paths of the store layout.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) root: PathBuf,
}

impl Layout {
    pub(crate) fn hex(digest: &str) -> &str {
        digest.strip_prefix("sha256:").unwrap_or(digest)
    }
    pub(crate) fn images(&self) -> PathBuf {
        self.root.join("images")
    }
    pub(crate) fn record(&self, digest: &str) -> PathBuf {
        self.images().join(format!("{}.json", Self::hex(digest)))
    }
    pub(crate) fn rootfs(&self, digest: &str) -> PathBuf {
        self.root.join("rootfs").join(Self::hex(digest))
    }
    pub(crate) fn refs(&self) -> PathBuf {
        self.root.join("refs.json")
    }
    pub(crate) fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub(crate) fn create_dirs(&self) -> Result<(), ImageError> {
        for d in [self.images(), self.root.join("rootfs"), self.tmp()] {
            std::fs::create_dir_all(&d).map_err(|e| ImageError::io(&d, e))?;
        }
        Ok(())
    }

    /// A fresh, unique directory under `tmp/`.
    pub(crate) fn scratch(&self, what: &str) -> Result<PathBuf, ImageError> {
        let p = self.tmp().join(format!(
            "{what}-{}-{}-{}",
            std::process::id(),
            now_secs(),
            unique()
        ));
        std::fs::create_dir_all(&p).map_err(|e| ImageError::io(&p, e))?;
        Ok(p)
    }

    pub(crate) fn load_refs(&self) -> Result<BTreeMap<String, RefEntry>, ImageError> {
        Ok(json_file::read_if_exists(&self.refs())?.unwrap_or_default())
    }

    pub(crate) fn save_refs(&self, refs: &BTreeMap<String, RefEntry>) -> Result<(), ImageError> {
        Ok(json_file::write(&self.refs(), refs, None)?)
    }

    /// The record of a fully unpacked image, if there is one and its rootfs exists.
    pub(crate) fn load_image(&self, digest: &str) -> Result<Option<Image>, ImageError> {
        let img: Option<Image> = json_file::read_if_exists(&self.record(digest))?;
        Ok(img.filter(|i| i.rootfs.is_dir()))
    }

    pub(crate) fn list_images(&self) -> Result<Vec<Image>, ImageError> {
        let dir = self.images();
        let mut out = Vec::new();
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(ImageError::io(&dir, e)),
        };
        for ent in rd {
            let ent = ent.map_err(|e| ImageError::io(&dir, e))?;
            let name = ent.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            if let Some(img) = json_file::read_if_exists::<Image>(&ent.path())? {
                out.push(img);
            }
        }
        out.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok(out)
    }
}
