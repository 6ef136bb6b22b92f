//! Per-node writable rootfs: an overlay (lower = unpacked image, upper/work in the node dir),
//! or a full copy when overlay cannot be mounted. Mount syscalls sit behind [`Mounter`] so the
//! decision logic is unit-tested with a fake.
//!
//! Node dir layout: `rootfs/` (mount point), `overlay/upper`, `overlay/work`,
//! `overlay/state.json` (which image and which mode).

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::mount_root::is_mount_root;
use super::{Image, ImageError, NodeRootfs};
use bv_base::json_file;

/// Mount-related platform effects.
pub trait Mounter: Send + Sync {
    fn mount_overlay(
        &self,
        lower: &Path,
        upper: &Path,
        work: &Path,
        target: &Path,
    ) -> io::Result<()>;
    fn unmount(&self, target: &Path) -> io::Result<()>;
    /// Is something mounted exactly at `target`?
    fn is_mount_point(&self, target: &Path) -> bool;
    /// Copy a tree preserving everything (reflinks when the filesystem can).
    fn copy_tree(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Mount points of overlays whose lower dir is `lower`.
    fn overlays_on(&self, lower: &Path) -> Vec<PathBuf>;
    /// Every mount point at or below `dir`, deepest first.
    fn mounts_under(&self, dir: &Path) -> Vec<PathBuf>;
}

/// The real thing: overlayfs via mount(2), `cp -a --reflink=auto` for copies.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemMounter;

impl Mounter for SystemMounter {
    fn mount_overlay(
        &self,
        lower: &Path,
        upper: &Path,
        work: &Path,
        target: &Path,
    ) -> io::Result<()> {
        for p in [lower, upper, work] {
            let s = p.to_string_lossy();
            if s.contains(',') || s.contains(':') {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("overlay path `{s}` contains ',' or ':'"),
                ));
            }
        }
        let data = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.display(),
            upper.display(),
            work.display()
        );
        nix::mount::mount(
            Some("overlay"),
            target,
            Some("overlay"),
            nix::mount::MsFlags::empty(),
            Some(data.as_str()),
        )
        .map_err(|e| io::Error::from_raw_os_error(e as i32))
    }

    fn unmount(&self, target: &Path) -> io::Result<()> {
        match nix::mount::umount2(target, nix::mount::MntFlags::empty()) {
            Ok(()) => Ok(()),
            Err(nix::errno::Errno::EBUSY) => {
                tracing::warn!(target = %target.display(), "rootfs busy; detaching lazily");
                nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH)
                    .map_err(|e| io::Error::from_raw_os_error(e as i32))
            }
            Err(e) => Err(io::Error::from_raw_os_error(e as i32)),
        }
    }

    fn is_mount_point(&self, target: &Path) -> bool {
        match is_mount_root(target) {
            Ok(Some(root)) => root,
            // Kernels before 5.8 do not report the attribute: read the mount table.
            Ok(None) => in_mount_table(target),
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => in_mount_table(target),
            Err(_) => false,
        }
    }

    fn copy_tree(&self, from: &Path, to: &Path) -> io::Result<()> {
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg("--reflink=auto")
            .arg(format!("{}/.", from.display()))
            .arg(to)
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!("cp -a exited with {status}")))
        }
    }

    fn mounts_under(&self, dir: &Path) -> Vec<PathBuf> {
        let Ok(dir) = dir.canonicalize() else {
            return vec![];
        };
        let mut out: Vec<PathBuf> = mountinfo()
            .into_iter()
            .map(|m| PathBuf::from(m.mount_point))
            .filter(|p| p.starts_with(&dir))
            .collect();
        out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        out.dedup();
        out
    }

    fn overlays_on(&self, lower: &Path) -> Vec<PathBuf> {
        let needle = format!("lowerdir={}", lower.display());
        mountinfo()
            .into_iter()
            .filter(|m| {
                m.fstype == "overlay"
                    && m.super_options
                        .split(',')
                        .any(|o| o == needle || o.starts_with(&format!("{needle}:")))
            })
            .map(|m| PathBuf::from(m.mount_point))
            .collect()
    }
}

/// Is `target` listed as a mount point in this process's mount table?
fn in_mount_table(target: &Path) -> bool {
    let Ok(target) = target.canonicalize() else {
        return false;
    };
    mountinfo()
        .iter()
        .any(|m| Path::new(&m.mount_point) == target)
}

