//! Verifying, decoding and writing one downloaded chunk, and the final pass over the tree.
//!
//! A chunk is unpacked by two blocking threads: the decoder hashes the stored bytes as they
//! arrive, decompresses them and cuts the output along the chunk's destinations; the writer
//! creates directories and files and writes each range at its offset (pwrite), keeping one
//! file open at a time. The chunk counts as done only after the digest matched and every
//! write returned; until then the downloader does not record it, and a resumed download
//! writes the whole chunk again.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc as std_mpsc;

use babel_api::job::Compression;
use bytes::Bytes;
use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, OFlag, openat};
use nix::sys::stat::{Mode, fchmod, futimens};
use nix::sys::time::TimeSpec;
use sha2::Digest;
use tokio::sync::mpsc;
use zstd::stream::raw::{InBuffer, Operation, OutBuffer};

use super::model::{Checksum, Chunk, FileLocation};
use super::{ArchiveError, Corruption, ManifestError};

/// Decoded bytes handed to the writer at once.
const WRITE_BUFFER: usize = 1024 * 1024;
/// Buffers queued between decoder and writer.
const WRITE_QUEUE: usize = 8;

/// `root/rel` if `rel` is a plain relative path (no `..`, not absolute).
pub fn safe_join(root: &Path, rel: &str) -> Option<PathBuf> {
    let rel = rel.trim_end_matches('/');
    let p = Path::new(rel);
    if rel.is_empty() || !p.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(root.join(p))
}

/// Digest of the stored bytes, as the manifest names it.
enum Hasher {
    Blake3(Box<blake3::Hasher>),
    Sha256(sha2::Sha256),
}

impl Hasher {
    fn for_checksum(checksum: &Checksum) -> Result<Self, ArchiveError> {
        match checksum {
            Checksum::Blake3(_) => Ok(Self::Blake3(Box::default())),
            Checksum::Sha256(_) => Ok(Self::Sha256(sha2::Sha256::new())),
            Checksum::Sha1(_) => Err(ManifestError::Sha1Checksum.into()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Self::Blake3(h) => {
                h.update(data);
            }
            Self::Sha256(h) => h.update(data),
        }
    }

    fn finalize(self) -> Checksum {
        match self {
            Self::Blake3(h) => Checksum::Blake3(h.finalize().as_bytes().to_vec()),
            Self::Sha256(h) => Checksum::Sha256(h.finalize().to_vec()),
        }
    }
}

/// Stored pieces queued for the hashing thread.
const HASH_QUEUE: usize = 64;

/// What arrived for a chunk: byte count and digest of the stored bytes.
struct Received {
    count: u64,
    hasher: Hasher,
}

/// One range of decoded bytes for the writer.
struct Seg {
    dest: usize,
    file_pos: u64,
    start: usize,
    len: usize,
}

struct WriteOp {
    data: Vec<u8>,
    segs: Vec<Seg>,
}

/// Unpacks `chunk` from `rx` under `root`. Runs on a blocking thread. Files this writer
/// creates get their mode and the modification time `mtime` before they are closed; the
/// indexes of their destinations are returned (see [`super::finalize::finalize`]).
pub fn unpack_chunk(
    root: &Path,
    chunk: &Chunk,
    compression: Option<Compression>,
    rx: mpsc::Receiver<Bytes>,
    mtime: &TimeSpec,
) -> Result<Vec<usize>, ArchiveError> {
    let hasher = Hasher::for_checksum(&chunk.checksum)?;
    let mut targets = Vec::with_capacity(chunk.destinations.len());
    for d in &chunk.destinations {
        let path = safe_join(root, &d.path)
            .ok_or_else(|| ManifestError::InvalidDestination(d.path.clone()))?;
        targets.push((path, d.clone()));
    }
    let (wtx, wrx) = std_mpsc::sync_channel::<WriteOp>(WRITE_QUEUE);
    // Written buffers come back for reuse; at most WRITE_QUEUE + 2 are ever allocated.
    let (back_tx, back_rx) = std_mpsc::channel::<Vec<u8>>();
    std::thread::scope(|s| {
        let writer = s.spawn(|| write_all(&targets, wrx, back_tx, mtime));
        let out = Output {
            splitter: Splitter::new(&chunk.destinations),
            wtx,
            back: back_rx,
            buf: Vec::with_capacity(WRITE_BUFFER),
        };
        // The digest runs beside the decoder (on one chunk, the decoder is the bottleneck).
        let (htx, hrx) = std_mpsc::sync_channel::<Bytes>(HASH_QUEUE);
        let hashing = s.spawn(move || {
            let mut hasher = hasher;
            for piece in hrx {
                hasher.update(&piece);
            }
            hasher
        });
        let zstd = matches!(compression, Some(Compression::Zstd(_))) && chunk.size > 0;
        let decoded = decode(rx, &htx, zstd, out);
        drop(htx);
        let hasher = hashing
            .join()
            .map_err(|_| ArchiveError::ThreadPanicked("hashing"))?;
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("writer thread panicked")));
        // A writer failure explains a decoder that stopped early; report it first.
        let fresh = written.map_err(ArchiveError::Writer)?;
        let count = decoded?;
        verify(Received { count, hasher }, chunk)?;
        Ok(fresh)
    })
}

