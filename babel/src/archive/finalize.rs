//! The last pass of a download, after every chunk is written and recorded.

use std::collections::{HashMap, HashSet};
use std::fs::{self, OpenOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::sys::time::TimeSpec;

use super::ArchiveError;
use super::model::Chunk;
use super::unpack::safe_join;

/// Destinations (chunk index, destination index) whose files a writer of this run created
/// and finished.
pub type Fresh = HashSet<(u32, usize)>;

/// Final size, mode and modification time of `files` (relative path, size, mode).
fn finalize_files(
    root: &Path,
    files: &[(&str, u64, Option<u32>)],
    now: &TimeSpec,
) -> Result<(), ArchiveError> {
    for &(rel, size, mode) in files {
        let Some(path) = safe_join(root, rel) else {
            continue;
        };
        let meta = fs::metadata(&path).map_err(ArchiveError::file("finalize", &path))?;
        if meta.len() != size {
            OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_len(size))
                .map_err(ArchiveError::file("finalize", &path))?;
        }
        if let Some(mode) = mode
            && meta.permissions().mode() & 0o7777 != mode
        {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                .map_err(ArchiveError::file("finalize", &path))?;
        }
        nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            &path,
            now,
            now,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .map_err(|e| ArchiveError::file("finalize", &path)(e.into()))?;
    }
    Ok(())
}

/// After the last chunk: every file gets its final size (a longer leftover is cut), its mode
/// and the download's common modification time `now`; directories are created and get their
/// modes last. Files a writer of this run created and finished (`fresh`) that appear in no
/// other destination already have all of that (mode by fchmod, mtime by futimens before
/// close, size as written) and are not touched again.
pub fn finalize(
    root: &Path,
    chunks: &[Chunk],
    fresh: &Fresh,
    now: &TimeSpec,
) -> Result<(), ArchiveError> {
    struct Facts<'a> {
        size: u64,
        mode: Option<u32>,
        places: u32,
        fresh: bool,
        path: &'a str,
    }
    let mut files: HashMap<&str, Facts<'_>> = HashMap::new();
    let mut dirs: Vec<(&str, Option<u32>)> = Vec::new();
    for c in chunks {
        for (i, d) in c.destinations.iter().enumerate() {
            if d.is_dir() {
                dirs.push((&d.path, d.mode));
                continue;
            }
            let e = files.entry(&d.path).or_insert(Facts {
                size: 0,
                mode: d.mode,
                places: 0,
                fresh: false,
                path: &d.path,
            });
            e.size = e.size.max(d.pos + d.size);
            e.places += 1;
            e.fresh = fresh.contains(&(c.index, i)) && (d.size > 0 || d.pos == 0);
        }
    }
    // Syscall-bound (stat, utimensat per file): the files are split over the cores.
    let files: Vec<(&str, u64, Option<u32>)> = files
        .into_values()
        .filter(|f| {
            let done = f.places == 1 && f.fresh && f.mode.is_none_or(|m| m & 0o600 == 0o600);
            !done
        })
        .map(|f| (f.path, f.size, f.mode))
        .collect();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    let per_thread = files.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let parts: Vec<_> = files
            .chunks(per_thread)
            .map(|part| s.spawn(move || finalize_files(root, part, now)))
            .collect();
        parts.into_iter().try_for_each(|p| {
            p.join()
                .unwrap_or_else(|_| Err(ArchiveError::ThreadPanicked("finalize")))
        })
    })?;
    // Deepest first, so a read-only parent is set after its children.
    dirs.sort_by(|a, b| b.0.cmp(a.0));
    for (rel, mode) in dirs {
        let Some(path) = safe_join(root, rel) else {
            continue;
        };
        fs::create_dir_all(&path).map_err(ArchiveError::file("finalize", &path))?;
        if let Some(mode) = mode {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                .map_err(ArchiveError::file("finalize", &path))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::model::{Checksum, FileLocation};

    fn loc(path: &str, pos: u64, size: u64) -> FileLocation {
        FileLocation::range(path, pos, size, Some(0o640))
    }

    fn chunk_for(index: u32, dests: Vec<FileLocation>) -> Chunk {
        Chunk {
            index,
            key: "k".into(),
            url: None,
            checksum: Checksum::blake3_of(b""),
            size: 0,
            destinations: dests,
        }
    }

    fn now() -> TimeSpec {
        TimeSpec::new(1_700_000_000, 0)
    }

    #[test]
    fn finalize_sets_sizes_modes_and_one_mtime() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::write(root.join("f"), b"0123456789").unwrap();
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::write(root.join("sub/g"), b"x").unwrap();
        let c = chunk_for(
            0,
            vec![
                loc("f", 0, 4),
                loc("sub/g", 0, 1),
                loc("sub/", 0, 0),
                loc("empty/", 0, 0),
            ],
        );
        finalize(root, &[c], &Fresh::new(), &now()).unwrap();
        assert_eq!(fs::read(root.join("f")).unwrap(), b"0123");
        let m = |p: &str| fs::metadata(root.join(p)).unwrap();
        assert_eq!(m("f").permissions().mode() & 0o7777, 0o640);
        assert_eq!(m("sub").permissions().mode() & 0o7777, 0o640);
        assert!(m("empty").is_dir());
        assert_eq!(m("f").modified().unwrap(), m("sub/g").modified().unwrap());
    }

    #[test]
    fn fresh_single_place_files_are_left_alone_others_are_finished() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        for f in ["fresh", "split", "stale"] {
            fs::write(root.join(f), b"0123456789").unwrap();
        }
        let a = chunk_for(
            0,
            vec![loc("fresh", 0, 4), loc("split", 0, 2), loc("stale", 0, 3)],
        );
        let b = chunk_for(1, vec![loc("split", 2, 2)]);
        // "split" was created fresh by chunk 0 but also appears in chunk 1.
        let fresh: Fresh = [(0, 0), (0, 1)].into_iter().collect();
        finalize(root, &[a, b], &fresh, &now()).unwrap();
        let len = |p: &str| fs::metadata(root.join(p)).unwrap().len();
        assert_eq!(len("fresh"), 10, "a fresh file is trusted as written");
        assert_eq!(len("split"), 4);
        assert_eq!(len("stale"), 3);
        let mtime = |p: &str| fs::metadata(root.join(p)).unwrap().modified().unwrap();
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(mtime("split"), t);
        assert_eq!(mtime("stale"), t);
        assert_ne!(mtime("fresh"), t);
    }
}
