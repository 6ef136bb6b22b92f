//! Cutting the source tree into chunks.
//!
//! Files are listed recursively (exclude globs match the path relative to the source; `*`
//! also matches `/`; a matching directory is skipped as an entry but still traversed), sorted
//! by path, and their bytes are laid end to end over `slots` chunks of `total / slots` bytes
//! (the last one takes the remainder); a file may span chunks, a chunk may hold many files.
//! Directories become zero-size entries ending in `/` in the first chunk so empty
//! directories and directory modes survive. Symbolic links and special files are skipped.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use tracing::warn;

use super::model::{Checksum, Chunk, FileLocation};
use super::{ArchiveError, ConfigError};

/// Default uncompressed bytes per chunk when the job sets no `number_of_chunks`.
pub const DEFAULT_CHUNK_BYTES: u64 = 500_000_000;
/// Mid-size data is cut into at least this many chunks (of at least [`MIN_CHUNK_BYTES`]):
/// a chunk is decoded by one thread, so an archive of one or two chunks would leave cores
/// idle on download, and a resume would redo more.
pub const MIN_PARALLEL_CHUNKS: u64 = 4;
/// Smallest chunk the default planning makes for the sake of parallelism.
pub const MIN_CHUNK_BYTES: u64 = 64 * 1024 * 1024;

/// One entry of the source tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEntry {
    /// Path relative to the source directory (`/`-separated; directories end in `/`).
    pub path: String,
    pub size: u64,
    pub mode: u32,
}

impl SourceEntry {
    fn is_dir(&self) -> bool {
        self.path.ends_with('/')
    }
}

/// Compiles exclude patterns; an invalid one names itself.
pub fn compile_excludes(patterns: &[String]) -> Result<GlobSet, ArchiveError> {
    let mut set = GlobSetBuilder::new();
    for p in patterns {
        let glob = GlobBuilder::new(p)
            .literal_separator(false)
            .build()
            .map_err(|source| ConfigError::ExcludePattern {
                pattern: p.clone(),
                source,
            })?;
        set.add(glob);
    }
    Ok(set.build().map_err(ConfigError::ExcludePatterns)?)
}