fn corrupt(e: std::io::Error) -> ArchiveError {
    Corruption::Decode(e).into()
}

/// Passes the stored bytes to the hasher as they arrive and decodes them straight into
/// write buffers; returns how many stored bytes arrived.
fn decode(
    mut rx: mpsc::Receiver<Bytes>,
    hasher: &std_mpsc::SyncSender<Bytes>,
    zstd: bool,
    mut out: Output,
) -> Result<u64, ArchiveError> {
    let mut count = 0u64;
    let mut decoder = if zstd {
        Some(zstd::stream::raw::Decoder::new().map_err(corrupt)?)
    } else {
        None
    };
    // True between frames: nothing started, or the last frame ended and was flushed.
    let mut frame_done = true;
    while let Some(stored) = rx.blocking_recv() {
        hasher
            .send(stored.clone())
            .map_err(|_| ArchiveError::HashingStopped)?;
        count += stored.len() as u64;
        let Some(dec) = decoder.as_mut() else {
            out.copy_from(&stored)?;
            continue;
        };
        let mut input = InBuffer::around(&stored);
        loop {
            step(dec, &mut input, &mut out, &mut frame_done)?;
            if out.is_full() {
                out.flush(false)?;
            } else if input.pos() == stored.len() {
                // Output room left: the decoder holds nothing back.
                break;
            }
        }
    }
    if !frame_done {
        return Err(Corruption::TruncatedFrame.into());
    }
    out.flush(true)?;
    Ok(count)
}

/// One decoder call. Its hint says whether a frame just ended (0); a call that neither read
/// nor wrote anything (already between frames) leaves `frame_done` as it was.
fn step(
    dec: &mut zstd::stream::raw::Decoder<'_>,
    input: &mut InBuffer<'_>,
    out: &mut Output,
    frame_done: &mut bool,
) -> Result<(), ArchiveError> {
    let (read, written) = (input.pos(), out.buf.len());
    let pos = out.buf.len();
    let hint = {
        let mut o = OutBuffer::around_pos(&mut out.buf, pos);
        dec.run(input, &mut o).map_err(corrupt)?
    };
    if input.pos() > read || out.buf.len() > written {
        *frame_done = hint == 0;
    }
    Ok(())
}

/// The decoder's side of the writer: the current buffer, cut along the destinations.
struct Output {
    splitter: Splitter,
    wtx: std_mpsc::SyncSender<WriteOp>,
    back: std_mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
}

impl Output {
    fn is_full(&self) -> bool {
        self.buf.len() == self.buf.capacity()
    }

