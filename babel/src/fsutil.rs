//! Small file helpers: JSON files (written with [`bv_base::write_atomic`]).

use std::fs;
use std::io;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Serializes `value` as JSON and writes it atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let data = serde_json::to_vec(value).map_err(io::Error::other)?;
    bv_base::write_atomic(path, &data)
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
