//! Crash-safe file replacement.
//!
//! The new content goes to a temporary file in the destination's directory (same file system,
//! so the rename is atomic), is flushed with fsync, renamed over the destination, and then the
//! directory is fsynced so the rename itself survives a crash. Readers and a crash at any point
//! see either the old or the new content, never a mix. A temporary file of a failed or
//! abandoned write is removed.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Replaces `path` with `data`: temp file, fsync, rename, fsync of the directory.
///
/// A new file gets the default mode (0666 less the umask); see [`write_atomic_mode`].
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut file = AtomicFile::create(path, None)?;
    file.write_all(data)?;
    file.commit()
}

/// [`write_atomic`] with an exact file mode (e.g. `0o600` for secrets): the temporary file is
/// created with it, so the content is never readable under a wider mode, and it is set again
/// past the umask.
pub fn write_atomic_mode(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let mut file = AtomicFile::create(path, Some(mode))?;
    file.write_all(data)?;
    file.commit()
}

/// A file being written that replaces `path` when committed; dropped uncommitted, it is
/// removed and `path` stays as it was.
#[derive(Debug)]
pub struct AtomicFile {
    file: File,
    tmp: PathBuf,
    path: PathBuf,
    committed: bool,
}

impl AtomicFile {
    /// Creates the temporary file next to `path`; `mode` sets its exact permission bits.
    pub fn create(path: &Path, mode: Option<u32>) -> io::Result<Self> {
        let tmp = temp_path(path)?;
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        if let Some(mode) = mode {
            options.mode(mode);
        }
        let file = open_temp(&options, &tmp)?;
        let this = Self {
            file,
            tmp,
            path: path.to_owned(),
            committed: false,
        };
        if let Some(mode) = mode {
            this.file.set_permissions(Permissions::from_mode(mode))?;
        }
        Ok(this)
    }

    /// The open temporary file.
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Makes the content durable and puts it in place: fsync, rename, fsync of the directory.
    pub fn commit(mut self) -> io::Result<()> {
        self.file.sync_all()?;
        fs::rename(&self.tmp, &self.path)?;
        self.committed = true;
        sync_dir(&self.path)
    }

    /// Puts the content in place without fsync: readers see the old or the new content, but
    /// after a crash the file may be empty or old. For files rewritten often whose durability
    /// is requested separately (see [`sync_file`]).
    pub fn commit_unsynced(mut self) -> io::Result<()> {
        fs::rename(&self.tmp, &self.path)?;
        self.committed = true;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Makes `path` and its directory entry durable (after [`AtomicFile::commit_unsynced`]).
pub fn sync_file(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()?;
    sync_dir(path)
}

/// Fsyncs the directory holding `path`.
fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(parent_dir(path))?.sync_all()
}

fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Whether `path` is a temporary file of [`write_atomic`] (left behind when a writer died
/// before its rename).
pub fn is_temp_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix('.')?.strip_suffix(".tmp"))
        .and_then(|rest| {
            let mut parts = rest.rsplitn(3, '.');
            let n = parts.next()?;
            let pid = parts.next()?;
            let name = parts.next()?;
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            Some(!name.is_empty() && digits(n) && digits(pid))
        })
        .unwrap_or(false)
}

/// `.<name>.<pid>.<n>.tmp` in `path`'s directory: hidden, unique per process and per write, so
/// concurrent writers of one destination never share a temporary file.
/// Opens a new temporary file named by [`temp_path`]. The name holds our pid and a number this
/// process never hands out twice, so a file already there was left by a dead process that had
/// the same pid (pids repeat, quickly so in a fresh pid namespace): it is garbage, replaced.
fn open_temp(options: &OpenOptions, tmp: &Path) -> io::Result<File> {
    match options.open(tmp) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            fs::remove_file(tmp)?;
            options.open(tmp)
        }
        other => other,
    }
}

pub(crate) fn temp_path(path: &Path) -> io::Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let mut tmp = OsString::from(".");
    tmp.push(name);
    tmp.push(format!(
        ".{}.{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    Ok(parent_dir(path).join(tmp))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_content_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(names(dir.path()), ["state.json"]);
    }

    #[test]
    fn mode_is_exact_whatever_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        write_atomic_mode(&path, b"key", 0o600).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        write_atomic_mode(&path, b"key", 0o640).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    #[test]
    fn missing_directory_fails_and_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("state.json");
        assert!(write_atomic(&path, b"x").is_err());
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn abandoned_write_keeps_the_old_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, b"old").unwrap();
        let mut file = AtomicFile::create(&path, None).unwrap();
        file.write_all(b"new").unwrap();
        drop(file);
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(names(dir.path()), ["state.json"]);
    }

    #[test]
    fn unsynced_commit_then_sync() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        for data in [b"one", b"two"] {
            let mut file = AtomicFile::create(&path, None).unwrap();
            file.write_all(data).unwrap();
            file.commit_unsynced().unwrap();
        }
        sync_file(&path).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(names(dir.path()), ["status.json"]);
    }

    #[test]
    fn a_dead_writers_temp_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join(".state.json.7.0.tmp");
        fs::write(&tmp, b"left by a killed writer").unwrap();
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        let mut file = open_temp(&options, &tmp).unwrap();
        file.write_all(b"new").unwrap();
        assert_eq!(fs::read(&tmp).unwrap(), b"new");
    }

    #[test]
    fn relative_path_without_directory() {
        let tmp = temp_path(Path::new("state.json")).unwrap();
        assert!(is_temp_file(&tmp));
        assert!(!is_temp_file(Path::new("state.json")));
        assert!(!is_temp_file(Path::new(".state.json.x.1.tmp")));
        assert_eq!(tmp.parent(), Some(Path::new(".")));
        assert!(temp_path(Path::new("/")).is_err());
    }
}
