//! Appends job output lines to `<job_dir>/logs`, rotating at a size limit. Rotated files are
//! gzip'ed (`logs.1.gz` newest, `logs.2.gz`), off the writing path: the full file is renamed
//! to `logs.1` at once and a background thread compresses it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncRead, AsyncReadExt};

use super::{MAX_LINE, ROTATED_FILES};

/// The log file of one job.
#[derive(Debug)]
pub struct LogWriter {
    path: PathBuf,
    max_bytes: u64,
    timestamps: bool,
    file: File,
    size: u64,
    /// The compression of the last rotated file, if still running.
    compressing: Option<std::thread::JoinHandle<()>>,
}

fn rotated(path: &Path, n: usize) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

fn gz_name(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".gz");
    PathBuf::from(s)
}

/// Compresses `plain` into `plain.gz` (through a temporary file) and removes `plain`.
fn gzip_file(plain: &Path) -> std::io::Result<()> {
    let gz = gz_name(plain);
    let mut tmp = gz.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut input = File::open(plain)?;
        let out = File::create(&tmp)?;
        let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
        std::io::copy(&mut input, &mut enc)?;
        enc.finish()?;
        std::fs::rename(&tmp, &gz)?;
        std::fs::remove_file(plain)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

impl LogWriter {
    pub fn open(path: &Path, max_bytes: u64, timestamps: bool) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        // A runner that died while compressing left `logs.1` behind: finish that now.
        let leftover = rotated(path, 1);
        if leftover.exists() {
            gzip_file(&leftover)?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            max_bytes: max_bytes.max(1),
            timestamps,
            file,
            size,
            compressing: None,
        })
    }

    /// Writes one line (with its newline, if it had one) in a single write.
    pub fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(line.len() + 40);
        if self.timestamps {
            buf.extend_from_slice(chrono::Local::now().to_rfc3339().as_bytes());
            buf.push(b'|');
        }
        buf.extend_from_slice(line);
        if self.size > 0 && self.size + buf.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(&buf)?;
        self.size += buf.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.wait_compressed();
        for n in (1..ROTATED_FILES).rev() {
            let from = gz_name(&rotated(&self.path, n));
            if from.exists() {
                std::fs::rename(&from, gz_name(&rotated(&self.path, n + 1)))?;
            }
        }
        let first = rotated(&self.path, 1);
        std::fs::rename(&self.path, &first)?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        self.compressing = Some(std::thread::spawn(move || {
            if let Err(e) = gzip_file(&first) {
                eprintln!("can't compress rotated log {}: {e}", first.display());
            }
        }));
        Ok(())
    }

    /// Waits until the last rotated file is compressed.
    pub fn wait_compressed(&mut self) {
        if let Some(t) = self.compressing.take() {
            let _ = t.join();
        }
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        self.wait_compressed();
    }
}

/// Copies `reader` into `writer` line by line, with at most [`MAX_LINE`] bytes buffered.
pub async fn pump<R: AsyncRead + Unpin>(
    mut reader: R,
    writer: std::sync::Arc<std::sync::Mutex<LogWriter>>,
) {
    let mut chunk = vec![0u8; 8192];
    let mut line: Vec<u8> = Vec::new();
    let emit = |line: &[u8]| {
        let mut w = writer.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = w.write_line(line) {
            eprintln!("can't write job log: {e}");
        }
    };
    loop {
        let n = match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut rest = &chunk[..n];
        while let Some(pos) = rest.iter().position(|b| *b == b'\n') {
            line.extend_from_slice(&rest[..=pos]);
            emit(&line);
            line.clear();
            rest = &rest[pos + 1..];
        }
        line.extend_from_slice(rest);
        while line.len() >= MAX_LINE {
            let tail = line.split_off(MAX_LINE);
            line.push(b'\n');
            emit(&line);
            line = tail;
        }
    }
    if !line.is_empty() {
        line.push(b'\n');
        emit(&line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gunzip(path: &Path) -> String {
        use std::io::Read;
        let mut s = String::new();
        flate2::read::GzDecoder::new(File::open(path).unwrap())
            .read_to_string(&mut s)
            .unwrap();
        s
    }

    #[test]
    fn rotates_gzips_and_keeps_two_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("logs");
        let mut w = LogWriter::open(&p, 10, false).unwrap();
        for i in 0..5 {
            w.write_line(format!("line{i}\n").as_bytes()).unwrap();
        }
        w.wait_compressed();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "line4\n");
        assert_eq!(gunzip(&gz_name(&rotated(&p, 1))), "line3\n");
        assert_eq!(gunzip(&gz_name(&rotated(&p, 2))), "line2\n");
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["logs", "logs.1.gz", "logs.2.gz"]);
    }

    #[tokio::test]
    async fn pump_splits_lines_and_bounds_long_ones() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("logs");
        let w = std::sync::Arc::new(std::sync::Mutex::new(
            LogWriter::open(&p, 1 << 30, true).unwrap(),
        ));
        let mut input = b"a\nb\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        pump(&input[..], w).await;
        let content = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = content.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].ends_with("|a"), "{}", lines[0]);
        assert!(lines[3].ends_with("|xxxxxxxxxx"));
    }
}
