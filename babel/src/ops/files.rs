//! Streamed files (`file_write`, `file_read`, `upload_job_runner`): `FileChunk` items with a
//! CRC-32/BZIP2 checksum of the whole content at the end.

use std::io::Write;
use std::path::{Path, PathBuf};

use babel_api::pb::babel::v1::{FileChunk, file_chunk::Part};
use futures::{Stream, StreamExt};

/// Size of the data parts sent by `file_read`.
pub const CHUNK_SIZE: usize = 16 * 1024;

pub const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_BZIP2);

/// CRC-32/BZIP2 of `data`.
pub fn checksum(data: &[u8]) -> u32 {
    CRC32.checksum(data)
}

/// CRC-32/BZIP2 of a file's content, `None` when it can't be read.
pub fn file_checksum(path: &Path) -> Option<u32> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let mut digest = CRC32.digest();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).ok()?;
        if n == 0 {
            return Some(digest.finalize());
        }
        digest.update(&buf[..n]);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("missing file destination")]
    MissingDestination,
    #[error("incomplete binary stream - missing checksum")]
    MissingChecksum,
    #[error("received binary checksum ({actual}) doesn't match expected ({expected})")]
    ChecksumMismatch { actual: u32, expected: u32 },
    #[error("unexpected item in binary stream: {0}")]
    Unexpected(&'static str),
    /// The sender's stream failed.
    #[error("stream error: {}", .0.message())]
    Transport(#[source] tonic::Status),
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Receives a stream into a file. With `destination == None` the first item must name it.
/// The content goes to a temporary file next to the target (mode 0770) and is renamed over
/// it only after the checksum matched, so a broken upload never replaces a good file and a
/// running executable is never written in place. Returns the path and checksum.
pub async fn receive_file<S>(
    mut stream: S,
    destination: Option<PathBuf>,
) -> Result<(PathBuf, u32), StreamError>
where
    S: Stream<Item = Result<FileChunk, tonic::Status>> + Unpin,
{
    let next =
        |item: Option<Result<FileChunk, tonic::Status>>| -> Result<Option<Part>, StreamError> {
            match item {
                None => Ok(None),
                Some(Err(s)) => Err(StreamError::Transport(s)),
                Some(Ok(c)) => Ok(c.part),
            }
        };
    let mut first = next(stream.next().await)?;
    let dest = match (destination, &first) {
        (Some(d), Some(Part::Destination(_))) => {
            first = next(stream.next().await)?;
            d
        }
        (Some(d), _) => d,
        (None, Some(Part::Destination(d))) => {
            let d = PathBuf::from(d);
            first = next(stream.next().await)?;
            d
        }
        (None, _) => return Err(StreamError::MissingDestination),
    };
    let io = |what, source| StreamError::Io {
        what,
        path: dest.clone(),
        source,
    };
    let mut file =
        bv_base::AtomicFile::create(&dest, Some(0o770)).map_err(|e| io("can't create", e))?;
    let mut digest = CRC32.digest();
    let mut expected = None;
    let mut part = first;
    let result = loop {
        match part {
            None => break Ok(()),
            Some(Part::Data(bytes)) => {
                if expected.is_some() {
                    break Err(StreamError::Unexpected("data after checksum"));
                }
                digest.update(&bytes);
                if let Err(e) = file.write_all(&bytes) {
                    break Err(io("can't write", e));
                }
            }
            Some(Part::Checksum(c)) => expected = Some(c),
            Some(Part::Destination(_)) => break Err(StreamError::Unexpected("second destination")),
        }
        part = match next(stream.next().await) {
            Ok(p) => p,
            Err(e) => break Err(e),
        };
    };
    let finish = move || -> Result<u32, StreamError> {
        result?;
        let expected = expected.ok_or(StreamError::MissingChecksum)?;
        let actual = digest.finalize();
        if actual != expected {
            return Err(StreamError::ChecksumMismatch { actual, expected });
        }
        file.commit().map_err(|e| io("can't replace", e))?;
        Ok(actual)
    };
    // A failed or abandoned upload drops the temporary file and leaves `dest` as it was.
    finish().map(|crc| (dest.clone(), crc))
}

/// Streams a file as data parts of [`CHUNK_SIZE`] bytes followed by its checksum. Memory use
/// is one part at a time. A read error ends the stream.
pub fn send_file(
    path: PathBuf,
) -> impl Stream<Item = Result<FileChunk, std::io::Error>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        };
        let mut digest = CRC32.digest();
        loop {
            let mut buf = vec![0u8; CHUNK_SIZE];
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    buf.truncate(n);
                    digest.update(&buf);
                    let chunk = FileChunk {
                        part: Some(Part::Data(buf)),
                    };
                    if tx.blocking_send(Ok(chunk)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
        let _ = tx.blocking_send(Ok(FileChunk {
            part: Some(Part::Checksum(digest.finalize())),
        }));
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn chunk(p: Part) -> Result<FileChunk, tonic::Status> {
        Ok(FileChunk { part: Some(p) })
    }

    #[test]
    fn crc_reference_values() {
        let v: Vec<u8> = (1..5)
            .chain(6..11)
            .chain(11..15)
            .chain(16..21)
            .chain(21..25)
            .chain(26..31)
            .collect();
        assert_eq!(v.len(), 27);
        assert_eq!(checksum(&v), 4135829304);
        assert_eq!(checksum(b"dummy content"), 2134916024);
    }

    #[tokio::test]
    async fn receive_checks_destination_and_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("f");
        let items = vec![chunk(Part::Data(b"dummy content".to_vec()))];
        let err = receive_file(futures::stream::iter(items), None)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "missing file destination");

        let items = vec![
            chunk(Part::Destination(dest.display().to_string())),
            chunk(Part::Data(b"dummy ".to_vec())),
            chunk(Part::Data(b"content".to_vec())),
        ];
        let err = receive_file(futures::stream::iter(items), None)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "incomplete binary stream - missing checksum"
        );
        assert!(!dest.exists());

        let items = vec![
            chunk(Part::Destination(dest.display().to_string())),
            chunk(Part::Data(b"dummy content".to_vec())),
            chunk(Part::Checksum(1)),
        ];
        let err = receive_file(futures::stream::iter(items), None)
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            StreamError::ChecksumMismatch { expected: 1, .. }
        ));

        let items = vec![
            chunk(Part::Destination(dest.display().to_string())),
            chunk(Part::Data(b"dummy content".to_vec())),
            chunk(Part::Checksum(2134916024)),
        ];
        let (p, crc) = receive_file(futures::stream::iter(items), None)
            .await
            .unwrap();
        assert_eq!((p, crc), (dest.clone(), 2134916024));
        assert_eq!(std::fs::read(&dest).unwrap(), b"dummy content");
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o770);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[tokio::test]
    async fn send_then_receive_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&src, &data).unwrap();
        let items: Vec<_> = send_file(src.clone())
            .map(|item| item.map_err(|e| tonic::Status::internal(e.to_string())))
            .collect()
            .await;
        assert_eq!(items.len(), 100_000 / CHUNK_SIZE + 2);
        let dest = dir.path().join("dst");
        receive_file(futures::stream::iter(items), Some(dest.clone()))
            .await
            .unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), data);
        assert_eq!(file_checksum(&dest), Some(checksum(&data)));
    }
}
