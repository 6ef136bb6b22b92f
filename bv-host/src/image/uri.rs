//! Image URI parsing: `docker-daemon://NAME[:TAG]`, `docker://REF`, `oci:/layout/dir[:TAG]`.

use std::path::PathBuf;
use std::str::FromStr;

use super::ImageError;

/// A parsed image URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageUri {
    /// An image in the local Docker daemon, `NAME:TAG` or `NAME@sha256:..`.
    DockerDaemon { reference: String },
    /// An image in a registry (`docker://registry/repo:tag`, Docker Hub by default).
    Registry { reference: String },
    /// An OCI image layout directory, optionally with a tag (`org.opencontainers.image.ref.name`).
    OciLayout { dir: PathBuf, tag: Option<String> },
}

impl ImageUri {
    /// Parse an image URI; the error names the URI and what is wrong with it.
    pub fn parse(uri: &str) -> Result<Self, ImageError> {
        let bad = |reason: &str| ImageError::InvalidUri {
            uri: uri.to_string(),
            reason: reason.to_string(),
        };
        if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("contains whitespace or control characters"));
        }
        if let Some(rest) = uri.strip_prefix("docker-daemon://") {
            let reference = normalize_daemon_ref(rest).map_err(|r| bad(&r))?;
            Ok(ImageUri::DockerDaemon { reference })
        } else if let Some(rest) = uri.strip_prefix("docker://") {
            if rest.is_empty() {
                return Err(bad("missing image reference after `docker://`"));
            }
            let reference = oci_client::Reference::from_str(rest)
                .map_err(|e| bad(&format!("bad registry reference: {e}")))?;
            Ok(ImageUri::Registry {
                reference: reference.whole(),
            })
        } else if let Some(rest) = uri.strip_prefix("oci:") {
            let (dir, tag) = split_layout(rest);
            if dir.is_empty() {
                return Err(bad("missing layout directory after `oci:`"));
            }
            if !dir.starts_with('/') {
                return Err(bad("the layout directory must be an absolute path"));
            }
            if tag.is_some_and(|t| t.is_empty()) {
                return Err(bad("empty tag after `:`"));
            }
            Ok(ImageUri::OciLayout {
                dir: PathBuf::from(dir),
                tag: tag.map(str::to_string),
            })
        } else {
            Err(bad(
                "unknown transport; use docker-daemon://NAME:TAG, docker://REF or oci:/DIR[:TAG]",
            ))
        }
    }

    /// Canonical text form, used as the cache key for tag → digest mappings.
    pub fn canonical(&self) -> String {
        match self {
            ImageUri::DockerDaemon { reference } => format!("docker-daemon://{reference}"),
            ImageUri::Registry { reference } => format!("docker://{reference}"),
            ImageUri::OciLayout { dir, tag } => match tag {
                Some(t) => format!("oci:{}:{t}", dir.display()),
                None => format!("oci:{}", dir.display()),
            },
        }
    }

    /// True when the reference pins a digest, so its mapping never goes stale.
    pub fn is_pinned(&self) -> bool {
        match self {
            ImageUri::DockerDaemon { reference } | ImageUri::Registry { reference } => {
                reference.contains("@sha256:")
            }
            ImageUri::OciLayout { .. } => false,
        }
    }
}

fn normalize_daemon_ref(rest: &str) -> Result<String, String> {
    if rest.is_empty() {
        return Err("missing image name after `docker-daemon://`".into());
    }
    if rest.starts_with('/') || rest.ends_with('/') || rest.contains("//") {
        return Err("malformed image name".into());
    }
    if rest.contains('@') {
        let (name, digest) = rest.split_once('@').unwrap_or((rest, ""));
        if name.is_empty() || !is_sha256_digest(digest) {
            return Err("expected NAME@sha256:<64 hex digits>".into());
        }
        return Ok(rest.to_string());
    }
    // A tag is the part after the last ':' if it has no '/' (a ':' before a '/' is a port).
    match rest.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => {
            if name.is_empty() || tag.is_empty() {
                return Err("expected NAME:TAG".into());
            }
            if !tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
            {
                return Err(format!("invalid tag `{tag}`"));
            }
            Ok(rest.to_string())
        }
        _ => Ok(format!("{rest}:latest")),
    }
}

/// `sha256:` followed by 64 lowercase hex digits.
pub(crate) fn is_sha256_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// `/dir/with:colons:tag` → the tag is after the last ':' when it contains no '/'.
fn split_layout(rest: &str) -> (&str, Option<&str>) {
    match rest.rsplit_once(':') {
        Some((dir, tag)) if !tag.contains('/') => (dir, Some(tag)),
        _ => (rest, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_transports() {
        assert_eq!(
            ImageUri::parse("docker-daemon://busybox").unwrap(),
            ImageUri::DockerDaemon {
                reference: "busybox:latest".into()
            }
        );
        assert_eq!(
            ImageUri::parse("docker-daemon://localhost:5000/org/img:v1").unwrap(),
            ImageUri::DockerDaemon {
                reference: "localhost:5000/org/img:v1".into()
            }
        );
        assert_eq!(
            ImageUri::parse("docker-daemon://localhost:5000/org/img").unwrap(),
            ImageUri::DockerDaemon {
                reference: "localhost:5000/org/img:latest".into()
            }
        );
        assert_eq!(
            ImageUri::parse("docker://127.0.0.1:5000/a/b:1.2").unwrap(),
            ImageUri::Registry {
                reference: "127.0.0.1:5000/a/b:1.2".into()
            }
        );
        assert_eq!(
            ImageUri::parse("docker://busybox").unwrap().canonical(),
            "docker://docker.io/library/busybox:latest"
        );
        assert_eq!(
            ImageUri::parse("oci:/tmp/lay:out:v2").unwrap(),
            ImageUri::OciLayout {
                dir: "/tmp/lay:out".into(),
                tag: Some("v2".into())
            }
        );
        assert_eq!(
            ImageUri::parse("oci:/tmp/x:1/y").unwrap(),
            ImageUri::OciLayout {
                dir: "/tmp/x:1/y".into(),
                tag: None
            }
        );
    }

    #[test]
    fn rejects_bad_uris_with_reasons() {
        for (uri, needle) in [
            ("", "unknown transport"),
            ("http://x", "unknown transport"),
            ("docker-daemon://", "missing image name"),
            ("docker-daemon://a b:1", "whitespace"),
            ("docker-daemon://img:t@g", "sha256"),
            ("docker-daemon://img@sha256:abc", "sha256"),
            ("docker-daemon://img:", "NAME:TAG"),
            ("docker://", "missing image reference"),
            ("docker://UPPER/Case", "bad registry reference"),
            ("oci:relative/dir", "absolute"),
            ("oci:", "missing layout"),
            ("oci:/x:", "empty tag"),
        ] {
            let err = ImageUri::parse(uri).unwrap_err().to_string();
            assert!(err.contains(needle), "{uri}: {err}");
            assert!(err.contains(&format!("`{uri}`")), "{uri}: {err}");
        }
    }

    #[test]
    fn pinned_refs() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert!(
            ImageUri::parse(&format!("docker-daemon://img@{d}"))
                .unwrap()
                .is_pinned()
        );
        assert!(
            !ImageUri::parse("docker-daemon://img:1")
                .unwrap()
                .is_pinned()
        );
        assert!(is_sha256_digest(&d));
        assert!(!is_sha256_digest("sha256:AB"));
    }
}
