//! The runtime part of an OCI/Docker image config (`config` object of the config blob).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a runtime needs from the image config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    pub env: Vec<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct ConfigBlob {
    #[serde(default)]
    config: Option<RawConfig>,
    #[serde(default)]
    rootfs: Option<RawRootfs>,
}

#[derive(Deserialize)]
struct RawRootfs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RawConfig {
    env: Option<Vec<String>>,
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    working_dir: Option<String>,
    user: Option<String>,
    labels: Option<BTreeMap<String, String>>,
}

/// Parsed config blob: runtime config plus the layer diff IDs.
#[derive(Debug, Clone, Default)]
pub(crate) struct ParsedConfig {
    pub(crate) config: ImageConfig,
    pub(crate) diff_ids: Vec<String>,
}

/// Parse an image config blob (OCI `application/vnd.oci.image.config.v1+json` or Docker's).
pub(crate) fn parse_config_blob(bytes: &[u8]) -> Result<ParsedConfig, String> {
    let blob: ConfigBlob =
        serde_json::from_slice(bytes).map_err(|e| format!("invalid image config JSON: {e}"))?;
    let raw = blob.config.unwrap_or_default();
    let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
    Ok(ParsedConfig {
        config: ImageConfig {
            env: raw.env.unwrap_or_default(),
            entrypoint: raw.entrypoint.unwrap_or_default(),
            cmd: raw.cmd.unwrap_or_default(),
            working_dir: non_empty(raw.working_dir),
            user: non_empty(raw.user),
            labels: raw.labels.unwrap_or_default(),
        },
        diff_ids: blob.rootfs.map(|r| r.diff_ids).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_config_with_nulls_and_maps() {
        let json = br#"{"architecture":"amd64","config":{"Hostname":"","Env":["PATH=/bin","A=b"],
            "Cmd":["sh"],"Entrypoint":null,"WorkingDir":"","User":"1000:1000",
            "ExposedPorts":{"80/tcp":{}},"Volumes":{"/data":{}},"Labels":{"k":"v"}},
            "rootfs":{"type":"layers","diff_ids":["sha256:aa"]}}"#;
        let p = parse_config_blob(json).unwrap();
        assert_eq!(p.config.env, vec!["PATH=/bin", "A=b"]);
        assert_eq!(p.config.cmd, vec!["sh"]);
        assert!(p.config.entrypoint.is_empty());
        assert_eq!(p.config.working_dir, None);
        assert_eq!(p.config.user.as_deref(), Some("1000:1000"));
        assert_eq!(p.config.labels.get("k").map(String::as_str), Some("v"));
        assert_eq!(p.diff_ids, vec!["sha256:aa"]);
    }

    #[test]
    fn config_without_runtime_part_is_empty() {
        let p = parse_config_blob(br#"{"rootfs":{"type":"layers","diff_ids":[]}}"#).unwrap();
        assert_eq!(p.config, ImageConfig::default());
        assert!(
            parse_config_blob(b"not json")
                .unwrap_err()
                .contains("invalid")
        );
    }
}
