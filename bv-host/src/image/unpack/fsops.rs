//! Filesystem operations confined to a root directory.
//!
//! Every path is resolved with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`: symlinks
//! planted by earlier layers (absolute or with `..`) are followed as if the rootfs were `/`,
//! so nothing can reach outside it. The last component of a path is never followed: entries
//! are created, replaced and removed with `*at` calls relative to the resolved parent.

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag, openat, openat2};
use nix::sys::stat::{Mode, SFlag, fstatat, mkdirat};
use nix::unistd::{UnlinkatFlags, unlinkat};

pub(crate) fn nix_io(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Normalize an archive path into components relative to the root. `.` and empty components
/// are dropped, `..` pops (never above the root), a leading `/` is ignored.
pub(crate) fn clean_path(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// A directory that all operations are confined to.
pub(crate) struct RootDir {
    fd: OwnedFd,
}

impl RootDir {
    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(nix_io)?;
        Ok(RootDir { fd })
    }

    #[cfg(test)]
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Open the directory at `rel` (resolved in the root), as an `O_PATH` fd.
    pub(crate) fn open_dir(&self, rel: &Path) -> io::Result<OwnedFd> {
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        let p: &Path = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        openat2(self.fd.as_fd(), p, how).map_err(nix_io)
    }

    /// Open the directory at `rel` (resolved in the root) for reading and metadata changes.
    pub(crate) fn open_dir_rdonly(&self, rel: &Path) -> io::Result<OwnedFd> {
        let how = OpenHow::new()
            .flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        let p: &Path = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        openat2(self.fd.as_fd(), p, how).map_err(nix_io)
    }

    /// Open the directory at `rel`, creating missing components (mode 0755) on the way.
    /// Symlinks on the way are followed inside the root (a dangling one gets its target
    /// created, like a secure-join + mkdir -p); a non-directory in the way is replaced.
    pub(crate) fn open_dir_all(&self, rel: &Path) -> io::Result<OwnedFd> {
        self.open_dir_all_depth(rel, 0)
    }

    fn open_dir_all_depth(&self, rel: &Path, depth: u32) -> io::Result<OwnedFd> {
        if depth > 40 {
            return Err(io::Error::from_raw_os_error(libc::ELOOP));
        }
        match self.open_dir(rel) {
            Ok(fd) => return Ok(fd),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {}
            Err(e) => return Err(e),
        }
        let comps: Vec<&OsStr> = rel
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n),
                _ => None,
            })
            .collect();
        let mut cur = self.open_dir(Path::new(""))?;
        let mut prefix = PathBuf::new();
        for (i, name) in comps.iter().enumerate() {
            prefix.push(name);
            match self.open_dir(&prefix) {
                Ok(fd) => {
                    cur = fd;
                    continue;
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {}
                Err(e) => return Err(e),
            }
            // `cur` is the resolved parent of `name`, which is missing, a dangling symlink
            // or not a directory.
            match fstatat(cur.as_fd(), *name, AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => {
                    let target = nix::fcntl::readlinkat(cur.as_fd(), *name).map_err(nix_io)?;
                    let target = Path::new(&target);
                    let mut next = if target.is_absolute() {
                        PathBuf::new()
                    } else {
                        prefix.parent().unwrap_or(Path::new("")).to_path_buf()
                    };
                    next.push(target);
                    let mut next = clean_path(&next);
                    next.extend(&comps[i + 1..]);
                    return self.open_dir_all_depth(&next, depth + 1);
                }
                Ok(_) => remove_all_at(cur.as_fd(), name)?,
                Err(Errno::ENOENT) => {}
                Err(e) => return Err(nix_io(e)),
            }
            match mkdirat(cur.as_fd(), *name, Mode::from_bits_truncate(0o755)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(nix_io(e)),
            }
            cur = self.open_dir(&prefix)?;
        }
        Ok(cur)
    }
}

/// Remove `name` in `dir` whatever it is (recursively for directories). Missing is fine.
pub(crate) fn remove_all_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    match unlinkat(dir, name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => return Ok(()),
        Err(Errno::EISDIR | Errno::EPERM) => {}
        Err(e) => return Err(nix_io(e)),
    }
    let st = match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(nix_io(e)),
    };
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return unlinkat(dir, name, UnlinkatFlags::NoRemoveDir).map_err(nix_io);
    }
    empty_dir_at(dir, name, &|_| false)?;
    match unlinkat(dir, name, UnlinkatFlags::RemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(nix_io(e)),
    }
}

