//! Is a path the root of a mount? One `statx` call answers it from the kernel's
//! `STATX_ATTR_MOUNT_ROOT` (Linux 5.8 and later), so the check costs the same however many
//! mounts the host holds; reading the mount table instead grows with every node.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const MOUNT_ROOT: u64 = libc::STATX_ATTR_MOUNT_ROOT.unsigned_abs() as u64;

/// `Some(true)` when `path` (symlinks followed) is the root of a mount, `Some(false)` when it
/// is not, `None` when the kernel does not report the attribute. Errors are those of
/// `statx(2)` (a missing path is `NotFound`).
pub(super) fn is_mount_root(path: &Path) -> io::Result<Option<bool>> {
    let path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    // SAFETY: `statx` is a plain C struct of integers; all zeroes is a valid value.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and outlives the call; `st` is a writable statx the
    // kernel fills; no other memory is shared.
    let rc = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::AT_STATX_SYNC_AS_STAT,
            libc::STATX_TYPE,
            &mut st,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    if st.stx_attributes_mask & MOUNT_ROOT == 0 {
        return Ok(None);
    }
    Ok(Some(st.stx_attributes & MOUNT_ROOT != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(source: &str, target: &Path, fstype: Option<&str>, flags: nix::mount::MsFlags) {
        nix::mount::mount(Some(source), target, fstype, flags, None::<&str>)
            .unwrap_or_else(|e| panic!("mounting {source} at {}: {e}", target.display()));
    }

    #[test]
    fn tells_mount_roots_from_plain_dirs() {
        assert_eq!(is_mount_root(Path::new("/")).unwrap(), Some(true));
        assert_eq!(is_mount_root(Path::new("/proc")).unwrap(), Some(true));
        assert_eq!(is_mount_root(Path::new("/proc/self")).unwrap(), Some(false));
        let dir = tempfile::tempdir().unwrap();
        let [fs, src, bind] = ["tmpfs", "src", "bind"].map(|d| dir.path().join(d));
        for d in [&fs, &src, &bind] {
            std::fs::create_dir(d).unwrap();
        }
        assert_eq!(is_mount_root(&fs).unwrap(), Some(false));
        let missing = is_mount_root(&dir.path().join("missing")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);

        mount("tmpfs", &fs, Some("tmpfs"), nix::mount::MsFlags::empty());
        let inner = fs.join("inner");
        std::fs::create_dir(&inner).unwrap();
        // A bind mount of a dir of the same filesystem has the device of its parent: only
        // the mount-root attribute tells it apart.
        mount(
            src.to_str().unwrap(),
            &bind,
            None,
            nix::mount::MsFlags::MS_BIND,
        );
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&fs, &link).unwrap();
        let seen = [&fs, &inner, &bind, &link].map(|p| is_mount_root(p).unwrap());
        for p in [&bind, &fs] {
            nix::mount::umount2(p.as_path(), nix::mount::MntFlags::MNT_DETACH).unwrap();
        }
        assert_eq!(seen, [Some(true), Some(false), Some(true), Some(true)]);
        assert_eq!(is_mount_root(&fs).unwrap(), Some(false));
    }
}