    fn copy_from(&mut self, mut data: &[u8]) -> Result<(), ArchiveError> {
        while !data.is_empty() {
            let n = data.len().min(self.buf.capacity() - self.buf.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.is_full() {
                self.flush(false)?;
            }
        }
        Ok(())
    }

    /// Hands the buffer to the writer (at `eof` also the trailing empty destinations).
    fn flush(&mut self, eof: bool) -> Result<(), ArchiveError> {
        let segs = self
            .splitter
            .split(self.buf.len(), eof)
            .ok_or(Corruption::DecodedSize)?;
        if segs.is_empty() {
            self.buf.clear();
            return Ok(());
        }
        let next = match self.back.try_recv() {
            Ok(mut v) => {
                v.clear();
                v
            }
            Err(_) => Vec::with_capacity(WRITE_BUFFER),
        };
        let data = std::mem::replace(&mut self.buf, next);
        self.wtx
            .send(WriteOp { data, segs })
            .map_err(|_| ArchiveError::WriterStopped)
    }
}

/// Cuts the decoded stream along the destination ranges.
struct Splitter {
    sizes: Vec<(u64, u64)>,
    dest: usize,
    written: u64,
}

impl Splitter {
    fn new(destinations: &[FileLocation]) -> Self {
        Self {
            sizes: destinations.iter().map(|d| (d.pos, d.size)).collect(),
            dest: 0,
            written: 0,
        }
    }

    /// Segments for the next `len` bytes; at `eof` also the trailing empty destinations.
    /// `None` when the data overflows the destinations or (at EOF) doesn't fill them.
    fn split(&mut self, len: usize, eof: bool) -> Option<Vec<Seg>> {
        let mut segs = Vec::new();
        let mut start = 0usize;
        loop {
            // Destinations already full (or empty) are emitted once, then passed.
            while let Some(&(pos, size)) = self.sizes.get(self.dest) {
                if self.written < size {
                    break;
                }
                if size == 0 {
                    segs.push(Seg {
                        dest: self.dest,
                        file_pos: pos,
                        start,
                        len: 0,
                    });
                }
                self.dest += 1;
                self.written = 0;
            }
            if start == len {
                break;
            }
            let &(pos, size) = self.sizes.get(self.dest)?;
            let take = usize::try_from(size - self.written)
                .unwrap_or(usize::MAX)
                .min(len - start);
            segs.push(Seg {
                dest: self.dest,
                file_pos: pos + self.written,
                start,
                len: take,
            });
            self.written += take as u64;
            start += take;
        }
        if eof && self.dest < self.sizes.len() {
            return None;
        }
        Some(segs)
    }
}

/// Dirty bytes of one file after which their writeback is started.
const WRITEBACK_BYTES: u64 = 8 * 1024 * 1024;
/// Smaller dirty ranges left when a file is closed are left to syncfs (a system call per
/// small file would cost more than it saves).
const WRITEBACK_MIN: u64 = 1024 * 1024;

/// The file the writer has open, and its written range whose writeback is not started yet.
struct OpenFile {
    dest: usize,
    file: File,
    /// Created by this writer (it did not exist before).
    created: bool,
    mode: Option<u32>,
    dirty_from: u64,
    dirty_to: u64,
}

impl OpenFile {
    fn wrote(&mut self, pos: u64, len: u64) {
        if self.dirty_to != pos || self.dirty_from == self.dirty_to {
            self.start_writeback();
            self.dirty_from = pos;
        }
        self.dirty_to = pos + len;
        if self.dirty_to - self.dirty_from >= WRITEBACK_BYTES {
            self.start_writeback();
        }
    }

    /// Done with the file: starts the writeback of a sizable dirty tail.
    /// Done with the file: a file this writer created gets its mode and `mtime` (so the final
    /// pass can leave it alone); a sizable dirty tail gets its writeback started. Returns
    /// whether the file was created here.
    fn close(mut self, mtime: &TimeSpec) -> io::Result<bool> {
        if self.created {
            if let Some(mode) = self.mode {
                fchmod(&self.file, Mode::from_bits_truncate(mode | 0o600))?;
            }
            futimens(&self.file, mtime, mtime)?;
        }
        if self.dirty_to - self.dirty_from >= WRITEBACK_MIN {
            self.start_writeback();
        }
        Ok(self.created)
    }