/// Remove every child of the directory `dir/name` for which `keep(child_name)` is false.
pub(crate) fn empty_dir_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    keep: &dyn Fn(&OsStr) -> bool,
) -> io::Result<()> {
    let fd = openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(nix_io)?;
    let names = list_dir(fd.as_fd())?;
    for child in names {
        if !keep(&child) {
            remove_all_at(fd.as_fd(), &child)?;
        }
    }
    Ok(())
}

/// Names in an open directory (without `.` and `..`).
pub(crate) fn list_dir(fd: BorrowedFd<'_>) -> io::Result<Vec<std::ffi::OsString>> {
    // The magic link names the directory `fd` refers to (O_PATH fds included).
    let mut out = Vec::new();
    for ent in std::fs::read_dir(format!("/proc/self/fd/{}", fd.as_raw_fd()))? {
        out.push(ent?.file_name());
    }
    Ok(out)
}

/// Is `dir/name` a real directory (not following a symlink)? `None` when missing.
pub(crate) fn is_dir_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Option<bool>> {
    match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st.st_mode & libc::S_IFMT == libc::S_IFDIR)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(nix_io(e)),
    }
}

/// `/proc/self/fd/<dir>/<name>`: a path usable with `l*` calls (no follow of the last part).
pub(crate) fn proc_path(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<CString> {
    let mut v = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    v.extend_from_slice(name.as_bytes());
    CString::new(v).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Set an extended attribute on `dir/name` without following a final symlink.
pub(crate) fn set_xattr_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    key: &CStr,
    value: &[u8],
) -> io::Result<()> {
    let path = proc_path(dir, name)?;
    // SAFETY: `path` and `key` are valid NUL-terminated strings and `value` is a valid buffer
    // of `value.len()` bytes for the duration of the call.
    let rc = unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            key.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Set an extended attribute on an open file.
pub(crate) fn set_xattr_fd(fd: BorrowedFd<'_>, key: &CStr, value: &[u8]) -> io::Result<()> {
    // SAFETY: `fd` is an open descriptor, `key` is NUL-terminated and `value` is valid for
    // `value.len()` bytes for the duration of the call.
    let rc = unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            key.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

pub(crate) fn file_type_flag(kind: tar::EntryType) -> Option<SFlag> {
    match kind {
        tar::EntryType::Char => Some(SFlag::S_IFCHR),
        tar::EntryType::Block => Some(SFlag::S_IFBLK),
        tar::EntryType::Fifo => Some(SFlag::S_IFIFO),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_path_stays_relative() {
        assert_eq!(clean_path(Path::new("./a/b/")), PathBuf::from("a/b"));
        assert_eq!(
            clean_path(Path::new("/etc/passwd")),
            PathBuf::from("etc/passwd")
        );
        assert_eq!(clean_path(Path::new("../../x")), PathBuf::from("x"));
        assert_eq!(clean_path(Path::new("a/../../b/./c")), PathBuf::from("b/c"));
        assert_eq!(clean_path(Path::new("./")), PathBuf::new());
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../..", root.path().join("up")).unwrap();
        let r = RootDir::open(root.path()).unwrap();
        let fd = r.open_dir_all(Path::new("abs/x")).unwrap();
        drop(fd);
        let fd = r.open_dir_all(Path::new("up/y")).unwrap();
        drop(fd);
        // Both landed inside the root, nothing was created outside.
        assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
        assert!(
            root.path()
                .join(outside.path().strip_prefix("/").unwrap())
                .join("x")
                .is_dir()
        );
        assert!(root.path().join("y").is_dir());
    }

    #[test]
    fn remove_all_handles_trees_and_missing() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("d/e/f")).unwrap();
        std::fs::write(root.path().join("d/e/f/g"), b"x").unwrap();
        std::os::unix::fs::symlink("/", root.path().join("d/link")).unwrap();
        let r = RootDir::open(root.path()).unwrap();
        remove_all_at(r.fd(), OsStr::new("d")).unwrap();
        remove_all_at(r.fd(), OsStr::new("missing")).unwrap();
        assert!(!root.path().join("d").exists());
    }
}
