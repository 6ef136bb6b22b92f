//! Apply one layer tar onto a rootfs: entries, whiteouts and opaque directories.
//!
//! Rules (OCI image spec, "Representing Changes"):
//! * `.wh.NAME` removes `NAME` from lower layers; the marker itself is never written.
//! * `DIR/.wh..wh..opq` removes every child of `DIR` that came from lower layers, but keeps
//!   what this layer writes, whatever the tar order (paths written by this layer are tracked).
//! * An entry replaces whatever is at its path, except that a directory over a directory
//!   merges (only its metadata changes).
//! * Hard links may point at files from lower layers.
//! * All paths resolve inside the rootfs (see `fsops`).

use std::collections::HashSet;
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{
    FchmodatFlags, Mode, UtimensatFlags, fchmod, fchmodat, futimens, mkdirat, mknodat, utimensat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchown, fchownat, linkat, symlinkat};

use super::fsops::{
    RootDir, clean_path, file_type_flag, is_dir_at, list_dir, nix_io, remove_all_at, set_xattr_at,
    set_xattr_fd,
};

/// How to unpack.
#[derive(Debug, Clone, Copy)]
pub struct UnpackOptions {
    /// Apply ownership, device nodes and non-`user.` xattrs (needs root).
    pub privileged: bool,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            privileged: nix::unistd::geteuid().is_root(),
        }
    }
}

/// Where inside a layer unpacking failed.
#[derive(Debug)]
pub(crate) struct EntryError {
    pub(crate) path: PathBuf,
    pub(crate) source: io::Error,
}

trait At<T> {
    fn at(self, path: &Path) -> Result<T, EntryError>;
}

impl<T> At<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T, EntryError> {
        self.map_err(|source| EntryError {
            path: path.to_path_buf(),
            source,
        })
    }
}

struct DirMeta {
    rel: PathBuf,
    mode: u32,
    mtime: i64,
}

struct Meta {
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: i64,
    xattrs: Vec<(CString, Vec<u8>)>,
}

/// Applies one layer. Reuse is not supported: one `LayerApplier` per layer.
pub(crate) struct LayerApplier<'r> {
    root: &'r RootDir,
    opts: UnpackOptions,
    written: HashSet<PathBuf>,
    dirs: Vec<DirMeta>,
    parent: Option<(PathBuf, OwnedFd)>,
    buf: Vec<u8>,
}

impl<'r> LayerApplier<'r> {
    pub(crate) fn new(root: &'r RootDir, opts: UnpackOptions) -> Self {
        LayerApplier {
            root,
            opts,
            written: HashSet::new(),
            dirs: Vec::new(),
            parent: None,
            buf: vec![0; 256 << 10],
        }
    }

    /// Apply every entry of the tar stream `r`.
    pub(crate) fn apply(mut self, r: impl Read) -> Result<(), EntryError> {
        let mut archive = tar::Archive::new(r);
        let entries = archive.entries().at(Path::new(""))?;
        for entry in entries {
            let mut entry = entry.at(Path::new("<tar header>"))?;
            let kind = entry.header().entry_type();
            if matches!(
                kind,
                tar::EntryType::XGlobalHeader
                    | tar::EntryType::XHeader
                    | tar::EntryType::GNULongName
                    | tar::EntryType::GNULongLink
            ) {
                continue;
            }
            let rel = clean_path(&entry.path().at(Path::new("<tar path>"))?);
            let Some(name) = rel.file_name().map(OsStr::to_os_string) else {
                continue; // the root itself
            };
            let parent = rel.parent().unwrap_or(Path::new("")).to_path_buf();
            if let Some(target) = name.as_bytes().strip_prefix(b".wh.") {
                if target == b".wh..opq" {
                    self.opaque(&parent).at(&rel)?;
                } else if !target.starts_with(b".wh.") {
                    self.whiteout(parent.join(OsStr::from_bytes(target)))
                        .at(&rel)?;
                }
                // Other `.wh..wh.*` names are AUFS bookkeeping: ignored.
                continue;
            }
            self.extract(&mut entry, &rel, &parent, &name, kind)
                .at(&rel)?;
            self.mark_written(rel);
        }
        self.finish_dirs()
    }

