//! Disk space a node's data dir allocates (like `du`: allocated blocks, each inode once).

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Bytes allocated under `dir` (0 when it does not exist). Blocking: walks the tree.
pub fn allocated_bytes(dir: &Path) -> u64 {
    let mut seen = HashSet::new();
    walkdir::WalkDir::new(dir)
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.nlink() <= 1 || seen.insert((m.dev(), m.ino())))
        .map(|m| m.blocks() * 512)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_allocated_blocks_once_per_inode() {
        let dir = tempfile::tempdir().unwrap();
        let empty = allocated_bytes(dir.path());
        std::fs::write(dir.path().join("a"), vec![1u8; 64 * 1024]).unwrap();
        std::fs::hard_link(dir.path().join("a"), dir.path().join("b")).unwrap();
        let used = allocated_bytes(dir.path()) - empty;
        assert!((64 * 1024..128 * 1024).contains(&used), "{used}");
        assert_eq!(allocated_bytes(&dir.path().join("missing")), 0);
    }
}
