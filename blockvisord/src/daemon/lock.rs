//! One daemon per state root: an exclusive `flock` on `<root>/blockvisord.lock`, held for
//! the life of the process (the kernel drops it when the process dies, however it dies).
//! The file names the PID of the holder so a refused second daemon can say who holds it.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

pub const LOCK_FILE: &str = "blockvisord.lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another blockvisord (pid {pid}) holds {}; stop it first", path.display())]
    Held { path: PathBuf, pid: String },
    #[error("{context} {}: {source}", path.display())]
    Io {
        context: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The held root lock; released when dropped or when the process exits.
#[derive(Debug)]
pub struct RootLock {
    _file: Flock<File>,
    pub path: PathBuf,
}

impl RootLock {
    pub fn acquire(root: &Path) -> Result<Self, LockError> {
        let path = root.join(LOCK_FILE);
        let io = |context: &'static str, path: &Path| {
            let path = path.to_owned();
            move |source| LockError::Io {
                context,
                path,
                source,
            }
        };
        std::fs::create_dir_all(root).map_err(io("creating", root))?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io("opening", &path))?;
        let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(f) => f,
            Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = match pid.trim() {
                    "" => "unknown".to_string(),
                    p => p.to_string(),
                };
                return Err(LockError::Held { path, pid });
            }
            Err((_, errno)) => {
                return Err(LockError::Io {
                    context: "locking",
                    path,
                    source: errno.into(),
                });
            }
        };
        file.set_len(0).map_err(io("truncating", &path))?;
        file.rewind().map_err(io("rewinding", &path))?;
        writeln!(file, "{}", std::process::id()).map_err(io("writing", &path))?;
        file.sync_data().map_err(io("syncing", &path))?;
        Ok(Self { _file: file, path })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_on_the_same_root_is_refused_with_the_holder_pid() {
        let dir = tempfile::tempdir().unwrap();
        let first = RootLock::acquire(dir.path()).unwrap();
        let err = RootLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        RootLock::acquire(dir.path()).unwrap();
    }
}
