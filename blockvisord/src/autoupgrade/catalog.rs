//! Where the engine learns about image versions. The control-plane API can implement
//! [`ImageCatalog`] later; without it, [`FileCatalog`] reads a TOML file that operators (or
//! an image pipeline) edit, re-read on every pass.

use std::path::PathBuf;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// Why a catalog could not say which images are available.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("image catalog: {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("image catalog: {}: {source}", path.display())]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    /// The control-plane API answered with this status.
    #[error("image catalog: API: {}", .0.message())]
    Api(tonic::Status),
}

/// One available image version of a protocol variant.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogImage {
    pub protocol: String,
    pub variant: String,
    /// Semantic version; compared with the node's image version.
    pub version: String,
    pub uri: String,
    /// When the version was published; the delay counts from here. Unset: from the moment
    /// this host first saw it.
    #[serde(default)]
    pub published_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub min_babel_version: String,
    /// The control plane's image id (API catalogs only).
    #[serde(default)]
    pub image_id: String,
}

#[async_trait]
pub trait ImageCatalog: Send + Sync + 'static {
    /// The newest version for a protocol/variant, if the catalog knows any.
    async fn latest(
        &self,
        protocol: &str,
        variant: &str,
    ) -> Result<Option<CatalogImage>, CatalogError>;
}

/// Newest by semantic version; entries whose version is not semver are skipped.
pub fn newest<'a>(
    images: impl IntoIterator<Item = &'a CatalogImage>,
    protocol: &str,
    variant: &str,
) -> Option<&'a CatalogImage> {
    images
        .into_iter()
        .filter(|i| i.protocol == protocol && i.variant == variant)
        .filter_map(|i| semver::Version::parse(&i.version).ok().map(|v| (v, i)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, i)| i)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    image: Vec<CatalogImage>,
}

/// `[[image]]` tables in a TOML file; a missing file is an empty catalog.
#[derive(Debug, Clone)]
pub struct FileCatalog {
    pub path: PathBuf,
}

impl FileCatalog {
    pub fn load(&self) -> Result<Vec<CatalogImage>, CatalogError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(source) => {
                return Err(CatalogError::Read {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let file: CatalogFile = toml::from_str(&text).map_err(|source| CatalogError::Parse {
            path: self.path.clone(),
            source,
        })?;
        Ok(file.image)
    }
}

#[async_trait]
impl ImageCatalog for FileCatalog {
    async fn latest(
        &self,
        protocol: &str,
        variant: &str,
    ) -> Result<Option<CatalogImage>, CatalogError> {
        let images = self.load()?;
        Ok(newest(&images, protocol, variant).cloned())
    }
}

/// The newest version over several catalogs (the file and the control-plane API); errors
/// count only when no catalog answers.
pub struct Layered(pub Vec<std::sync::Arc<dyn ImageCatalog>>);

impl std::fmt::Debug for Layered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layered")
            .field("catalogs", &self.0.len())
            .finish()
    }
}

#[async_trait]
impl ImageCatalog for Layered {
    async fn latest(
        &self,
        protocol: &str,
        variant: &str,
    ) -> Result<Option<CatalogImage>, CatalogError> {
        // One catalog failing (the API unreachable) does not hide the others' versions.
        let (mut found, mut errors) = (vec![], vec![]);
        for c in &self.0 {
            match c.latest(protocol, variant).await {
                Ok(Some(i)) => found.push(i),
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
        match (newest(&found, protocol, variant), errors.into_iter().next()) {
            (Some(i), _) => Ok(Some(i.clone())),
            (None, Some(e)) => Err(e),
            (None, None) => Ok(None),
        }
    }
}

/// The control-plane API's image catalog (`ImageService.GetImage`, latest build). Answers
/// nothing while the host is not registered.
pub struct ApiCatalog(pub std::sync::Arc<bv_host::apilink::Link>);

impl std::fmt::Debug for ApiCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiCatalog").finish_non_exhaustive()
    }
}

#[async_trait]
impl ImageCatalog for ApiCatalog {
    async fn latest(
        &self,
        protocol: &str,
        variant: &str,
    ) -> Result<Option<CatalogImage>, CatalogError> {
        let Some(client) = self.0.client() else {
            return Ok(None);
        };
        let key = babel_api::pb::api::v1::ProtocolVersionKey {
            protocol_key: protocol.into(),
            variant_key: variant.into(),
        };
        match client.get_image(key, None, None).await {
            Ok(image) => Ok(Some(CatalogImage {
                protocol: protocol.into(),
                variant: variant.into(),
                version: image.semantic_version,
                uri: image.image_uri,
                published_at: image
                    .created_at
                    .and_then(|t| DateTime::from_timestamp(t.seconds, 0)),
                min_babel_version: image.min_babel_version,
                image_id: image.image_id,
            })),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(CatalogError::Api(s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_catalog_picks_newest_semver() {
        let dir = tempfile::tempdir().unwrap();
        let cat = FileCatalog {
            path: dir.path().join("catalog.toml"),
        };
        assert_eq!(cat.latest("p", "v").await.unwrap(), None);
        std::fs::write(
            &cat.path,
            r#"
[[image]]
protocol = "p"
variant = "v"
version = "1.10.0"
uri = "docker://r/p:1.10.0"
published_at = "2026-11-01T00:00:00Z"

[[image]]
protocol = "p"
variant = "v"
version = "1.9.0"
uri = "docker://r/p:1.9.0"

[[image]]
protocol = "p"
variant = "other"
version = "9.0.0"
uri = "docker://r/p:9"

[[image]]
protocol = "p"
variant = "v"
version = "not-semver"
uri = "docker://r/p:x"
"#,
        )
        .unwrap();
        let latest = cat.latest("p", "v").await.unwrap().unwrap();
        assert_eq!(latest.version, "1.10.0");
        assert!(latest.published_at.is_some());
        std::fs::write(&cat.path, "[[image]]\nprotocol = 1\n").unwrap();
        let err = cat.latest("p", "v").await.unwrap_err().to_string();
        assert!(err.contains("catalog.toml"), "{err}");
    }

    #[tokio::test]
    async fn layered_takes_the_newest_of_all() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, version: &str| {
            let path = dir.path().join(name);
            std::fs::write(
                &path,
                format!(
                    "[[image]]\nprotocol = \"p\"\nvariant = \"v\"\nversion = \"{version}\"\nuri = \"u{version}\"\n"
                ),
            )
            .unwrap();
            std::sync::Arc::new(FileCatalog { path }) as std::sync::Arc<dyn ImageCatalog>
        };
        let layered = Layered(vec![write("a.toml", "1.2.0"), write("b.toml", "1.10.0")]);
        let latest = layered.latest("p", "v").await.unwrap().unwrap();
        assert_eq!(latest.uri, "u1.10.0");
        assert_eq!(layered.latest("p", "x").await.unwrap(), None);
        let unregistered = ApiCatalog(std::sync::Arc::new(bv_host::apilink::Link::default()));
        assert_eq!(unregistered.latest("p", "v").await.unwrap(), None);
    }
}
