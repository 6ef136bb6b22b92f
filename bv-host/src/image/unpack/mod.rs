//! Layer unpacking: compressed layer blobs → one rootfs directory.
//!
//! `tar` (≥ 0.4.46) parses entries; everything touching the filesystem is our own code
//! (`layer` for entry/whiteout semantics, `fsops` for root-confined `*at` operations).
//! Compression (gzip, zstd or none) is detected from magic bytes; decompression runs on a
//! second thread so it overlaps file creation.

mod decompress;
mod fsops;
mod layer;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

pub(crate) use fsops::clean_path as clean;
pub use layer::UnpackOptions;

use super::{ImageError, Phase, ProgressSink};

/// One layer blob on local disk: a whole file or a byte range of one (a member of a
/// `docker save` tarball).
#[derive(Debug, Clone)]
pub struct LayerBlob {
    /// Shown in errors: the layer digest or its name in the source.
    pub name: String,
    pub path: PathBuf,
    pub offset: u64,
    /// Byte length from `offset`; `None` = to the end of the file.
    pub len: Option<u64>,
    /// When set, the sha256 of the blob bytes is checked against it (`sha256:<hex>`).
    pub verify: Option<String>,
}

impl LayerBlob {
    /// A whole file.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        LayerBlob {
            name: path.display().to_string(),
            path,
            offset: 0,
            len: None,
            verify: None,
        }
    }

    fn size(&self) -> Option<u64> {
        self.len.or_else(|| {
            std::fs::metadata(&self.path)
                .ok()
                .map(|m| m.len().saturating_sub(self.offset))
        })
    }
}

/// Apply `layers` in order onto the directory `rootfs` (which must exist).
pub fn unpack_layers(
    rootfs: &Path,
    layers: &[LayerBlob],
    opts: UnpackOptions,
    progress: &dyn ProgressSink,
) -> Result<(), ImageError> {
    let total = layers.iter().map(LayerBlob::size).sum::<Option<u64>>();
    progress.begin(Phase::Unpack, total);
    let root = fsops::RootDir::open(rootfs).map_err(|e| ImageError::io(rootfs, e))?;
    for layer in layers {
        unpack_one(&root, layer, opts, progress)?;
    }
    progress.finish();
    Ok(())
}

fn unpack_one(
    root: &fsops::RootDir,
    layer: &LayerBlob,
    opts: UnpackOptions,
    progress: &dyn ProgressSink,
) -> Result<(), ImageError> {
    let unpack_err = |path: PathBuf, source| ImageError::Unpack {
        layer: layer.name.clone(),
        path,
        source,
    };
    let mut file = File::open(&layer.path).map_err(|e| ImageError::io(&layer.path, e))?;
    if layer.offset > 0 {
        file.seek(SeekFrom::Start(layer.offset))
            .map_err(|e| ImageError::io(&layer.path, e))?;
    }
    let raw: Box<dyn Read + Send> = match layer.len {
        Some(n) => Box::new(file.take(n)),
        None => Box::new(file),
    };
    let (applied, digest) = std::thread::scope(|s| {
        let (reader, handle) = decompress::spawn_decoder(s, raw, layer.verify.is_some(), progress);
        let applied = layer::LayerApplier::new(root, opts).apply(reader);
        let digest = handle
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("decoder thread panicked")));
        (applied, digest)
    });
    // A decoding error explains a tar error better than the tar error itself.
    let digest = digest.map_err(|e| unpack_err(PathBuf::new(), e))?;
    applied.map_err(|e| unpack_err(e.path, e.source))?;
    if let (Some(expected), Some(actual)) = (&layer.verify, digest)
        && *expected != actual
    {
        return Err(ImageError::DigestMismatch {
            layer: layer.name.clone(),
            expected: expected.clone(),
            actual,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
