//! Helpers for the end-to-end tests in `tests/tests/`: locating the built binaries and
//! starting daemons in temporary roots.

use std::path::PathBuf;

/// Directory holding the workspace's built binaries (`target/<profile>`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test-binary>
    exe.parent()
        .and_then(|deps| deps.parent())
        .map(PathBuf::from)
        .unwrap_or_default()
}
