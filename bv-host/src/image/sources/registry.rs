//! `docker://REF`: registry pulls with oci-client (anonymous or basic auth per host; plain HTTP
//! only for hosts listed in `registry_insecure`). Multi-platform indexes resolve to the current platform. Blobs are
//! digest-verified by oci-client while they are written to the spool directory.

use std::path::Path;
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll};

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use tokio::io::AsyncWrite;

use super::{Fetched, Plan, Resolved, sha256_digest};
use crate::image::unpack::LayerBlob;
use crate::image::{ImageError, Phase, ProgressSink};

pub(crate) fn client(insecure: &[String]) -> Client {
    Client::new(ClientConfig {
        protocol: ClientProtocol::HttpsExcept(insecure.to_vec()),
        ..Default::default()
    })
}

fn reg_err(uri: &str, e: impl std::fmt::Display) -> ImageError {
    ImageError::Registry {
        uri: uri.to_string(),
        message: e.to_string(),
    }
}

/// Fetch the manifest and config: the config digest is the image digest.
pub(crate) async fn resolve(
    client: &Client,
    reference: &str,
    auth: &RegistryAuth,
    uri: &str,
) -> Result<Resolved, ImageError> {
    let reference = Reference::from_str(reference).map_err(|e| ImageError::InvalidUri {
        uri: uri.to_string(),
        reason: e.to_string(),
    })?;
    let (manifest, _digest, config) = client
        .pull_manifest_and_config(&reference, auth)
        .await
        .map_err(|e| {
            let text = e.to_string();
            if text.contains("MANIFEST_UNKNOWN")
                || text.contains("NAME_UNKNOWN")
                || text.contains("not found")
            {
                ImageError::NotFound {
                    uri: uri.to_string(),
                    reason: text,
                }
            } else {
                reg_err(uri, text)
            }
        })?;
    let config = config.into_bytes();
    let digest = manifest.config.digest.clone();
    if sha256_digest(&config) != digest {
        return Err(ImageError::BadImage {
            uri: uri.to_string(),
            reason: format!("config blob does not match its digest {digest}"),
        });
    }
    Ok(Resolved {
        digest,
        config: Some(config),
        plan: Plan::Registry {
            reference,
            layers: manifest.layers,
        },
    })
}

/// Download every layer blob into `spool`.
pub(crate) async fn fetch(
    client: &Client,
    reference: &Reference,
    layers: &[oci_client::manifest::OciDescriptor],
    config: Vec<u8>,
    uri: &str,
    spool: &Path,
    progress: &dyn ProgressSink,
) -> Result<Fetched, ImageError> {
    let total = layers
        .iter()
        .map(|l| u64::try_from(l.size).unwrap_or(0))
        .sum();
    progress.begin(Phase::Pull, Some(total));
    let mut blobs = Vec::with_capacity(layers.len());
    for (i, layer) in layers.iter().enumerate() {
        if !crate::image::uri::is_sha256_digest(&layer.digest) {
            return Err(ImageError::BadImage {
                uri: uri.to_string(),
                reason: format!("unsupported layer digest `{}`", layer.digest),
            });
        }
        let path = spool.join(format!("layer-{i}"));
        let file = tokio::fs::File::create(&path)
            .await
            .map_err(|e| ImageError::io(&path, e))?;
        let mut out = Counting {
            inner: file,
            progress,
        };
        client
            .pull_blob(reference, layer, &mut out)
            .await
            .map_err(|e| reg_err(uri, format!("layer {}: {e}", layer.digest)))?;
        blobs.push(LayerBlob {
            name: layer.digest.clone(),
            path,
            offset: 0,
            len: None,
            verify: None, // verified by pull_blob
        });
    }
    progress.finish();
    Ok(Fetched {
        config,
        layers: blobs,
    })
}

/// Reports bytes written as pull progress.
struct Counting<'a, W> {
    inner: W,
    progress: &'a dyn ProgressSink,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Counting<'_, W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = res {
            self.progress.advance(n as u64);
        }
        res
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