struct MountInfo {
    mount_point: String,
    fstype: String,
    super_options: String,
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = u32::from(b[i + 1] - b'0') * 64
                + u32::from(b[i + 2] - b'0') * 8
                + u32::from(b[i + 3] - b'0');
            out.push(u8::try_from(v).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn mountinfo() -> Vec<MountInfo> {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    parse_mountinfo(&text)
}

fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let mount_point = unescape(pre.split(' ').nth(4)?);
            let mut post = post.split(' ');
            let fstype = post.next()?.to_string();
            let _source = post.next()?;
            let super_options = unescape(post.next().unwrap_or(""));
            Some(MountInfo {
                mount_point,
                fstype,
                super_options,
            })
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Mode {
    Overlay,
    Copy,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct NodeState {
    digest: String,
    lower: PathBuf,
    mode: Mode,
}

pub(crate) struct NodePaths {
    pub(crate) rootfs: PathBuf,
    pub(crate) upper: PathBuf,
    pub(crate) work: PathBuf,
    pub(crate) state: PathBuf,
}

pub(crate) fn node_paths(node_dir: &Path) -> NodePaths {
    let overlay = node_dir.join("overlay");
    NodePaths {
        rootfs: node_dir.join("rootfs"),
        upper: overlay.join("upper"),
        work: overlay.join("work"),
        state: overlay.join("state.json"),
    }
}

fn mount_err(path: &Path, message: impl Into<String>) -> ImageError {
    ImageError::Mount {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn mkdirs(p: &Path) -> Result<(), ImageError> {
    std::fs::create_dir_all(p).map_err(|e| ImageError::io(p, e))
}

/// Mount (or copy) `image` as the node's writable rootfs. Idempotent for the same image.
pub(crate) fn mount_node(
    m: &dyn Mounter,
    image: &Image,
    node_dir: &Path,
    allow_overlay: bool,
) -> Result<NodeRootfs, ImageError> {
    let p = node_paths(node_dir);
    let state: Option<NodeState> = json_file::read_if_exists(&p.state)?;
    let done = |overlay| NodeRootfs {
        path: p.rootfs.clone(),
        overlay,
    };
    if m.is_mount_point(&p.rootfs) {
        return match &state {
            Some(s) if s.digest == image.digest && s.mode == Mode::Overlay => Ok(done(true)),
            Some(s) => Err(mount_err(
                &p.rootfs,
                format!("already mounted with image {}; unmount it first", s.digest),
            )),
            None => Err(mount_err(&p.rootfs, "something else is mounted here")),
        };
    }
    if let Some(s) = &state
        && s.mode == Mode::Copy
        && p.rootfs.is_dir()
    {
        return if s.digest == image.digest {
            Ok(done(false))
        } else {
            Err(mount_err(
                &p.rootfs,
                format!(
                    "rootfs is a copy of image {}; remove it before switching to {}",
                    s.digest, image.digest
                ),
            ))
        };
    }
    mkdirs(&p.rootfs)?;
    mkdirs(&p.upper)?;
    mkdirs(&p.work)?;
    if allow_overlay {
        match m.mount_overlay(&image.rootfs, &p.upper, &p.work, &p.rootfs) {
            Ok(()) => {
                let st = NodeState {
                    digest: image.digest.clone(),
                    lower: image.rootfs.clone(),
                    mode: Mode::Overlay,
                };
                if let Err(e) = json_file::write(&p.state, &st, None) {
                    let _ = m.unmount(&p.rootfs);
                    return Err(e.into());
                }
                return Ok(done(true));
            }
            Err(e) => {
                tracing::warn!(
                    rootfs = %p.rootfs.display(),
                    error = %e,
                    "overlay mount failed; falling back to a copy of the image"
                );
            }
        }
    }
    let not_empty = std::fs::read_dir(&p.rootfs)
        .map_err(|e| ImageError::io(&p.rootfs, e))?
        .next()
        .is_some();
    if not_empty {
        return Err(mount_err(
            &p.rootfs,
            "cannot copy the image: the rootfs directory is not empty",
        ));
    }
    m.copy_tree(&image.rootfs, &p.rootfs)
        .map_err(|e| mount_err(&p.rootfs, format!("copying the image failed: {e}")))?;
    json_file::write(
        &p.state,
        &NodeState {
            digest: image.digest.clone(),
            lower: image.rootfs.clone(),
            mode: Mode::Copy,
        },
        None,
    )?;
    Ok(done(false))
}

/// Unmount the node's overlay; copies and missing mounts are left as they are.
pub(crate) fn unmount_node(m: &dyn Mounter, node_dir: &Path) -> Result<(), ImageError> {
    let p = node_paths(node_dir);
    if m.is_mount_point(&p.rootfs) {
        m.unmount(&p.rootfs)
            .map_err(|e| mount_err(&p.rootfs, format!("unmount failed: {e}")))?;
    }
    Ok(())
}

pub(crate) fn is_mounted(m: &dyn Mounter, node_dir: &Path) -> bool {
    let p = node_paths(node_dir);
    if m.is_mount_point(&p.rootfs) {
        return true;
    }
    matches!(
        json_file::read_if_exists::<NodeState>(&p.state),
        Ok(Some(NodeState {
            mode: Mode::Copy,
            ..
        }))
    ) && p.rootfs.is_dir()
}

fn remove_tree(p: &Path) -> Result<(), ImageError> {
    match std::fs::remove_dir_all(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ImageError::io(p, e)),
    }
}

fn rename(from: &Path, to: &Path) -> Result<(), ImageError> {
    std::fs::rename(from, to).map_err(|e| ImageError::io(from, e))
}

/// Move the node's writable state aside before an upgrade: `overlay/` → `overlay.backup/`
/// and, for a copy-mode rootfs, `rootfs/` → `rootfs.backup/`. Replaces an older backup.
pub(crate) fn backup_node(m: &dyn Mounter, node_dir: &Path) -> Result<(), ImageError> {
    let p = node_paths(node_dir);
    if m.is_mount_point(&p.rootfs) {
        return Err(mount_err(
            &p.rootfs,
            "unmount the rootfs before backing it up",
        ));
    }
    let state: Option<NodeState> = json_file::read_if_exists(&p.state)?;
    let (overlay, rootfs) = (node_dir.join("overlay"), node_dir.join("rootfs"));
    let (overlay_bak, rootfs_bak) = backup_paths(node_dir);
    remove_tree(&overlay_bak)?;
    remove_tree(&rootfs_bak)?;
    if overlay.exists() {
        rename(&overlay, &overlay_bak)?;
    }
    if state.is_some_and(|s| s.mode == Mode::Copy) && rootfs.exists() {
        rename(&rootfs, &rootfs_bak)?;
    }
    Ok(())
}

/// Undo [`backup_node`]: drop the current writable state and put the backup back.
pub(crate) fn restore_node(m: &dyn Mounter, node_dir: &Path) -> Result<(), ImageError> {
    let p = node_paths(node_dir);
    if m.is_mount_point(&p.rootfs) {
        return Err(mount_err(
            &p.rootfs,
            "unmount the rootfs before restoring it",
        ));
    }
    let (overlay, rootfs) = (node_dir.join("overlay"), node_dir.join("rootfs"));
    let (overlay_bak, rootfs_bak) = backup_paths(node_dir);
    if !overlay_bak.exists() {
        return Err(mount_err(&overlay_bak, "no backup to restore"));
    }
    remove_tree(&overlay)?;
    rename(&overlay_bak, &overlay)?;
    if rootfs_bak.exists() {
        remove_tree(&rootfs)?;
        rename(&rootfs_bak, &rootfs)?;
    }
    Ok(())
}

/// Delete a backup made by [`backup_node`] (after a successful upgrade). Idempotent.
pub(crate) fn discard_backup(node_dir: &Path) -> Result<(), ImageError> {
    let (overlay_bak, rootfs_bak) = backup_paths(node_dir);
    remove_tree(&overlay_bak)?;
    remove_tree(&rootfs_bak)
}

fn backup_paths(node_dir: &Path) -> (PathBuf, PathBuf) {
    (
        node_dir.join("overlay.backup"),
        node_dir.join("rootfs.backup"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Mutex;

    #[derive(Default)]
    struct FakeMounter {
        mounted: Mutex<HashSet<PathBuf>>,
        fail_overlay: bool,
        copies: Mutex<u32>,
    }

    impl Mounter for FakeMounter {
        fn mount_overlay(&self, _: &Path, _: &Path, _: &Path, t: &Path) -> io::Result<()> {
            if self.fail_overlay {
                return Err(io::Error::from_raw_os_error(libc::EINVAL));
            }
            self.mounted.lock().unwrap().insert(t.to_path_buf());
            Ok(())
        }
        fn unmount(&self, t: &Path) -> io::Result<()> {
            self.mounted.lock().unwrap().remove(t);
            Ok(())
        }
        fn is_mount_point(&self, t: &Path) -> bool {
            self.mounted.lock().unwrap().contains(t)
        }
        fn copy_tree(&self, _: &Path, to: &Path) -> io::Result<()> {
            *self.copies.lock().unwrap() += 1;
            std::fs::write(to.join("copied"), b"")
        }
        fn mounts_under(&self, _: &Path) -> Vec<PathBuf> {
            vec![]
        }
        fn overlays_on(&self, _: &Path) -> Vec<PathBuf> {
            Vec::new()
        }
    }

    fn image(d: &str) -> Image {
        Image {
            uri: "oci:/x".into(),
            digest: d.into(),
            rootfs: PathBuf::from("/lower").join(d),
            config: Default::default(),
        }
    }

    #[test]
    fn overlay_mount_is_idempotent_and_guards_image_switches() {
        let dir = tempfile::tempdir().unwrap();
        let m = FakeMounter::default();
        let a = image("a");
        assert!(!is_mounted(&m, dir.path()));
        assert!(mount_node(&m, &a, dir.path(), true).unwrap().overlay);
        assert!(mount_node(&m, &a, dir.path(), true).unwrap().overlay);
        assert!(is_mounted(&m, dir.path()));
        let err = mount_node(&m, &image("b"), dir.path(), true).unwrap_err();
        assert!(
            err.to_string().contains("already mounted with image a"),
            "{err}"
        );
        unmount_node(&m, dir.path()).unwrap();
        unmount_node(&m, dir.path()).unwrap();
        assert!(!is_mounted(&m, dir.path()));
        // After unmount, another image can be mounted over the same upper.
        assert!(
            mount_node(&m, &image("b"), dir.path(), true)
                .unwrap()
                .overlay
        );
    }

    #[test]
    fn falls_back_to_copy_and_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let m = FakeMounter {
            fail_overlay: true,
            ..Default::default()
        };
        let a = image("a");
        let r = mount_node(&m, &a, dir.path(), true).unwrap();
        assert!(!r.overlay);
        assert!(r.path.join("copied").exists());
        assert!(is_mounted(&m, dir.path()));
        unmount_node(&m, dir.path()).unwrap();
        assert!(
            r.path.join("copied").exists(),
            "node changes survive unmount"
        );
        assert!(!mount_node(&m, &a, dir.path(), true).unwrap().overlay);
        assert_eq!(*m.copies.lock().unwrap(), 1);
        let err = mount_node(&m, &image("b"), dir.path(), true).unwrap_err();
        assert!(err.to_string().contains("is a copy of image a"), "{err}");
    }

    #[test]
    fn backup_and_restore_around_an_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let m = FakeMounter::default();
        mount_node(&m, &image("a"), dir.path(), true).unwrap();
        let upper = dir.path().join("overlay/upper");
        std::fs::write(upper.join("changed"), b"old").unwrap();
        assert!(
            backup_node(&m, dir.path()).is_err(),
            "refused while mounted"
        );
        unmount_node(&m, dir.path()).unwrap();
        backup_node(&m, dir.path()).unwrap();
        // Upgrade: new image, fresh upper.
        mount_node(&m, &image("b"), dir.path(), true).unwrap();
        assert!(!upper.join("changed").exists());
        std::fs::write(upper.join("new"), b"new").unwrap();
        unmount_node(&m, dir.path()).unwrap();
        // The upgrade failed: roll back.
        restore_node(&m, dir.path()).unwrap();
        assert!(upper.join("changed").exists());
        assert!(!upper.join("new").exists());
        mount_node(&m, &image("a"), dir.path(), true).unwrap();
        assert!(restore_node(&m, dir.path()).is_err());
        discard_backup(dir.path()).unwrap();
        // Copy mode moves the rootfs too.
        let dir = tempfile::tempdir().unwrap();
        let m = FakeMounter {
            fail_overlay: true,
            ..Default::default()
        };
        mount_node(&m, &image("a"), dir.path(), true).unwrap();
        backup_node(&m, dir.path()).unwrap();
        assert!(dir.path().join("rootfs.backup/copied").exists());
        assert!(!is_mounted(&m, dir.path()));
        mount_node(&m, &image("b"), dir.path(), true).unwrap();
        restore_node(&m, dir.path()).unwrap();
        assert!(mount_node(&m, &image("a"), dir.path(), true).is_ok());
        discard_backup(dir.path()).unwrap();
    }

    #[test]
    fn system_mount_check_agrees_with_the_mount_table() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        assert!(SystemMounter.is_mount_point(Path::new("/proc")));
        for p in [
            Path::new("/"),
            Path::new("/proc"),
            Path::new("/proc/self"),
            dir.path(),
            &missing,
        ] {
            assert_eq!(
                SystemMounter.is_mount_point(p),
                in_mount_table(p),
                "{}",
                p.display()
            );
        }
    }

    #[test]
    fn parses_mountinfo() {
        let text = "36 35 98:0 / /mnt/a\\040b rw,noatime master:1 - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w\n";
        let v = parse_mountinfo(text);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].mount_point, "/mnt/a b");
        assert_eq!(v[0].fstype, "overlay");
        assert!(v[0].super_options.contains("lowerdir=/l"));
    }
}
