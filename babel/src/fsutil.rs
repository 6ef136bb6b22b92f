//! Small file helpers.

use std::fs;
use std::io;
use std::path::Path;

/// Removes a file, treating "not found" as success.
pub fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
