//! Where an image's files are: the directory of its babel.yaml.

use std::path::{Path, PathBuf};

/// The directory babel.yaml is in (`.` for a bare file name).
pub fn image_dir(babel_yaml: &Path) -> PathBuf {
    match babel_yaml.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
