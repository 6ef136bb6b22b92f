//! Get an image's plugin directory (`/var/lib/babel/plugin`) without running a node.
//!
//! * `oci:<dir>[:<tag>]`: read the layout's layers directly (no daemon, no network).
//! * `docker://<ref>`: `skopeo copy` into a temporary OCI layout, then as above (no daemon).
//! * `docker-daemon://<ref>`: `docker create` + `docker cp` + `docker rm` (needs dockerd).

use std::fs::{self, File};
use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use eyre::{Context, Result, bail, eyre};
use serde::Deserialize;

use babel_api::node_env::PLUGIN_DIR_IN_ROOTFS;

/// A plugin directory in a temporary directory (removed on drop).
#[derive(Debug)]
pub struct ExtractedPlugin {
    tmp: tempfile::TempDir,
}

impl ExtractedPlugin {
    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }
}

pub fn extract(container_uri: &str) -> Result<ExtractedPlugin> {
    let tmp = tempfile::Builder::new().prefix("nib-plugin").tempdir()?;
    if let Some(reference) = container_uri.strip_prefix("docker-daemon://") {
        from_docker_daemon(reference, tmp.path())?;
    } else if let Some(reference) = container_uri.strip_prefix("docker://") {
        let layout = tempfile::Builder::new().prefix("nib-oci").tempdir()?;
        let dest = format!("oci:{}:image", layout.path().display());
        run(Command::new("skopeo").args([
            "copy",
            "--quiet",
            &format!("docker://{reference}"),
            &dest,
        ]))?;
        from_oci_layout(layout.path(), Some("image"), tmp.path())?;
    } else if let Some(rest) = container_uri.strip_prefix("oci:") {
        let (dir, tag) = split_oci(rest);
        from_oci_layout(Path::new(dir), tag, tmp.path())?;
    } else {
        bail!("unsupported container_uri '{container_uri}'");
    }
    if !tmp.path().join("main.rhai").is_file() {
        bail!("{container_uri}: the image has no /{PLUGIN_DIR_IN_ROOTFS}/main.rhai");
    }
    Ok(ExtractedPlugin { tmp })
}

fn split_oci(rest: &str) -> (&str, Option<&str>) {
    match rest.rsplit_once(':') {
        Some((dir, tag)) if !tag.contains('/') && !dir.is_empty() => (dir, Some(tag)),
        _ => (rest, None),
    }
}

fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .wrap_err_with(|| format!("cannot run {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{:?} failed: {}",
            cmd.get_program(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn from_docker_daemon(reference: &str, dest: &Path) -> Result<()> {
    // The command is never run; it lets images without CMD (FROM scratch) be created.
    let id = run(Command::new("docker").args(["create", "--pull=never", reference, "/nib-placeholder"]))
        .map_err(|e| {
            if e.to_string().contains("No such image") {
                eyre!(
                    "image {reference} is not in the local Docker daemon; build it with `nib image build`"
                )
            } else {
                e.wrap_err("docker-daemon:// images are read through the local Docker daemon")
            }
        })?;
    let copied = run(Command::new("docker").args([
        "cp",
        &format!("{id}:/{PLUGIN_DIR_IN_ROOTFS}/."),
        &dest.display().to_string(),
    ]));
    let removed = run(Command::new("docker").args(["rm", &id]));
    copied?;
    removed?;
    Ok(())
}

#[derive(Deserialize)]
struct Index {
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: Option<String>,
    digest: String,
    #[serde(default)]
    annotations: std::collections::HashMap<String, String>,
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

fn blob(layout: &Path, digest: &str) -> Result<PathBuf> {
    let (alg, hex) = digest
        .split_once(':')
        .ok_or_else(|| eyre!("bad digest {digest}"))?;
    Ok(layout.join("blobs").join(alg).join(hex))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = fs::read(path).wrap_err_with(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&text).wrap_err_with(|| format!("{} is not valid", path.display()))
}

/// Copy the plugin files of an OCI layout image into `dest`, applying layers in order.
pub fn from_oci_layout(layout: &Path, tag: Option<&str>, dest: &Path) -> Result<()> {
    let index: Index = read_json(&layout.join("index.json"))?;
    let desc = match tag {
        Some(tag) => index
            .manifests
            .iter()
            .find(|m| {
                m.annotations
                    .get("org.opencontainers.image.ref.name")
                    .map(String::as_str)
                    == Some(tag)
            })
            .ok_or_else(|| eyre!("{}: no image tagged '{tag}'", layout.display()))?,
        None => index
            .manifests
            .first()
            .ok_or_else(|| eyre!("{}: empty OCI layout", layout.display()))?,
    };
    let mut manifest: Manifest = read_json(&blob(layout, &desc.digest)?)?;
    if manifest.layers.is_empty()
        && let Some(first) = manifest.manifests.first()
    {
        manifest = read_json(&blob(layout, &first.digest)?)?;
    }
    for layer in &manifest.layers {
        let file = BufReader::new(File::open(blob(layout, &layer.digest)?)?);
        let media = layer.media_type.clone().unwrap_or_default();
        let reader: Box<dyn Read> = if media.ends_with("gzip") {
            Box::new(flate2::read::GzDecoder::new(file))
        } else if media.ends_with("zstd") {
            Box::new(zstd::Decoder::new(file)?)
        } else {
            Box::new(file)
        };
        apply_layer(reader, dest).wrap_err_with(|| format!("layer {}", layer.digest))?;
    }
    Ok(())
}

/// Extract entries under the plugin directory, honouring whiteouts.
fn apply_layer(reader: impl Read, dest: &Path) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let normal: PathBuf = path
            .components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .collect();
        let Ok(rel) = normal.strip_prefix(PLUGIN_DIR_IN_ROOTFS) else {
            // a whiteout of the plugin directory itself or a parent removes everything
            if let Some(name) = normal.file_name().and_then(|n| n.to_str())
                && let Some(target) = name.strip_prefix(".wh.")
                && Path::new(PLUGIN_DIR_IN_ROOTFS).starts_with(normal.with_file_name(target))
            {
                clear(dest)?;
            }
            continue;
        };
        let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name == ".wh..wh..opq" {
            clear(&dest.join(rel.parent().unwrap_or(Path::new(""))))?;
            continue;
        }
        if let Some(target) = name.strip_prefix(".wh.") {
            let victim = dest.join(rel.with_file_name(target));
            let _ = fs::remove_file(&victim).or_else(|_| fs::remove_dir_all(&victim));
            continue;
        }
        let out = dest.join(rel);
        if entry.header().entry_type().is_dir() {
            fs::create_dir_all(&out)?;
        } else if entry.header().entry_type().is_file() {
            if let Some(parent) = out.parent() {
                fs::create_dir_all(parent)?;
            }
            let mut data = Vec::new();
            entry.read_to_end(&mut data)?;
            fs::write(&out, data)?;
        }
    }
    Ok(())
}

fn clear(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        for e in fs::read_dir(dir)? {
            let p = e?.path();
            if p.is_dir() {
                fs::remove_dir_all(p)?;
            } else {
                fs::remove_file(p)?;
            }
        }
    }
    Ok(())
}