    /// Asks the kernel to start writing the dirty range out without waiting for it, so the
    /// syncfs that makes finished chunks durable has little left to do.
    fn start_writeback(&mut self) {
        let (from, to) = (self.dirty_from, self.dirty_to);
        self.dirty_from = to;
        if to <= from {
            return;
        }
        let (Ok(offset), Ok(len)) = (i64::try_from(from), i64::try_from(to - from)) else {
            return;
        };
        // SAFETY: sync_file_range only reads its integer arguments; the fd is owned by
        // `self.file` and open. The call is advisory: a failure leaves the work to syncfs.
        unsafe {
            libc::sync_file_range(
                self.file.as_raw_fd(),
                offset,
                len,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
    }
}

/// The writer thread: creates and writes the destinations, one open file at a time.
fn write_all(
    targets: &[(PathBuf, FileLocation)],
    rx: std_mpsc::Receiver<WriteOp>,
    back: std_mpsc::Sender<Vec<u8>>,
    mtime: &TimeSpec,
) -> io::Result<Vec<usize>> {
    let mut dirs: HashSet<PathBuf> = HashSet::new();
    let mut parent = ParentDir::default();
    let mut open: Option<OpenFile> = None;
    let mut fresh = Vec::new();
    let mut close = |file: OpenFile| -> io::Result<()> {
        let dest = file.dest;
        if file.close(mtime)? {
            fresh.push(dest);
        }
        Ok(())
    };
    for op in rx {
        for seg in &op.segs {
            let (path, loc) = &targets[seg.dest];
            if loc.is_dir() {
                ensure_dir(path, &mut dirs)?;
                continue;
            }
            if open.as_ref().is_none_or(|o| o.dest != seg.dest) {
                if let Some(done) = open.take() {
                    close(done).map_err(|e| {
                        io::Error::new(e.kind(), format!("{}: {e}", path.display()))
                    })?;
                }
                let (file, created) = parent
                    .open(path, loc.mode.unwrap_or(0o644) | 0o600, &mut dirs)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
                open = Some(OpenFile {
                    dest: seg.dest,
                    file,
                    created,
                    mode: loc.mode,
                    dirty_from: 0,
                    dirty_to: 0,
                });
            }
            if seg.len > 0
                && let Some(o) = &mut open
            {
                o.file
                    .write_all_at(&op.data[seg.start..seg.start + seg.len], seg.file_pos)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
                o.wrote(seg.file_pos, seg.len as u64);
            }
        }
        // The decoder may be gone already; then the buffer is simply freed.
        let _ = back.send(op.data);
    }
    if let Some(done) = open.take() {
        close(done)?;
    }
    Ok(fresh)
}

/// The directory of the files being written, held open: files in it are opened by name
/// (openat), without walking the whole path again for every small file.
#[derive(Default)]
struct ParentDir {
    path: PathBuf,
    fd: Option<OwnedFd>,
}

impl ParentDir {
    /// Opens (creating it if needed) the file `path` for writing, without truncating it;
    /// says whether it was created.
    fn open(
        &mut self,
        path: &Path,
        mode: u32,
        known: &mut HashSet<PathBuf>,
    ) -> io::Result<(File, bool)> {
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a file path",
            ));
        };
        if self.fd.is_none() || self.path != dir {
            ensure_dir(dir, known)?;
            let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
            self.fd = Some(openat(AT_FDCWD, dir, flags, Mode::empty())?);
            dir.clone_into(&mut self.path);
        }
        let Some(dirfd) = &self.fd else {
            return Err(io::Error::other("directory not open"));
        };
        let mode = Mode::from_bits_truncate(mode);
        let create = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC;
        match openat(dirfd, name, create, mode) {
            Ok(fd) => Ok((File::from(fd), true)),
            Err(Errno::EEXIST) => {
                let fd = openat(dirfd, name, OFlag::O_WRONLY | OFlag::O_CLOEXEC, mode)?;
                Ok((File::from(fd), false))
            }
            Err(e) => Err(e.into()),
        }
    }
}

