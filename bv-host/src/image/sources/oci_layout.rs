//! `oci:/dir[:tag]`: OCI image layout directories, read in place (blobs are digest-verified
//! while they are unpacked). Nested indexes resolve to the current platform.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Plan, Resolved, sha256_digest};
use crate::image::ImageError;
use crate::image::unpack::LayerBlob;

const REF_NAME: &str = "org.opencontainers.image.ref.name";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    annotations: std::collections::HashMap<String, String>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct Platform {
    architecture: String,
    os: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

fn bad(uri: &str, reason: impl Into<String>) -> ImageError {
    ImageError::BadImage {
        uri: uri.to_string(),
        reason: reason.into(),
    }
}

fn blob_path(dir: &Path, digest: &str, uri: &str) -> Result<PathBuf, ImageError> {
    if !crate::image::uri::is_sha256_digest(digest) {
        return Err(bad(uri, format!("unsupported digest `{digest}`")));
    }
    Ok(dir.join("blobs/sha256").join(&digest["sha256:".len()..]))
}

fn read_blob(dir: &Path, digest: &str, uri: &str) -> Result<Vec<u8>, ImageError> {
    let path = blob_path(dir, digest, uri)?;
    let bytes = std::fs::read(&path).map_err(|e| ImageError::io(&path, e))?;
    if sha256_digest(&bytes) != digest {
        return Err(bad(uri, format!("blob {digest} does not match its digest")));
    }
    Ok(bytes)
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn is_index(media_type: &str) -> bool {
    media_type.contains("image.index") || media_type.contains("manifest.list")
}

pub(crate) fn resolve(dir: &Path, tag: Option<&str>, uri: &str) -> Result<Resolved, ImageError> {
    let index_path = dir.join("index.json");
    let bytes = match std::fs::read(&index_path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ImageError::NotFound {
                uri: uri.to_string(),
                reason: format!("`{}` does not exist", index_path.display()),
            });
        }
        Err(e) => return Err(ImageError::io(&index_path, e)),
    };
    let index: Index = serde_json::from_slice(&bytes)
        .map_err(|e| bad(uri, format!("invalid {}: {e}", index_path.display())))?;
    let chosen = match tag {
        Some(t) => index
            .manifests
            .iter()
            .find(|m| m.annotations.get(REF_NAME).map(String::as_str) == Some(t))
            .ok_or_else(|| ImageError::NotFound {
                uri: uri.to_string(),
                reason: format!("no manifest tagged `{t}` in {}", index_path.display()),
            })?,
        None => match index.manifests.as_slice() {
            [one] => one,
            [] => return Err(bad(uri, "the layout index lists no manifest")),
            many => {
                let tags: Vec<_> = many
                    .iter()
                    .filter_map(|m| m.annotations.get(REF_NAME).cloned())
                    .collect();
                return Err(bad(
                    uri,
                    format!("the layout holds several images; add a tag (one of {tags:?})"),
                ));
            }
        },
    };
    let mut digest = chosen.digest.clone();
    let mut media = chosen.media_type.clone();
    for _ in 0..4 {
        if !is_index(&media) {
            break;
        }
        let nested: Index = serde_json::from_slice(&read_blob(dir, &digest, uri)?)
            .map_err(|e| bad(uri, format!("invalid index {digest}: {e}")))?;
        let m = nested
            .manifests
            .iter()
            .find(|m| {
                m.platform
                    .as_ref()
                    .is_some_and(|p| p.os == "linux" && p.architecture == go_arch())
            })
            .ok_or_else(|| bad(uri, format!("no linux/{} manifest", go_arch())))?;
        digest = m.digest.clone();
        media = m.media_type.clone();
    }
    let manifest: Manifest = serde_json::from_slice(&read_blob(dir, &digest, uri)?)
        .map_err(|e| bad(uri, format!("invalid manifest {digest}: {e}")))?;
    let config = read_blob(dir, &manifest.config.digest, uri)?;
    let layers = manifest
        .layers
        .iter()
        .map(|l| {
            Ok(LayerBlob {
                name: l.digest.clone(),
                path: blob_path(dir, &l.digest, uri)?,
                offset: 0,
                len: None,
                verify: Some(l.digest.clone()),
            })
        })
        .collect::<Result<Vec<_>, ImageError>>()?;
    Ok(Resolved {
        digest: manifest.config.digest,
        config: Some(config),
        plan: Plan::Local { layers },
    })
}
