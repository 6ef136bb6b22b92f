//! The async form of [`crate::atomic`] for content that arrives as a stream (uploads): the same
//! temporary file, fsync, rename and directory fsync, on tokio's file API.

use std::io;
use std::path::{Path, PathBuf};

use tokio::fs::{self, File};

use crate::atomic::temp_path;

/// A file being written that replaces `path` when committed; dropped uncommitted, it is
/// removed and `path` stays as it was.
#[derive(Debug)]
pub struct AsyncAtomicFile {
    file: File,
    tmp: PathBuf,
    path: PathBuf,
    committed: bool,
}

impl AsyncAtomicFile {
    /// Creates the temporary file next to `path` (default mode).
    pub async fn create(path: &Path) -> io::Result<Self> {
        let tmp = temp_path(path)?;
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .await?;
        Ok(Self {
            file,
            tmp,
            path: path.to_owned(),
            committed: false,
        })
    }

    /// The open temporary file.
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Makes the content durable and puts it in place: fsync, rename, fsync of the directory.
    pub async fn commit(mut self) -> io::Result<()> {
        self.file.sync_all().await?;
        fs::rename(&self.tmp, &self.path).await?;
        self.committed = true;
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        File::open(dir).await?.sync_all().await
    }
}

impl Drop for AsyncAtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            // One unlink of a file this process created: short enough to run in place.
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tokio::io::AsyncWriteExt;

    use super::*;

    #[tokio::test]
    async fn commit_replaces_and_drop_discards() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("object");
        let mut file = AsyncAtomicFile::create(&path).await.unwrap();
        file.file().write_all(b"one").await.unwrap();
        file.commit().await.unwrap();
        let mut file = AsyncAtomicFile::create(&path).await.unwrap();
        file.file().write_all(b"two").await.unwrap();
        drop(file);
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