fn ensure_dir(dir: &Path, known: &mut HashSet<PathBuf>) -> io::Result<()> {
    if known.contains(dir) {
        return Ok(());
    }
    fs::create_dir_all(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    known.insert(dir.to_path_buf());
    Ok(())
}

/// Compares size and digest of what was received with the manifest entry.
fn verify(received: Received, chunk: &Chunk) -> Result<(), ArchiveError> {
    if received.count != chunk.size {
        return Err(Corruption::Size {
            received: received.count,
            expected: chunk.size,
        }
        .into());
    }
    let actual = received.hasher.finalize();
    if actual != chunk.checksum {
        return Err(Corruption::Checksum {
            expected: chunk.checksum.to_string(),
            actual: actual.to_string(),
        }
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> TimeSpec {
        TimeSpec::new(1_700_000_000, 0)
    }

    fn loc(path: &str, pos: u64, size: u64) -> FileLocation {
        FileLocation::range(path, pos, size, Some(0o640))
    }

    fn chunk_for(data: &[u8], stored: &[u8], dests: Vec<FileLocation>) -> Chunk {
        assert_eq!(dests.iter().map(|d| d.size).sum::<u64>(), data.len() as u64);
        Chunk {
            index: 0,
            key: "k".into(),
            url: None,
            checksum: Checksum::blake3_of(stored),
            size: stored.len() as u64,
            destinations: dests,
        }
    }

    fn feed(stored: &[u8], piece: usize) -> mpsc::Receiver<Bytes> {
        let (tx, rx) = mpsc::channel(stored.len() / piece.max(1) + 2);
        for p in stored.chunks(piece.max(1)) {
            tx.try_send(Bytes::copy_from_slice(p)).unwrap();
        }
        rx
    }

    #[test]
    fn safe_join_rejects_escapes() {
        let r = Path::new("/r");
        assert_eq!(safe_join(r, "a/b"), Some(PathBuf::from("/r/a/b")));
        assert_eq!(safe_join(r, "a/"), Some(PathBuf::from("/r/a")));
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "./"] {
            assert_eq!(safe_join(r, bad), None, "{bad}");
        }
    }

    #[test]
    fn zstd_chunk_spanning_files_with_empty_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..3 * WRITE_BUFFER + 17).map(|i| (i % 13) as u8).collect();
        let stored = zstd::bulk::compress(&data, 3).unwrap();
        let n = data.len() as u64;
        let dests = vec![
            loc("d/", 0, 0),
            loc("e", 0, 0),
            loc("a", 100, 10),
            loc("d/big", 0, n - 10),
            loc("z/empty", 0, 0),
        ];
        let chunk = chunk_for(&data, &stored, dests);
        unpack_chunk(
            tmp.path(),
            &chunk,
            Some(Compression::Zstd(3)),
            feed(&stored, 777),
            &t0(),
        )
        .unwrap();
        let a = fs::read(tmp.path().join("a")).unwrap();
        assert_eq!(a.len(), 110);
        assert_eq!(&a[100..], &data[..10]);
        assert_eq!(fs::read(tmp.path().join("d/big")).unwrap(), &data[10..]);
        assert_eq!(fs::read(tmp.path().join("e")).unwrap().len(), 0);
        assert!(tmp.path().join("z/empty").is_file());
        assert!(tmp.path().join("d").is_dir());
    }

    #[test]
    fn created_files_get_mode_and_mtime_existing_ones_are_not_fresh() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("old"), b"leftover!").unwrap();
        let data = b"abcdef".to_vec();
        let mut new = loc("new", 0, 3);
        new.mode = Some(0o751);
        let chunk = chunk_for(&data, &data, vec![new, loc("old", 0, 3)]);
        let fresh = unpack_chunk(tmp.path(), &chunk, None, feed(&data, 2), &t0()).unwrap();
        assert_eq!(fresh, vec![0]);
        let m = fs::metadata(tmp.path().join("new")).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777,
            0o751
        );
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(m.modified().unwrap(), t);
        assert_eq!(fs::read(tmp.path().join("old")).unwrap(), b"deftover!");
    }

    #[test]
    fn concatenated_frames_in_any_pieces_and_truncation() {
        let data: Vec<u8> = (0..5 * WRITE_BUFFER / 2)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let (a, b) = data.split_at(WRITE_BUFFER + 3);
        let mut stored = zstd::bulk::compress(a, 3).unwrap();
        stored.extend(zstd::bulk::compress(b, 1).unwrap());
        let zstd = Some(Compression::Zstd(3));
        for piece in [1, 4096, stored.len()] {
            let tmp = tempfile::tempdir().unwrap();
            let n = data.len() as u64;
            let chunk = chunk_for(&data, &stored, vec![loc("f", 0, n)]);
            unpack_chunk(tmp.path(), &chunk, zstd, feed(&stored, piece), &t0()).unwrap();
            assert_eq!(fs::read(tmp.path().join("f")).unwrap(), data, "{piece}");
        }
        let tmp = tempfile::tempdir().unwrap();
        let cut = &stored[..stored.len() - 5];
        let chunk = chunk_for(&data, cut, vec![loc("f", 0, data.len() as u64)]);
        let err = unpack_chunk(tmp.path(), &chunk, zstd, feed(cut, 999), &t0()).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
        let mut extra = stored.clone();
        extra.extend_from_slice(b"trailing junk");
        let chunk = chunk_for(&data, &extra, vec![loc("f", 0, data.len() as u64)]);
        let err = unpack_chunk(tmp.path(), &chunk, zstd, feed(&extra, 999), &t0()).unwrap_err();
        assert!(matches!(err, ArchiveError::Corrupt(_)), "{err}");
    }

    #[test]
    fn corrupt_digest_short_and_long_data_are_detected() {
        let tmp = tempfile::tempdir().unwrap();
        let data = b"hello world".to_vec();
        let mut chunk = chunk_for(&data, &data, vec![loc("f", 0, 11)]);
        let mut bad = data.clone();
        bad[3] ^= 1;
        let err = unpack_chunk(tmp.path(), &chunk, None, feed(&bad, 4), &t0()).unwrap_err();
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
        assert!(err.is_transient());
        chunk.destinations = vec![loc("f", 0, 12)];
        let err = unpack_chunk(tmp.path(), &chunk, None, feed(&data, 4), &t0()).unwrap_err();
        assert!(err.to_string().contains("doesn't match expected"), "{err}");
        chunk.destinations = vec![loc("f", 0, 5)];
        let err = unpack_chunk(tmp.path(), &chunk, None, feed(&data, 4), &t0()).unwrap_err();
        assert!(err.to_string().contains("doesn't match expected"), "{err}");
        let garbage = b"not zstd at all".to_vec();
        let chunk = chunk_for(&data, &garbage, vec![loc("f", 0, 11)]);
        let err = unpack_chunk(
            tmp.path(),
            &chunk,
            Some(Compression::Zstd(3)),
            feed(&garbage, 4),
            &t0(),
        )
        .unwrap_err();
        assert!(matches!(err, ArchiveError::Corrupt(_)), "{err}");
    }

    #[test]
    fn sha256_is_accepted_and_escaping_paths_rejected() {
        let tmp = tempfile::tempdir().unwrap();
        let data = b"abc".to_vec();
        let mut chunk = chunk_for(&data, &data, vec![loc("f", 0, 3)]);
        chunk.checksum = Checksum::Sha256(sha2::Sha256::digest(&data).to_vec());
        unpack_chunk(tmp.path(), &chunk, None, feed(&data, 2), &t0()).unwrap();
        chunk.destinations = vec![loc("../f", 0, 3)];
        let err = unpack_chunk(tmp.path(), &chunk, None, feed(&data, 2), &t0()).unwrap_err();
        assert!(matches!(err, ArchiveError::Manifest(_)), "{err}");
    }

    #[test]
    fn writer_errors_are_reported_as_such() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("blocker"), b"").unwrap();
        let data = b"abc".to_vec();
        let chunk = chunk_for(&data, &data, vec![loc("blocker/f", 0, 3)]);
        let err = unpack_chunk(tmp.path(), &chunk, None, feed(&data, 2), &t0()).unwrap_err();
        assert!(err.to_string().starts_with("Writer error"), "{err}");
        assert!(!err.is_transient());
    }
}
