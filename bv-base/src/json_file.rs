//! JSON files the host keeps (node state, registration, upgrade holds): every error names
//! the file, a missing file can be told apart, and a write replaces the file atomically.

use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum JsonFileError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("encoding {path}: {source}")]
    Encode {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

impl JsonFileError {
    /// The file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Read { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// Parses the file at `path`; a missing file is a `Read` error.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<T, JsonFileError> {
    let bytes = std::fs::read(path).map_err(|source| JsonFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &bytes)
}

/// Parses the file at `path`, or `None` when there is no such file.
pub fn read_if_exists<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, JsonFileError> {
    match std::fs::read(path) {
        Ok(bytes) => parse(path, &bytes).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(JsonFileError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Parses `bytes` read from `path` (named in the error).
pub fn parse<T: DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<T, JsonFileError> {
    serde_json::from_slice(bytes).map_err(|source| JsonFileError::Parse {
        path: path.to_owned(),
        source,
    })
}

/// [`parse`] of an already decoded JSON value (read once, checked, then typed).
pub fn from_value<T: DeserializeOwned>(
    path: &Path,
    value: serde_json::Value,
) -> Result<T, JsonFileError> {
    serde_json::from_value(value).map_err(|source| JsonFileError::Parse {
        path: path.to_owned(),
        source,
    })
}

/// Replaces the file at `path` with `value` as pretty JSON (temp file, fsync, rename, fsync
/// of the directory). A new file gets `mode` when given, else 0666 less the umask.
pub fn write<T: Serialize>(path: &Path, value: &T, mode: Option<u32>) -> Result<(), JsonFileError> {
    let json = serde_json::to_vec_pretty(value).map_err(|source| JsonFileError::Encode {
        path: path.to_owned(),
        source,
    })?;
    let written = match mode {
        Some(mode) => crate::atomic::write_atomic_mode(path, &json, mode),
        None => crate::atomic::write_atomic(path, &json),
    };
    written.map_err(|source| JsonFileError::Write {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_broken_and_good_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        assert!(read_if_exists::<Vec<u32>>(&path).unwrap().is_none());
        let missing = read::<Vec<u32>>(&path).unwrap_err();
        assert!(missing.is_not_found(), "{missing}");

        std::fs::write(&path, b"[1, 2").unwrap();
        let torn = read_if_exists::<Vec<u32>>(&path).unwrap_err();
        assert!(matches!(torn, JsonFileError::Parse { .. }), "{torn}");
        assert!(torn.to_string().starts_with(&path.display().to_string()));
        assert!(!torn.is_not_found());

        write(&path, &vec![1u32, 2], None).unwrap();
        assert_eq!(read::<Vec<u32>>(&path).unwrap(), vec![1, 2]);
    }

    #[test]
    fn mode_is_exact_and_no_temp_file_is_left() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.json");
        write(&path, &"token", Some(0o600)).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_directory_in_the_way_is_a_write_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = write(&dir.path().join("no/such/dir.json"), &1, None).unwrap_err();
        assert!(matches!(err, JsonFileError::Write { .. }), "{err}");
    }
}
