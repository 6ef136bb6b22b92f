//! Small file helpers: atomic writes and JSON files.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Writes `data` to `path` atomically: a temporary file next to it, fsync, rename, then an
/// fsync of the directory, so a crash leaves either the old or the new content.
pub fn atomic_write(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = match dir {
        Some(d) => d.join(&tmp_name),
        None => tmp_name.into(),
    };
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    if let Some(d) = dir
        && let Ok(dir) = fs::File::open(d)
    {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Replaces `path` with `data` through a temporary file and a rename, without fsync: readers
/// see either the old or the new content at once; durability is left to [`sync_file`] (or
/// the kernel's writeback).
pub fn replace_file(path: &Path, data: &[u8]) -> io::Result<()> {
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = fs::write(&tmp, data).and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Makes `path` and its directory entry durable.
pub fn sync_file(path: &Path) -> io::Result<()> {
    fs::File::open(path)?.sync_all()?;
    if let Some(d) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::File::open(d)?.sync_all()?;
    }
    Ok(())
}

/// Serializes `value` as JSON and writes it atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let data = serde_json::to_vec(value).map_err(io::Error::other)?;
    atomic_write(path, &data)
}

/// Errors of [`read_json`], naming the file.
#[derive(Debug, thiserror::Error)]
pub enum ReadJsonError {
    #[error("can't read {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("invalid JSON in {path}: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
}

impl ReadJsonError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// Reads and parses a JSON file.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, ReadJsonError> {
    let data = fs::read(path).map_err(|source| ReadJsonError::Io {
        path: path.display().to_string(),
        source,
    })?;
    serde_json::from_slice(&data).map_err(|source| ReadJsonError::Parse {
        path: path.display().to_string(),
        source,
    })
}

/// Removes a file, treating "not found" as success.
pub fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_content_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("status.json");
        atomic_write(&p, b"one").unwrap();
        atomic_write(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn replace_file_then_sync() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("status.json");
        replace_file(&p, b"one").unwrap();
        replace_file(&p, b"two").unwrap();
        sync_file(&p).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn read_json_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.json");
        fs::write(&p, "{").unwrap();
        let err = read_json::<serde_json::Value>(&p).unwrap_err();
        assert!(err.to_string().contains("bad.json"), "{err}");
        let missing = read_json::<serde_json::Value>(&dir.path().join("x")).unwrap_err();
        assert!(missing.is_not_found());
    }
}