    fn mark_written(&mut self, rel: PathBuf) {
        let mut cur = rel.parent();
        while let Some(p) = cur {
            if p.as_os_str().is_empty() || self.written.contains(p) {
                break;
            }
            self.written.insert(p.to_path_buf());
            cur = p.parent();
        }
        self.written.insert(rel);
    }

    /// The parent directory fd, cached for runs of entries in the same directory.
    fn parent_fd(&mut self, parent: &Path) -> io::Result<BorrowedFd<'_>> {
        let hit = matches!(&self.parent, Some((p, _)) if p == parent);
        if !hit {
            let fd = self.root.open_dir_all(parent)?;
            self.parent = Some((parent.to_path_buf(), fd));
        }
        match &self.parent {
            Some((_, fd)) => Ok(fd.as_fd()),
            None => Err(io::Error::other("parent cache empty")),
        }
    }

    fn whiteout(&mut self, target: PathBuf) -> io::Result<()> {
        if self.written.contains(&target) {
            return Ok(()); // hides lower layers only
        }
        let Some(name) = target.file_name() else {
            return Ok(());
        };
        let parent = target.parent().unwrap_or(Path::new(""));
        let pfd = match self.root.open_dir(parent) {
            Ok(fd) => fd,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        self.parent = None;
        remove_all_at(pfd.as_fd(), name)
    }

    fn opaque(&mut self, dir: &Path) -> io::Result<()> {
        let dfd = match self.root.open_dir(dir) {
            Ok(fd) => fd,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        self.parent = None;
        self.prune(dfd.as_fd(), dir)
    }

    /// Remove everything under `dir` that this layer did not write.
    fn prune(&self, dfd: BorrowedFd<'_>, dir: &Path) -> io::Result<()> {
        for child in list_dir(dfd)? {
            let rel = dir.join(&child);
            if !self.written.contains(&rel) {
                remove_all_at(dfd, &child)?;
            } else if is_dir_at(dfd, &child)? == Some(true) {
                let cfd = openat(
                    dfd,
                    child.as_os_str(),
                    OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(nix_io)?;
                self.prune(cfd.as_fd(), &rel)?;
            }
        }
        Ok(())
    }

    fn extract<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        rel: &Path,
        parent: &Path,
        name: &OsStr,
        kind: tar::EntryType,
    ) -> io::Result<()> {
        let meta = self.meta(entry)?;
        match kind {
            tar::EntryType::Directory => self.make_dir(rel, parent, name, meta),
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                self.make_file(entry, parent, name, meta)
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| io::Error::other("symlink without a target"))?
                    .into_owned();
                self.make_symlink(parent, name, &target, meta)
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name()?
                    .map(|t| clean_path(&t))
                    .ok_or_else(|| io::Error::other("hard link without a target"))?;
                self.make_hardlink(rel, parent, name, &target)
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let dev = libc::makedev(
                    entry.header().device_major()?.unwrap_or(0),
                    entry.header().device_minor()?.unwrap_or(0),
                );
                self.make_node(parent, name, kind, dev, meta)
            }
            other => {
                tracing::warn!(path = %rel.display(), kind = ?other, "skipping unsupported tar entry");
                Ok(())
            }
        }
    }

    fn meta<R: Read>(&self, entry: &mut tar::Entry<'_, R>) -> io::Result<Meta> {
        let h = entry.header();
        let mode = h.mode()? & 0o7777;
        // Some writers leave these numeric fields blank: read them as 0.
        let uid = h.uid().unwrap_or(0);
        let gid = h.gid().unwrap_or(0);
        let mtime = h
            .mtime()
            .ok()
            .and_then(|t| i64::try_from(t).ok())
            .unwrap_or(0);
        let mut xattrs = Vec::new();
        if let Some(exts) = entry.pax_extensions()? {
            for ext in exts {
                let ext = ext?;
                if let Some(key) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") {
                    if !self.opts.privileged && !key.starts_with(b"user.") {
                        continue;
                    }
                    if let Ok(key) = CString::new(key) {
                        xattrs.push((key, ext.value_bytes().to_vec()));
                    }
                }
            }
        }
        Ok(Meta {
            mode,
            uid,
            gid,
            mtime,
            xattrs,
        })
    }

    /// Run `create`; if the name exists, remove what is there and try once more.
    fn replace<T>(
        &mut self,
        parent: &Path,
        name: &OsStr,
        mut create: impl FnMut(BorrowedFd<'_>) -> nix::Result<T>,
    ) -> io::Result<T> {
        let pfd = self.parent_fd(parent)?;
        match create(pfd) {
            Err(Errno::EEXIST) => {}
            other => return other.map_err(nix_io),
        }
        remove_all_at(pfd, name)?;
        let res = create(pfd).map_err(nix_io);
        // The removed entry may have been a directory some cached fd pointed into.
        self.parent = None;
        res
    }

    fn make_dir(&mut self, rel: &Path, parent: &Path, name: &OsStr, meta: Meta) -> io::Result<()> {
        let pfd = self.parent_fd(parent)?;
        match mkdirat(pfd, name, Mode::from_bits_truncate(0o700)) {
            Ok(()) => {}
            Err(Errno::EEXIST) => {
                if is_dir_at(pfd, name)? != Some(true) {
                    self.replace(parent, name, |p| {
                        mkdirat(p, name, Mode::from_bits_truncate(0o700))
                    })?;
                }
            }
            Err(e) => return Err(nix_io(e)),
        }
        let privileged = self.opts.privileged;
        let pfd = self.parent_fd(parent)?;
        chown_at(pfd, name, &meta, privileged)?;
        set_xattrs_at(pfd, name, &meta)?;
        self.dirs.push(DirMeta {
            rel: rel.to_path_buf(),
            mode: meta.mode,
            mtime: meta.mtime,
        });
        Ok(())
    }

    fn make_file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        parent: &Path,
        name: &OsStr,
        meta: Meta,
    ) -> io::Result<()> {
        let fd = self.replace(parent, name, |p| {
            openat(
                p,
                name,
                OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_WRONLY
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o600),
            )
        })?;
        let mut file = File::from(fd);
        loop {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            file.write_all(&self.buf[..n])?;
        }
        let fd = file.as_fd();
        if self.opts.privileged {
            fchown(
                fd,
                Some(Uid::from_raw(meta.uid as u32)),
                Some(Gid::from_raw(meta.gid as u32)),
            )
            .map_err(nix_io)?;
        }
        fchmod(fd, Mode::from_bits_truncate(meta.mode)).map_err(nix_io)?;
        for (k, v) in &meta.xattrs {
            xattr_result(set_xattr_fd(fd, k, v), k)?;
        }
        let t = TimeSpec::new(meta.mtime, 0);
        futimens(fd, &t, &t).map_err(nix_io)?;
        Ok(())
    }

    fn make_symlink(
        &mut self,
        parent: &Path,
        name: &OsStr,
        target: &[u8],
        meta: Meta,
    ) -> io::Result<()> {
        let target = OsStr::from_bytes(target);
        self.replace(parent, name, |p| symlinkat(target, p, name))?;
        let privileged = self.opts.privileged;
        let pfd = self.parent_fd(parent)?;
        chown_at(pfd, name, &meta, privileged)?;
        set_xattrs_at(pfd, name, &meta)?;
        let t = TimeSpec::new(meta.mtime, 0);
        utimensat(pfd, name, &t, &t, UtimensatFlags::NoFollowSymlink).map_err(nix_io)
    }

    fn make_hardlink(
        &mut self,
        rel: &Path,
        parent: &Path,
        name: &OsStr,
        target: &Path,
    ) -> io::Result<()> {
        if target == rel {
            return Ok(());
        }
        let tname = target
            .file_name()
            .ok_or_else(|| io::Error::other("hard link to the root"))?;
        let tparent = target.parent().unwrap_or(Path::new(""));
        let tfd = self.root.open_dir(tparent).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("hard link target `{}`: {e}", target.display()),
            )
        })?;
        self.replace(parent, name, |p| {
            linkat(tfd.as_fd(), tname, p, name, AtFlags::empty())
        })
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("hard link to `{}`: {e}", target.display()),
            )
        })
    }

    fn make_node(
        &mut self,
        parent: &Path,
        name: &OsStr,
        kind: tar::EntryType,
        dev: libc::dev_t,
        meta: Meta,
    ) -> io::Result<()> {
        let Some(flag) = file_type_flag(kind) else {
            return Ok(());
        };
        if !self.opts.privileged && kind != tar::EntryType::Fifo {
            tracing::warn!(name = %name.to_string_lossy(), "skipping device node (needs root)");
            return Ok(());
        }
        let mode = Mode::from_bits_truncate(meta.mode);
        self.replace(parent, name, |p| mknodat(p, name, flag, mode, dev))?;
        let privileged = self.opts.privileged;
        let pfd = self.parent_fd(parent)?;
        chown_at(pfd, name, &meta, privileged)?;
        // mknod applies the umask; set the exact mode (the entry is not a symlink).
        fchmodat(pfd, name, mode, FchmodatFlags::FollowSymlink).map_err(nix_io)?;
        let t = TimeSpec::new(meta.mtime, 0);
        utimensat(pfd, name, &t, &t, UtimensatFlags::NoFollowSymlink).map_err(nix_io)
    }

    /// Directory modes and mtimes last, deepest first, so creating children does not undo them.
    fn finish_dirs(mut self) -> Result<(), EntryError> {
        self.parent = None;
        let mut dirs = std::mem::take(&mut self.dirs);
        dirs.sort_by_key(|d| std::cmp::Reverse(d.rel.components().count()));
        for d in dirs {
            let fd = match self.root.open_dir_rdonly(&d.rel) {
                Ok(fd) => fd,
                // Removed or replaced later in the same layer.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                    continue;
                }
                Err(e) => return Err(e).at(&d.rel),
            };
            fchmod(fd.as_fd(), Mode::from_bits_truncate(d.mode))
                .map_err(nix_io)
                .at(&d.rel)?;
            let t = TimeSpec::new(d.mtime, 0);
            futimens(fd.as_fd(), &t, &t).map_err(nix_io).at(&d.rel)?;
        }
        Ok(())
    }
}

/// Gives `name` (not followed if a symlink) the entry's owner; only a privileged unpack can.
fn chown_at(pfd: BorrowedFd<'_>, name: &OsStr, meta: &Meta, privileged: bool) -> io::Result<()> {
    if !privileged {
        return Ok(());
    }
    fchownat(
        pfd,
        name,
        Some(Uid::from_raw(meta.uid as u32)),
        Some(Gid::from_raw(meta.gid as u32)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(nix_io)
}

/// Sets the entry's xattrs on `name` (not followed if a symlink).
fn set_xattrs_at(pfd: BorrowedFd<'_>, name: &OsStr, meta: &Meta) -> io::Result<()> {
    for (k, v) in &meta.xattrs {
        xattr_result(set_xattr_at(pfd, name, k, v), k)?;
    }
    Ok(())
}

/// Filesystems without xattr support (or unprivileged callers) lose xattrs with a warning.
fn xattr_result(res: io::Result<()>, key: &CString) -> io::Result<()> {
    match res {
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTSUP | libc::EPERM)) => {
            tracing::warn!(xattr = %key.to_string_lossy(), error = %e, "cannot set xattr");
            Ok(())
        }
        other => other,
    }
}
