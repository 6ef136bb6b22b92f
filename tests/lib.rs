//! Helpers for the end-to-end tests in `tests/tests/`: locating the built binaries and
//! starting daemons in temporary roots.

use std::path::PathBuf;

/// Directory holding the workspace's built binaries: `$E2E_BIN_DIR`, else `target/<profile>`
/// of the running test or bench.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("E2E_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test-binary>
    exe.parent()
        .and_then(|deps| deps.parent())
        .map(PathBuf::from)
        .unwrap_or_default()
}
