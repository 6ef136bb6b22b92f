//! `docker-daemon://NAME:TAG`: images in the local Docker daemon, through bollard.
//!
//! The API version is negotiated (bollard defaults to a newer API than Docker 20.10 serves).
//! Resolution is `GET /images/{name}/json` (cheap, local). Fetching streams `docker save` to a
//! spool file, then layers are read in place from it by byte range (no second copy). Both the
//! legacy (`<id>/layer.tar`) and the OCI-layout (`blobs/sha256/..`) save formats are read
//! through `manifest.json`.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use bollard::Docker;
use futures::StreamExt;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::{Fetched, Plan, Resolved};
use crate::image::unpack::LayerBlob;
use crate::image::{ImageError, Phase, ProgressSink};

pub(crate) const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// Connect and negotiate the API version.
pub(crate) async fn connect(host: &str, uri: &str) -> Result<Docker, ImageError> {
    let err = |message: String| ImageError::Docker {
        uri: uri.to_string(),
        message,
    };
    let docker = if host.starts_with("unix://") || host.starts_with('/') {
        Docker::connect_with_unix(host, 300, bollard::API_DEFAULT_VERSION)
    } else {
        Docker::connect_with_http(host, 300, bollard::API_DEFAULT_VERSION)
    }
    .map_err(|e| err(format!("cannot connect to {host}: {e}")))?;
    docker
        .negotiate_version()
        .await
        .map_err(|e| err(format!("cannot negotiate the API version with {host}: {e}")))
}

pub(crate) async fn resolve(
    docker: &Docker,
    reference: &str,
    uri: &str,
) -> Result<Resolved, ImageError> {
    let info = docker.inspect_image(reference).await.map_err(|e| match e {
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            message,
        } => ImageError::NotFound {
            uri: uri.to_string(),
            reason: message,
        },
        e => ImageError::Docker {
            uri: uri.to_string(),
            message: e.to_string(),
        },
    })?;
    let digest = info
        .id
        .filter(|id| crate::image::uri::is_sha256_digest(id))
        .ok_or_else(|| ImageError::Docker {
            uri: uri.to_string(),
            message: "image inspect returned no sha256 image ID".into(),
        })?;
    Ok(Resolved {
        digest,
        config: None,
        plan: Plan::Docker {
            reference: reference.to_string(),
            size: info.size.and_then(|s| u64::try_from(s).ok()),
        },
    })
}

/// Stream `docker save` into `spool/save.tar` and locate config and layers in it.
pub(crate) async fn fetch(
    docker: &Docker,
    reference: &str,
    size: Option<u64>,
    uri: &str,
    spool: &Path,
    progress: &dyn ProgressSink,
) -> Result<Fetched, ImageError> {
    let path = spool.join("save.tar");
    let io_err = |e| ImageError::io(&path, e);
    let mut file = tokio::fs::File::create(&path).await.map_err(io_err)?;
    progress.begin(Phase::Pull, size);
    let mut stream = docker.export_image(reference);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ImageError::Docker {
            uri: uri.to_string(),
            message: format!("docker save failed: {e}"),
        })?;
        file.write_all(&chunk).await.map_err(io_err)?;
        progress.advance(chunk.len() as u64);
    }
    file.flush().await.map_err(io_err)?;
    drop(file);
    progress.finish();
    let (p, r, u) = (path.clone(), reference.to_string(), uri.to_string());
    tokio::task::spawn_blocking(move || read_save_tar(&p, &r, &u))
        .await
        .map_err(ImageError::Task)?
        .map(|(config, layers)| Fetched { config, layers })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SaveManifest {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

enum Member {
    File { offset: u64, size: u64 },
    Symlink(PathBuf),
}

/// Index a `docker save` tarball and return the config bytes and layer byte ranges.
pub(crate) fn read_save_tar(
    path: &Path,
    reference: &str,
    uri: &str,
) -> Result<(Vec<u8>, Vec<LayerBlob>), ImageError> {
    let bad = |reason: String| ImageError::BadImage {
        uri: uri.to_string(),
        reason: format!("docker save archive: {reason}"),
    };
    let io_err = |e| ImageError::io(path, e);
    let file = std::fs::File::open(path).map_err(io_err)?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    let mut members: HashMap<PathBuf, Member> = HashMap::new();
    let mut manifest_bytes = None;
    for entry in archive.entries().map_err(io_err)? {
        let mut entry = entry.map_err(io_err)?;
        let name = crate::image::unpack::clean(&entry.path().map_err(io_err)?);
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if name == Path::new("manifest.json") {
                    let mut buf = Vec::new();
                    entry.read_to_end(&mut buf).map_err(io_err)?;
                    manifest_bytes = Some(buf);
                } else {
                    members.insert(
                        name,
                        Member::File {
                            offset: entry.raw_file_position(),
                            size: entry.size(),
                        },
                    );
                }
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                if let Some(target) = entry.link_name().map_err(io_err)? {
                    let base = if entry.header().entry_type() == tar::EntryType::Symlink {
                        name.parent().unwrap_or(Path::new("")).join(target)
                    } else {
                        target.into_owned()
                    };
                    members.insert(name, Member::Symlink(crate::image::unpack::clean(&base)));
                }
            }
            _ => {}
        }
    }
    let manifest_bytes = manifest_bytes.ok_or_else(|| bad("no manifest.json".into()))?;
    let manifests: Vec<SaveManifest> = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| bad(format!("invalid manifest.json: {e}")))?;
    let manifest = manifests
        .iter()
        .find(|m| {
            m.repo_tags
                .as_ref()
                .is_some_and(|t| t.iter().any(|t| t == reference))
        })
        .or_else(|| manifests.first())
        .ok_or_else(|| bad("manifest.json lists no image".into()))?;
    let locate = |name: &str| -> Result<(u64, u64), ImageError> {
        let mut cur = crate::image::unpack::clean(Path::new(name));
        for _ in 0..8 {
            match members.get(&cur) {
                Some(Member::File { offset, size }) => return Ok((*offset, *size)),
                Some(Member::Symlink(t)) => cur = t.clone(),
                None => break,
            }
        }
        Err(bad(format!("member `{name}` missing")))
    };
    let (off, size) = locate(&manifest.config)?;
    let mut config = vec![0; usize::try_from(size).map_err(|_| bad("config too big".into()))?];
    {
        use std::io::{Seek, SeekFrom};
        let mut f = std::fs::File::open(path).map_err(io_err)?;
        f.seek(SeekFrom::Start(off)).map_err(io_err)?;
        f.read_exact(&mut config).map_err(io_err)?;
    }
    let layers = manifest
        .layers
        .iter()
        .map(|l| {
            let (offset, size) = locate(l)?;
            Ok(LayerBlob {
                name: l.clone(),
                path: path.to_path_buf(),
                offset,
                len: Some(size),
                verify: None,
            })
        })
        .collect::<Result<Vec<_>, ImageError>>()?;
    Ok((config, layers))
}