/// Lists `source` recursively, sorted by path, without excluded entries.
pub fn scan(source: &Path, exclude: &GlobSet) -> Result<Vec<SourceEntry>, ArchiveError> {
    if !source.is_dir() {
        return Err(ConfigError::NotADirectory(source.to_path_buf()).into());
    }
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(source).min_depth(1) {
        let entry = entry.map_err(|e| {
            let path = e
                .path()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            ArchiveError::List {
                path,
                source: e
                    .into_io_error()
                    .unwrap_or_else(|| std::io::Error::other("filesystem loop")),
            }
        })?;
        let rel = entry
            .path()
            .strip_prefix(source)
            .map_err(|_| ArchiveError::OutsideSource)?;
        let Some(rel) = rel.to_str() else {
            warn!("skipping non-UTF-8 path {}", entry.path().display());
            continue;
        };
        if exclude.is_match(rel) {
            continue;
        }
        let ft = entry.file_type();
        if !ft.is_dir() && !ft.is_file() {
            warn!(
                "skipping {} (not a regular file or directory)",
                entry.path().display()
            );
            continue;
        }
        let meta = entry.metadata().map_err(|source| ArchiveError::Stat {
            path: rel.to_string(),
            source,
        })?;
        let mode = meta.permissions().mode() & 0o7777;
        out.push(if ft.is_dir() {
            SourceEntry {
                path: format!("{rel}/"),
                size: 0,
                mode,
            }
        } else {
            SourceEntry {
                path: rel.to_string(),
                size: meta.len(),
                mode,
            }
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Number of chunks to plan: the job's `number_of_chunks`, else one per ~500 MB.
pub fn slot_count(total_size: u64, number_of_chunks: Option<u32>) -> Result<u32, ArchiveError> {
    match number_of_chunks {
        Some(0) => Err(ConfigError::NoChunks.into()),
        Some(n) => Ok(n),
        None => {
            let by_size = 1 + total_size / DEFAULT_CHUNK_BYTES;
            let parallel = (total_size / MIN_CHUNK_BYTES).min(MIN_PARALLEL_CHUNKS);
            Ok(u32::try_from(by_size.max(parallel)).unwrap_or(u32::MAX))
        }
    }
}

/// Lays the entries over at most `slots` chunks (fewer when the data runs out).
pub fn plan_chunks(entries: &[SourceEntry], slots: u32) -> Vec<Chunk> {
    let slots = slots.max(1);
    let total: u64 = entries.iter().map(|e| e.size).sum();
    let chunk_size = (total / u64::from(slots)).max(1);
    let mut chunks: Vec<Vec<FileLocation>> = vec![Vec::new()];
    let mut used = 0u64;
    // Directories first (parents before children), all in the first chunk.
    for e in entries.iter().filter(|e| e.is_dir()) {
        chunks[0].push(FileLocation {
            path: e.path.clone(),
            pos: 0,
            size: 0,
            mode: Some(e.mode),
        });
    }
    for e in entries.iter().filter(|e| !e.is_dir()) {
        let mut pos = 0;
        loop {
            let last = chunks.len() as u64 == u64::from(slots);
            let room = if last { u64::MAX } else { chunk_size - used };
            if room == 0 && pos < e.size {
                chunks.push(Vec::new());
                used = 0;
                continue;
            }
            let take = (e.size - pos).min(room);
            if let Some(cur) = chunks.last_mut() {
                cur.push(FileLocation {
                    path: e.path.clone(),
                    pos,
                    size: take,
                    mode: Some(e.mode),
                });
            }
            used += take;
            pos += take;
            if pos >= e.size {
                break;
            }
        }
    }
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, destinations)| Chunk {
            index: u32::try_from(i).unwrap_or(u32::MAX),
            key: String::new(),
            url: None,
            checksum: Checksum::placeholder(),
            size: 0,
            destinations,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, size: u64) -> SourceEntry {
        SourceEntry {
            path: path.into(),
            size,
            mode: 0o644,
        }
    }

    fn ranges(c: &Chunk) -> Vec<(String, u64, u64)> {
        c.destinations
            .iter()
            .map(|d| (d.path.clone(), d.pos, d.size))
            .collect()
    }

    #[test]
    fn files_are_split_over_slots_and_last_takes_remainder() {
        let entries = [file("a", 5), file("b", 0), file("c", 12)];
        let chunks = plan_chunks(&entries, 3);
        assert_eq!(chunks.len(), 3);
        assert_eq!(ranges(&chunks[0]), [("a".into(), 0, 5), ("b".into(), 0, 0)]);
        assert_eq!(ranges(&chunks[1]), [("c".into(), 0, 5)]);
        assert_eq!(ranges(&chunks[2]), [("c".into(), 5, 7)]);
        assert_eq!(chunks.iter().map(Chunk::data_size).sum::<u64>(), 17);
        assert!(
            chunks
                .iter()
                .enumerate()
                .all(|(i, c)| c.index as usize == i)
        );
    }

    #[test]
    fn fewer_chunks_when_data_runs_out_and_tiny_totals_work() {
        let chunks = plan_chunks(&[file("a", 2)], 10);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks.iter().map(Chunk::data_size).sum::<u64>(), 2);
        let empty = plan_chunks(&[file("e", 0), file("d/", 0)], 4);
        assert_eq!(empty.len(), 1);
        assert_eq!(empty[0].destinations.len(), 2);
        assert_eq!(empty[0].destinations[0].path, "d/");
    }

    #[test]
    fn concatenated_ranges_cover_every_file_exactly() {
        let entries: Vec<_> = (0..50)
            .map(|i| file(&format!("f{i:02}"), i * 37 % 101))
            .collect();
        for slots in [1, 2, 3, 7, 64] {
            let chunks = plan_chunks(&entries, slots);
            assert!(chunks.len() <= slots as usize);
            for e in &entries {
                let mut next = 0;
                for d in chunks.iter().flat_map(|c| &c.destinations) {
                    if d.path == e.path {
                        assert_eq!(d.pos, next);
                        next += d.size;
                    }
                }
                assert_eq!(next, e.size, "{} with {slots} slots", e.path);
            }
        }
    }

    #[test]
    fn slot_count_defaults_and_zero() {
        assert_eq!(slot_count(0, None).unwrap(), 1);
        assert_eq!(slot_count(MIN_CHUNK_BYTES - 1, None).unwrap(), 1);
        assert_eq!(slot_count(2 * MIN_CHUNK_BYTES, None).unwrap(), 2);
        assert_eq!(slot_count(300_000_000, None).unwrap(), 4);
        assert_eq!(slot_count(1_200_000_000, None).unwrap(), 4);
        assert_eq!(slot_count(2_600_000_000, None).unwrap(), 6);
        assert_eq!(slot_count(10, Some(4)).unwrap(), 4);
        let err = slot_count(10, Some(0)).unwrap_err().to_string();
        assert!(err.contains("need at least one"), "{err}");
    }

    #[test]
    fn scan_excludes_and_keeps_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("a/empty")).unwrap();
        std::fs::create_dir_all(root.join("logs/deep")).unwrap();
        std::fs::write(root.join("a/x.dat"), b"12345").unwrap();
        std::fs::write(root.join("logs/deep/l.log"), b"zz").unwrap();
        std::fs::write(root.join("top.log"), b"zz").unwrap();
        std::os::unix::fs::symlink("a/x.dat", root.join("link")).unwrap();
        let ex = compile_excludes(&["*.log".into(), "logs".into()]).unwrap();
        let paths: Vec<_> = scan(root, &ex)
            .unwrap()
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(paths, ["a/", "a/empty/", "a/x.dat", "logs/deep/"]);
        let err = compile_excludes(&["a[".into()]).unwrap_err().to_string();
        assert!(err.contains("'a['"), "{err}");
        assert!(scan(&root.join("nope"), &ex).is_err());
    }
}
