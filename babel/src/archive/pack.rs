//! Reading a chunk's file ranges and encoding them for upload.
//!
//! A chunk's content is cut into blocks of [`FRAME_BYTES`]; each block is read and compressed
//! as an independent zstd frame on a blocking thread, several at a time, and the frames are
//! concatenated in order. Concatenated frames are one valid zstd stream, so any zstd
//! decoder (ours, `zstd -d`, upstream babel) reads the chunk, while compression uses every
//! core even when only one chunk is in flight.

use std::cell::RefCell;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use babel_api::job::Compression;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use tokio::sync::Semaphore;

use super::ArchiveError;
use super::model::{Checksum, FileLocation};

/// Uncompressed bytes per independently compressed frame.
pub const FRAME_BYTES: u64 = 16 * 1024 * 1024;

/// A chunk ready to be sent: its frames in order (sent back to back as one body).
#[derive(Debug)]
pub struct Packed {
    pub frames: Vec<Bytes>,
    /// Blake3 over the concatenated frames (the stored bytes).
    pub checksum: Checksum,
    /// Uncompressed size.
    pub data_size: u64,
}

impl Packed {
    /// Stored size: the sum of the frames.
    pub fn size(&self) -> u64 {
        self.frames.iter().map(|f| f.len() as u64).sum()
    }

    /// The frames as a request body stream (cheap: the frames are shared, not copied).
    pub fn body(&self) -> reqwest::Body {
        let frames = self.frames.clone();
        reqwest::Body::wrap_stream(futures::stream::iter(
            frames.into_iter().map(Ok::<_, std::io::Error>),
        ))
    }
}

#[derive(Debug, Clone)]
struct Segment {
    path: String,
    pos: u64,
    len: u64,
}

