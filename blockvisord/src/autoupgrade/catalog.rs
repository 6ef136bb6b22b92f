//! Where the engine learns about image versions. The control-plane API can implement
//! [`ImageCatalog`] later; without it, [`FileCatalog`] reads a TOML file that operators (or
//! an image pipeline) edit, re-read on every pass.

use std::path::PathBuf;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
#[error("image catalog: {0}")]
pub struct CatalogError(pub String);

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
            Err(e) => return Err(CatalogError(format!("{}: {e}", self.path.display()))),
        };
        let file: CatalogFile = toml::from_str(&text)
            .map_err(|e| CatalogError(format!("{}: {e}", self.path.display())))?;
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
}
