//! Reading job logs for the `JobLogs` RPC: the last N lines, then (when following) new lines
//! as they are appended, surviving rotation. Memory is bounded by one read buffer and one
//! partial line per stream.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;

use super::MAX_LINE;

/// How often a followed file is checked for new data.
pub const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// Byte offset where the last `lines` lines of `file` start (0 = whole file).
pub fn tail_offset(file: &mut File, lines: usize) -> std::io::Result<u64> {
    let len = file.metadata()?.len();
    if lines == 0 || len == 0 {
        return Ok(0);
    }
    let mut pos = len;
    let mut buf = vec![0u8; 8192];
    let mut newlines = 0usize;
    // A trailing newline ends the last line; it does not start a new one.
    let mut skip_last = true;
    while pos > 0 {
        let n = usize::try_from(pos.min(buf.len() as u64)).unwrap_or(buf.len());
        pos -= n as u64;
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(&mut buf[..n])?;
        for i in (0..n).rev() {
            if buf[i] == b'\n' {
                if skip_last && pos + i as u64 == len - 1 {
                    continue;
                }
                newlines += 1;
                if newlines == lines {
                    return Ok(pos + i as u64 + 1);
                }
            }
        }
        skip_last = false;
    }
    Ok(0)
}

/// Splits complete lines off `pending`, sending each (without newline); keeps the rest.
async fn send_lines<T>(
    pending: &mut Vec<u8>,
    make: &impl Fn(String) -> T,
    tx: &mpsc::Sender<T>,
) -> Result<(), ()> {
    while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
        let rest = pending.split_off(pos + 1);
        pending.pop();
        let line = String::from_utf8_lossy(pending).into_owned();
        *pending = rest;
        tx.send(make(line)).await.map_err(|_| ())?;
    }
    if pending.len() >= MAX_LINE {
        let line = String::from_utf8_lossy(pending).into_owned();
        pending.clear();
        tx.send(make(line)).await.map_err(|_| ())?;
    }
    Ok(())
}

/// Streams the last `lines` lines (0: all) of `path` into `tx`, then, with `follow`, new
/// lines until the receiver goes away. A missing file is waited for when following.
pub async fn stream_log<T: Send + 'static>(
    path: PathBuf,
    lines: usize,
    follow: bool,
    make: impl Fn(String) -> T + Send + 'static,
    tx: mpsc::Sender<T>,
) {
    let mut file = loop {
        match File::open(&path) {
            Ok(f) => break f,
            Err(_) if follow && !tx.is_closed() => tokio::time::sleep(FOLLOW_POLL).await,
            Err(_) => return,
        }
    };
    let Ok(start) = tail_offset(&mut file, lines) else {
        return;
    };
    if file.seek(SeekFrom::Start(start)).is_err() {
        return;
    }
    let mut pending = Vec::new();
    let mut buf = vec![0u8; 8192];
    loop {
        let n = match file.read(&mut buf) {
            Ok(n) => n,
            Err(_) => return,
        };
        if n > 0 {
            pending.extend_from_slice(&buf[..n]);
            if send_lines(&mut pending, &make, &tx).await.is_err() {
                return;
            }
            continue;
        }
        if !follow {
            if !pending.is_empty() {
                let _ = tx
                    .send(make(String::from_utf8_lossy(&pending).into_owned()))
                    .await;
            }
            return;
        }
        tokio::time::sleep(FOLLOW_POLL).await;
        if tx.is_closed() {
            return;
        }
        // Rotated (a new file at the path) or truncated: continue with the current file.
        let current = std::fs::metadata(&path).ok();
        let ours = file.metadata().ok();
        let replaced = match (&current, &ours) {
            (Some(c), Some(o)) => {
                c.ino() != o.ino() || c.len() < file.stream_position().unwrap_or(0)
            }
            _ => false,
        };
        if replaced {
            // Drain what the old file still holds, then switch.
            while let Ok(n) = file.read(&mut buf) {
                if n == 0 {
                    break;
                }
                pending.extend_from_slice(&buf[..n]);
                if send_lines(&mut pending, &make, &tx).await.is_err() {
                    return;
                }
            }
            match File::open(&path) {
                Ok(f) => file = f,
                Err(_) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(content: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("logs");
        std::fs::write(&p, content).unwrap();
        (dir, p)
    }

    #[test]
    fn tail_offsets() {
        let (_d, p) = file_with("a\nbb\nccc\n");
        let mut f = File::open(&p).unwrap();
        assert_eq!(tail_offset(&mut f, 1).unwrap(), 5);
        assert_eq!(tail_offset(&mut f, 2).unwrap(), 2);
        assert_eq!(tail_offset(&mut f, 3).unwrap(), 0);
        assert_eq!(tail_offset(&mut f, 10).unwrap(), 0);
        let (_d, p) = file_with("a\nno-newline");
        let mut f = File::open(&p).unwrap();
        assert_eq!(tail_offset(&mut f, 1).unwrap(), 2);
    }

    #[tokio::test]
    async fn tail_then_follow_across_rotation() {
        let (_d, p) = file_with("one\ntwo\nthree\n");
        let (tx, mut rx) = mpsc::channel(8);
        let task = tokio::spawn(stream_log(p.clone(), 2, true, |l| l, tx));
        assert_eq!(rx.recv().await.unwrap(), "two");
        assert_eq!(rx.recv().await.unwrap(), "three");
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"four\n").unwrap();
        assert_eq!(rx.recv().await.unwrap(), "four");
        f.write_all(b"five\n").unwrap();
        std::fs::rename(&p, p.with_extension("1")).unwrap();
        std::fs::write(&p, "six\n").unwrap();
        assert_eq!(rx.recv().await.unwrap(), "five");
        assert_eq!(rx.recv().await.unwrap(), "six");
        drop(rx);
        tokio::time::timeout(Duration::from_secs(2), task)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn without_follow_ends_at_eof() {
        let (_d, p) = file_with("a\nb");
        let (tx, mut rx) = mpsc::channel(8);
        stream_log(p, 0, false, |l| l, tx).await;
        assert_eq!(rx.recv().await.unwrap(), "a");
        assert_eq!(rx.recv().await.unwrap(), "b");
        assert!(rx.recv().await.is_none());
    }
}
