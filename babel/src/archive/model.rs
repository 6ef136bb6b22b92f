//! The archive model as kept on disk (serde, in the JSON shapes of Blockvisor's
//! `.babel_jobs/download.*` / `upload.*` files) and its conversions to the protobuf messages
//! used on the wire.

use babel_api::job::Compression;
use babel_api::pb::babel::v1 as pb;
use serde::{Deserialize, Serialize};

use super::{ArchiveError, ManifestError};

/// Digest of a chunk's stored (compressed) bytes. JSON: `{"blake3": [32 numbers]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Checksum {
    Sha1(Vec<u8>),
    Sha256(Vec<u8>),
    Blake3(Vec<u8>),
}

impl Checksum {
    /// The placeholder of a chunk not uploaded yet.
    pub fn placeholder() -> Self {
        Checksum::Sha1(vec![0; 20])
    }

    pub fn blake3_of(data: &[u8]) -> Self {
        Checksum::Blake3(blake3::hash(data).as_bytes().to_vec())
    }
}

impl std::fmt::Display for Checksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, bytes) = match self {
            Checksum::Sha1(b) => ("sha1", b),
            Checksum::Sha256(b) => ("sha256", b),
            Checksum::Blake3(b) => ("blake3", b),
        };
        write!(f, "{kind}:")?;
        bytes.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// A byte range of one file, or (path ending in `/`, size 0) a directory entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileLocation {
    pub path: String,
    pub pos: u64,
    pub size: u64,
    /// Unix permission bits; absent in upstream manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

impl FileLocation {
    pub fn is_dir(&self) -> bool {
        self.path.ends_with('/')
    }

    /// A range of `path` for the archive unit tests.
    #[cfg(test)]
    pub(crate) fn range(path: &str, pos: u64, size: u64, mode: Option<u32>) -> Self {
        Self {
            path: path.into(),
            pos,
            size,
            mode,
        }
    }
}

/// One chunk of an archive: its stored object and where its content goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub index: u32,
    pub key: String,
    pub url: Option<String>,
    pub checksum: Checksum,
    /// Bytes stored remotely (compressed size); 0 before upload.
    pub size: u64,
    pub destinations: Vec<FileLocation>,
}