/// Cuts the destination ranges into blocks of at most `FRAME_BYTES`.
fn blocks(destinations: &[FileLocation]) -> Vec<Vec<Segment>> {
    let mut out = Vec::new();
    let mut cur: Vec<Segment> = Vec::new();
    let mut used = 0;
    for d in destinations.iter().filter(|d| d.size > 0) {
        let mut pos = d.pos;
        let end = d.pos + d.size;
        while pos < end {
            let len = (end - pos).min(FRAME_BYTES - used);
            cur.push(Segment {
                path: d.path.clone(),
                pos,
                len,
            });
            used += len;
            pos += len;
            if used == FRAME_BYTES {
                out.push(std::mem::take(&mut cur));
                used = 0;
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

thread_local! {
    /// Per blocking thread: the read buffer and the zstd context, reused block after block
    /// (a fresh 16 MiB buffer and compression context per block cost page faults and table
    /// set-up that show in the throughput).
    static WORKSPACE: RefCell<Workspace> = RefCell::new(Workspace::default());
}

#[derive(Default)]
struct Workspace {
    input: Vec<u8>,
    zstd: Option<(i32, zstd::bulk::Compressor<'static>)>,
}

impl Workspace {
    fn compressor(&mut self, level: i32) -> std::io::Result<&mut zstd::bulk::Compressor<'static>> {
        let ctx = match self.zstd.take() {
            Some(ctx) => ctx,
            None => (level, zstd::bulk::Compressor::new(level)?),
        };
        let (l, c) = self.zstd.insert(ctx);
        if *l != level {
            c.set_compression_level(level)?;
            *l = level;
        }
        Ok(c)
    }
}

/// Reads one block's segments from `source` into `buf` (exactly the block's size).
fn read_block(source: &Path, segments: &[Segment], buf: &mut [u8]) -> Result<(), ArchiveError> {
    let mut at = 0usize;
    let mut open: Option<(&str, File)> = None;
    for s in segments {
        let path = source.join(&s.path);
        if open.as_ref().is_none_or(|(p, _)| *p != s.path) {
            let f = File::open(&path).map_err(ArchiveError::file("open", &path))?;
            open = Some((&s.path, f));
        }
        let Some((_, f)) = &open else { continue };
        let len = usize::try_from(s.len).unwrap_or(usize::MAX);
        f.read_exact_at(&mut buf[at..at + len], s.pos)
            .map_err(|source| ArchiveError::ReadRange {
                len: s.len,
                pos: s.pos,
                path: path.clone(),
                source,
            })?;
        at += len;
    }
    Ok(())
}

/// Reads one block's segments from `source` and encodes them as one frame.
fn encode_block(
    source: &Path,
    segments: &[Segment],
    compression: Option<Compression>,
) -> Result<Bytes, ArchiveError> {
    let size = usize::try_from(segments.iter().map(|s| s.len).sum::<u64>())
        .map_err(|_| ArchiveError::BlockTooLarge)?;
    let Some(Compression::Zstd(level)) = compression else {
        let mut buf = vec![0u8; size];
        read_block(source, segments, &mut buf)?;
        return Ok(Bytes::from(buf));
    };
    WORKSPACE.with_borrow_mut(|ws| {
        if ws.input.len() < size {
            ws.input.resize(size, 0);
        }
        let mut input = std::mem::take(&mut ws.input);
        let read = read_block(source, segments, &mut input[..size]);
        let encoded = read.and_then(|()| {
            let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(size));
            ws.compressor(level)
                .and_then(|c| c.compress_to_buffer(&input[..size], &mut out))
                .map_err(ArchiveError::Compress)?;
            out.shrink_to_fit();
            Ok(Bytes::from(out))
        });
        ws.input = input;
        encoded
    })
}

/// Reads and encodes a chunk: frames in parallel (bounded by `cpu`), hashed in order on
/// their own thread while later frames are still being compressed.
pub async fn pack_chunk(
    source: &Path,
    destinations: &[FileLocation],
    compression: Option<Compression>,
    cpu: &Arc<Semaphore>,
    cpu_threads: usize,
) -> Result<Packed, ArchiveError> {
    let data_size = destinations.iter().map(|d| d.size).sum();
    let source: PathBuf = source.to_path_buf();
    let (hash_tx, hash_rx) = std::sync::mpsc::channel::<Bytes>();
    let hasher = tokio::task::spawn_blocking(move || {
        let mut hasher = blake3::Hasher::new();
        for frame in hash_rx {
            hasher.update(&frame);
        }
        Checksum::Blake3(hasher.finalize().as_bytes().to_vec())
    });
    let frames: Vec<Bytes> = futures::stream::iter(blocks(destinations))
        .map(|segments| {
            let source = source.clone();
            let cpu = cpu.clone();
            async move {
                let _permit = cpu
                    .acquire_owned()
                    .await
                    .map_err(|_| ArchiveError::Interrupted("upload"))?;
                tokio::task::spawn_blocking(move || encode_block(&source, &segments, compression))
                    .await
                    .map_err(ArchiveError::task("compression"))?
            }
        })
        .buffered(cpu_threads.max(1))
        .inspect_ok(|frame| {
            // The hasher only stops early when it panicked; the join below reports that.
            let _ = hash_tx.send(frame.clone());
        })
        .try_collect()
        .await?;
    drop(hash_tx);
    let checksum = hasher.await.map_err(ArchiveError::task("digest"))?;
    Ok(Packed {
        frames,
        checksum,
        data_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(path: &str, pos: u64, size: u64) -> FileLocation {
        FileLocation::range(path, pos, size, None)
    }

    #[test]
    fn blocks_are_bounded_and_cover_ranges_in_order() {
        let dests = [
            loc("a", 0, FRAME_BYTES - 3),
            loc("b", 0, 0),
            loc("c", 10, FRAME_BYTES + 5),
        ];
        let b = blocks(&dests);
        assert_eq!(b.len(), 3);
        for block in &b {
            assert!(block.iter().map(|s| s.len).sum::<u64>() <= FRAME_BYTES);
        }
        assert_eq!(b[0][1].path, "c");
        assert_eq!((b[0][1].pos, b[0][1].len), (10, 3));
        assert_eq!((b[1][0].pos, b[1][0].len), (13, FRAME_BYTES));
        assert_eq!((b[2][0].pos, b[2][0].len), (13 + FRAME_BYTES, 2));
    }

    #[tokio::test]
    async fn packed_frames_decode_as_one_stream() {
        let tmp = tempfile::tempdir().unwrap();
        let a: Vec<u8> = (0..FRAME_BYTES + 1000).map(|i| (i % 251) as u8).collect();
        std::fs::write(tmp.path().join("a"), &a).unwrap();
        std::fs::write(tmp.path().join("b"), b"hello").unwrap();
        let dests = [loc("b", 1, 3), loc("a", 0, a.len() as u64)];
        let cpu = Arc::new(Semaphore::new(2));
        let packed = pack_chunk(tmp.path(), &dests, Some(Compression::Zstd(3)), &cpu, 2)
            .await
            .unwrap();
        let data: Vec<u8> = packed.frames.concat();
        assert_eq!(packed.frames.len(), 2);
        assert_eq!(packed.size(), data.len() as u64);
        assert_eq!(packed.checksum, Checksum::blake3_of(&data));
        let plain = zstd::stream::decode_all(&data[..]).unwrap();
        assert_eq!(&plain[..3], b"ell");
        assert_eq!(&plain[3..], &a[..]);
        assert_eq!(packed.data_size, plain.len() as u64);
        let raw = pack_chunk(tmp.path(), &dests[..1], None, &cpu, 2)
            .await
            .unwrap();
        assert_eq!(raw.frames.concat(), b"ell");
        // Another level on the same threads (their compression contexts are reused).
        let fast = pack_chunk(tmp.path(), &dests, Some(Compression::Zstd(1)), &cpu, 2)
            .await
            .unwrap();
        let again = zstd::stream::decode_all(&fast.frames.concat()[..]).unwrap();
        assert_eq!(&again[3..], &a[..]);
    }

    #[tokio::test]
    async fn file_shorter_than_planned_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("a"), b"abc").unwrap();
        let cpu = Arc::new(Semaphore::new(1));
        let err = pack_chunk(tmp.path(), &[loc("a", 0, 10)], None, &cpu, 1)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("file changed during upload"), "{err}");
    }
}
