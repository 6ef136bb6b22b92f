//! Layer byte streams: compression detected from magic bytes, digest and progress counted on
//! the compressed bytes, decompression on its own thread so it overlaps file creation.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use sha2::{Digest, Sha256};

use crate::image::ProgressSink;

/// Compression of a layer blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

pub(crate) fn detect(magic: &[u8]) -> Compression {
    if magic.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Hashes (sha256) and counts the bytes read through it, reporting them as progress.
pub(crate) struct Tap<'a, R> {
    inner: R,
    hasher: Option<Sha256>,
    progress: &'a dyn ProgressSink,
    pending: u64,
}

impl<'a, R: Read> Tap<'a, R> {
    pub(crate) fn new(inner: R, hash: bool, progress: &'a dyn ProgressSink) -> Self {
        Tap {
            inner,
            hasher: hash.then(Sha256::new),
            progress,
            pending: 0,
        }
    }

    /// Read to the end (so the digest covers the whole blob) and return `sha256:<hex>`.
    pub(crate) fn finish(mut self) -> io::Result<Option<String>> {
        io::copy(&mut self, &mut io::sink())?;
        self.progress.advance(std::mem::take(&mut self.pending));
        Ok(self
            .hasher
            .map(|h| format!("sha256:{}", hex::encode(h.finalize()))))
    }
}

impl<R: Read> Read for Tap<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.pending += n as u64;
        if self.pending >= 1 << 20 {
            self.progress.advance(std::mem::take(&mut self.pending));
        }
        Ok(n)
    }
}

const CHUNK: usize = 1 << 20;

/// A reader fed by a producer thread through a bounded channel of chunks.
pub(crate) struct ChunkReader {
    rx: Receiver<io::Result<Vec<u8>>>,
    cur: Vec<u8>,
    pos: usize,
    done: bool,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.cur = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn pump(mut src: impl Read, tx: &SyncSender<io::Result<Vec<u8>>>) -> io::Result<()> {
    loop {
        let mut chunk = vec![0u8; CHUNK];
        let mut filled = 0;
        while filled < CHUNK {
            match src.read(&mut chunk[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if filled == 0 {
            return Ok(());
        }
        chunk.truncate(filled);
        if tx.send(Ok(chunk)).is_err() {
            // The consumer stopped (error or end of tar); keep reading so the digest and
            // progress cover the whole blob.
            io::copy(&mut src, &mut io::sink())?;
            return Ok(());
        }
    }
}

/// Start decompressing `raw` on a scoped thread. Returns the tar stream and the producer handle
/// whose result is the blob digest (when `hash`).
pub(crate) fn spawn_decoder<'scope, 'env, R: Read + Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    raw: R,
    hash: bool,
    progress: &'scope dyn ProgressSink,
) -> (
    ChunkReader,
    std::thread::ScopedJoinHandle<'scope, io::Result<Option<String>>>,
) {
    let (tx, rx) = sync_channel(4);
    let handle = scope.spawn(move || {
        let mut buffered = BufReader::with_capacity(256 << 10, Tap::new(raw, hash, progress));
        let kind = detect(buffered.fill_buf()?);
        let res = match kind {
            Compression::None => pump(&mut buffered, &tx),
            Compression::Gzip => pump(flate2::bufread::MultiGzDecoder::new(&mut buffered), &tx),
            Compression::Zstd => match zstd::stream::read::Decoder::with_buffer(&mut buffered) {
                Ok(d) => pump(d, &tx),
                Err(e) => Err(e),
            },
        };
        if let Err(e) = res {
            let _ = tx.send(Err(io::Error::new(
                e.kind(),
                format!("decompressing {kind:?} layer: {e}"),
            )));
            return Err(e);
        }
        drop(tx);
        buffered.into_inner().finish()
    });
    let reader = ChunkReader {
        rx,
        cur: Vec::new(),
        pos: 0,
        done: false,
    };
    (reader, handle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::NoProgress;
    use std::io::Write;

    fn roundtrip(data: &[u8], blob: Vec<u8>) {
        let expected = format!("sha256:{}", hex::encode(Sha256::digest(&blob)));
        std::thread::scope(|s| {
            let (mut r, h) = spawn_decoder(s, &blob[..], true, &NoProgress);
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            assert_eq!(out, data);
            assert_eq!(h.join().unwrap().unwrap(), Some(expected));
        });
    }

    #[test]
    fn detects_and_decodes_all_compressions() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        roundtrip(&data, data.clone());
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        roundtrip(&data, gz.finish().unwrap());
        roundtrip(&data, zstd::encode_all(&data[..], 3).unwrap());
        roundtrip(b"", Vec::new());
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        let blob = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3];
        std::thread::scope(|s| {
            let (mut r, h) = spawn_decoder(s, &blob[..], false, &NoProgress);
            let mut out = Vec::new();
            assert!(r.read_to_end(&mut out).is_err());
            assert!(h.join().unwrap().is_err());
        });
    }
}
