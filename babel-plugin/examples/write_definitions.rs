//! Writes the babel plugin API definitions for editors to `rhai/babel.d.rhai` (or the path
//! given as the first argument).

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let path = std::env::args_os().nth(1).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(babel_plugin::DEFINITIONS_FILE),
        PathBuf::from,
    );
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&path, babel_plugin::definitions())?;
    println!("wrote {}", path.display());
    Ok(())
}