impl Chunk {
    /// Uncompressed size: the sum of the destination ranges.
    pub fn data_size(&self) -> u64 {
        self.destinations.iter().map(|d| d.size).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadManifest {
    pub total_size: u64,
    pub compression: Option<Compression>,
    pub chunks: Vec<Chunk>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadMetadata {
    pub total_size: u64,
    pub compression: Option<Compression>,
    pub chunks: u32,
    pub data_version: u64,
}

// --- protobuf conversions ----------------------------------------------------------------

impl From<Checksum> for pb::Checksum {
    fn from(c: Checksum) -> Self {
        use pb::checksum::Kind;
        let kind = match c {
            Checksum::Sha1(b) => Kind::Sha1(b),
            Checksum::Sha256(b) => Kind::Sha256(b),
            Checksum::Blake3(b) => Kind::Blake3(b),
        };
        pb::Checksum { kind: Some(kind) }
    }
}

impl TryFrom<pb::Checksum> for Checksum {
    type Error = ArchiveError;
    fn try_from(c: pb::Checksum) -> Result<Self, Self::Error> {
        use pb::checksum::Kind;
        match c.kind {
            Some(Kind::Sha1(b)) => Ok(Checksum::Sha1(b)),
            Some(Kind::Sha256(b)) => Ok(Checksum::Sha256(b)),
            Some(Kind::Blake3(b)) => Ok(Checksum::Blake3(b)),
            None => Err(ManifestError::ChecksumWithoutKind.into()),
        }
    }
}

impl From<FileLocation> for pb::FileLocation {
    fn from(l: FileLocation) -> Self {
        pb::FileLocation {
            path: l.path,
            pos: l.pos,
            size: l.size,
            mode: l.mode,
        }
    }
}

impl From<pb::FileLocation> for FileLocation {
    fn from(l: pb::FileLocation) -> Self {
        FileLocation {
            path: l.path,
            pos: l.pos,
            size: l.size,
            mode: l.mode,
        }
    }
}

impl From<Chunk> for pb::Chunk {
    fn from(c: Chunk) -> Self {
        pb::Chunk {
            index: c.index,
            key: c.key,
            url: c.url,
            checksum: Some(c.checksum.into()),
            size: c.size,
            destinations: c.destinations.into_iter().map(Into::into).collect(),
        }
    }
}

impl TryFrom<pb::Chunk> for Chunk {
    type Error = ArchiveError;
    fn try_from(c: pb::Chunk) -> Result<Self, Self::Error> {
        let checksum = c.checksum.ok_or_else(|| ManifestError::NoChecksum {
            index: c.index,
            key: c.key.clone(),
        })?;
        Ok(Chunk {
            index: c.index,
            key: c.key,
            url: c.url,
            checksum: checksum.try_into()?,
            size: c.size,
            destinations: c.destinations.into_iter().map(Into::into).collect(),
        })
    }
}

fn compression_from_pb(c: Option<pb::Compression>) -> Result<Option<Compression>, ArchiveError> {
    c.map(|c| Compression::try_from(c).map_err(|e| ManifestError::Compression(e).into()))
        .transpose()
}

impl From<DownloadManifest> for pb::DownloadManifest {
    fn from(m: DownloadManifest) -> Self {
        pb::DownloadManifest {
            total_size: m.total_size,
            compression: m.compression.map(Into::into),
            chunks: m.chunks.into_iter().map(Into::into).collect(),
        }
    }
}

impl TryFrom<pb::DownloadManifest> for DownloadManifest {
    type Error = ArchiveError;
    fn try_from(m: pb::DownloadManifest) -> Result<Self, Self::Error> {
        Ok(DownloadManifest {
            total_size: m.total_size,
            compression: compression_from_pb(m.compression)?,
            chunks: m
                .chunks
                .into_iter()
                .map(Chunk::try_from)
                .collect::<Result<_, _>>()?,
        })
    }
}

impl From<DownloadMetadata> for pb::DownloadMetadata {
    fn from(m: DownloadMetadata) -> Self {
        pb::DownloadMetadata {
            total_size: m.total_size,
            compression: m.compression.map(Into::into),
            chunks: m.chunks,
            data_version: m.data_version,
        }
    }
}

impl TryFrom<pb::DownloadMetadata> for DownloadMetadata {
    type Error = ArchiveError;
    fn try_from(m: pb::DownloadMetadata) -> Result<Self, Self::Error> {
        Ok(DownloadMetadata {
            total_size: m.total_size,
            compression: compression_from_pb(m.compression)?,
            chunks: m.chunks,
            data_version: m.data_version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_json_is_externally_tagged_byte_array() {
        let c = Checksum::Sha256(vec![1, 2]);
        assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"sha256":[1,2]}"#);
        let back: Checksum = serde_json::from_str(r#"{"blake3":[7]}"#).unwrap();
        assert_eq!(back, Checksum::Blake3(vec![7]));
    }

    #[test]
    fn chunk_round_trips_through_protobuf() {
        let chunk = Chunk {
            index: 3,
            key: "k/3".into(),
            url: Some("http://x/3".into()),
            checksum: Checksum::blake3_of(b"abc"),
            size: 17,
            destinations: vec![
                FileLocation {
                    path: "a/b".into(),
                    pos: 5,
                    size: 10,
                    mode: Some(0o640),
                },
                FileLocation {
                    path: "a/".into(),
                    pos: 0,
                    size: 0,
                    mode: None,
                },
            ],
        };
        let wire: pb::Chunk = chunk.clone().into();
        assert_eq!(Chunk::try_from(wire).unwrap(), chunk);
        assert!(chunk.destinations[1].is_dir());
        assert_eq!(chunk.data_size(), 10);
    }

    #[test]
    fn chunk_without_checksum_is_a_manifest_error() {
        let wire = pb::Chunk {
            index: 1,
            key: "x".into(),
            ..Default::default()
        };
        let err = Chunk::try_from(wire).unwrap_err().to_string();
        assert!(err.contains("no checksum"), "{err}");
    }

    #[test]
    fn upstream_file_location_json_without_mode_loads() {
        let l: FileLocation = serde_json::from_str(r#"{"path":"f","pos":0,"size":1}"#).unwrap();
        assert_eq!(l.mode, None);
    }
}
