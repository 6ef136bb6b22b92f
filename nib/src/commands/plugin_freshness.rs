//! Is the image up to date with the local plugin? `check` and `play` lint the local
//! `main.rhai` but the node runs the copy inside the image, so the `*.rhai` files next to
//! babel.yaml are compared (SHA-256) with the image's plugin directory.

use std::collections::BTreeMap;
use std::path::Path;

use eyre::{Context, Result};
use sha2::{Digest, Sha256};

/// SHA-256 (hex) of every `*.rhai` file directly in `dir`, by file name (editor
/// definitions, `*.d.rhai`, are not plugin code).
pub fn rhai_hashes(dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for entry in
        std::fs::read_dir(dir).wrap_err_with(|| format!("cannot list {}", dir.display()))?
    {
        let path = entry?.path();
        let definitions = path.to_string_lossy().ends_with(".d.rhai");
        if path.is_file() && path.extension().is_some_and(|e| e == "rhai") && !definitions {
            let data =
                std::fs::read(&path).wrap_err_with(|| format!("cannot read {}", path.display()))?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.insert(name, hex::encode(Sha256::digest(&data)));
        }
    }
    Ok(out)
}

/// One line per file that differs between the local plugin and the image's.
pub fn differences(
    local: &BTreeMap<String, String>,
    image: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (name, hash) in local {
        match image.get(name) {
            None => out.push(format!("{name}: not in the image")),
            Some(h) if h != hash => out.push(format!(
                "{name}: local sha256 {} != image sha256 {}",
                &hash[..12],
                &h[..12.min(h.len())]
            )),
            Some(_) => {}
        }
    }
    for name in image.keys().filter(|n| !local.contains_key(*n)) {
        out.push(format!("{name}: only in the image"));
    }
    out
}

/// Compare `local_dir` with the plugin of `container_uri`; `Ok(vec![])` when they match.
pub fn compare(local_dir: &Path, container_uri: &str) -> Result<Vec<String>> {
    let local = rhai_hashes(local_dir)?;
    let extracted = super::plugin_source::extract(container_uri)?;
    let image = rhai_hashes(extracted.dir())?;
    Ok(differences(&local, &image))
}

/// The warning printed when they differ.
pub fn stale_message(container_uri: &str, diffs: &[String]) -> String {
    format!(
        "the image {container_uri} is stale: its plugin differs from the local one, and the \
         node runs the image's copy.\n  {}\nRebuild it with `nib image build` (or pass --build).",
        diffs.join("\n  ")
    )
}

/// Before a node is made from `container_uri`: warn when the image's plugin differs from the
/// one next to `babel_yaml`, and fail with the next step when a local image is missing.
/// Returns whether the image is known to be stale.
pub fn warn_if_stale(babel_yaml: &Path, container_uri: &str) -> Result<bool> {
    let dir = crate::image_dir::image_dir(babel_yaml);
    if !container_uri.starts_with("docker-daemon://") || !dir.join("main.rhai").is_file() {
        return Ok(false);
    }
    match compare(&dir, container_uri) {
        Ok(diffs) if diffs.is_empty() => Ok(false),
        Ok(diffs) => {
            eprintln!("warning: {}", stale_message(container_uri, &diffs));
            Ok(true)
        }
        Err(e) if e.to_string().contains("nib image build") => Err(e),
        Err(e) => {
            eprintln!("warning: cannot compare the local plugin with {container_uri}: {e:#}");
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edited_added_and_removed_files_are_reported() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::write(a.path().join("main.rhai"), "fn a() {}").unwrap();
        std::fs::write(b.path().join("main.rhai"), "fn a() {}").unwrap();
        std::fs::write(a.path().join("babel.yaml"), "x").unwrap();
        let (la, lb) = (
            rhai_hashes(a.path()).unwrap(),
            rhai_hashes(b.path()).unwrap(),
        );
        assert!(differences(&la, &lb).is_empty());
        std::fs::write(a.path().join("main.rhai"), "fn a() {} fn newfn() {}").unwrap();
        std::fs::write(a.path().join("lib.rhai"), "").unwrap();
        std::fs::write(b.path().join("old.rhai"), "").unwrap();
        let lb = rhai_hashes(b.path()).unwrap();
        let d = differences(&rhai_hashes(a.path()).unwrap(), &lb);
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(d[0].starts_with("lib.rhai: not in the image"), "{d:?}");
        assert!(d[1].starts_with("main.rhai: local sha256"), "{d:?}");
        assert_eq!(d[2], "old.rhai: only in the image");
    }
}
