//! What a node knows about itself: handed to the plugin (`node_env()`), to babel
//! (`setup_babel`) and written as the env file in the node.

use serde::{Deserialize, Serialize};

/// Where the node's persistent data drive is mounted inside the node.
pub const DATA_MOUNT_POINT: &str = "/blockjoy";
/// Where protocol data lives (download destination, upload source).
pub const PROTOCOL_DATA_PATH: &str = "/blockjoy/protocol_data";
/// The protocol data lock file (its mtime is the "data stamp"), relative to the data mount.
pub const PROTOCOL_DATA_LOCK: &str = ".protocol_data.lock";

/// Babel's directory in the node, relative to the node's rootfs (no leading `/`).
pub const BABEL_DIR_IN_ROOTFS: &str = "var/lib/babel";
/// The plugin directory in the node (`main.rhai` and the modules it imports), relative to the
/// node's rootfs.
pub const PLUGIN_DIR_IN_ROOTFS: &str = "var/lib/babel/plugin";
/// The node's env file ([`NodeEnv::to_env_file`]), relative to the node's rootfs.
pub const NODE_ENV_FILE_IN_ROOTFS: &str = "var/lib/babel/node_env";
/// CA certificates (PEM) of the control plane the host is registered with, when the host
/// trusts a CA of its own for it; relative to the node's rootfs. The agent trusts them in
/// addition to the image's roots, so archive transfers served by the API itself work.
pub const API_CA_FILE_IN_ROOTFS: &str = "var/lib/babel/api_ca.pem";

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEnv {
    pub node_id: String,
    pub node_name: String,
    pub node_org_id: String,
    pub node_version: String,
    pub node_protocol: String,
    pub node_variant: String,
    pub node_ip: String,
    pub node_gateway: String,
    pub dev_mode: bool,
    pub bv_host_id: String,
    pub bv_host_name: String,
    pub bv_api_url: String,
    pub data_mount_point: String,
    pub protocol_data_path: String,
}

impl NodeEnv {
    /// `KEY="value"` lines, one per field, as written to [`NODE_ENV_FILE_IN_ROOTFS`].
    pub fn to_env_file(&self) -> String {
        self.env_vars()
            .into_iter()
            .map(|(k, v)| format!("{k}=\"{}\"\n", v.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect()
    }

    /// The environment variables a node's processes see.
    pub fn env_vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("NODE_ID", self.node_id.clone()),
            ("NODE_NAME", self.node_name.clone()),
            ("NODE_ORG_ID", self.node_org_id.clone()),
            ("NODE_VERSION", self.node_version.clone()),
            ("NODE_PROTOCOL", self.node_protocol.clone()),
            ("NODE_VARIANT", self.node_variant.clone()),
            ("NODE_IP", self.node_ip.clone()),
            ("NODE_GATEWAY", self.node_gateway.clone()),
            ("DEV_MODE", self.dev_mode.to_string()),
            ("BV_HOST_ID", self.bv_host_id.clone()),
            ("BV_HOST_NAME", self.bv_host_name.clone()),
            ("BV_API_URL", self.bv_api_url.clone()),
            ("DATA_MOUNT_POINT", self.data_mount_point.clone()),
            ("PROTOCOL_DATA_PATH", self.protocol_data_path.clone()),
        ]
    }
}

/// A tmpfs the agent mounts inside the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RamDisk {
    pub ram_disk_mount_point: String,
    pub ram_disk_size_mb: u64,
}

/// What the host hands babel at setup; babel persists it (`/etc/babel.conf` upstream).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BabelConfig {
    pub node_env: NodeEnv,
    #[serde(default)]
    pub ramdisks: Vec<RamDisk>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_node_paths_are_under_babel_dir() {
        for path in [PLUGIN_DIR_IN_ROOTFS, NODE_ENV_FILE_IN_ROOTFS] {
            let rest = path.strip_prefix(BABEL_DIR_IN_ROOTFS).unwrap();
            assert!(rest.starts_with('/') && !BABEL_DIR_IN_ROOTFS.starts_with('/'));
        }
    }

    #[test]
    fn env_file_quotes_values() {
        let env = NodeEnv {
            node_name: "a\"b".into(),
            dev_mode: true,
            ..Default::default()
        };
        let file = env.to_env_file();
        assert!(file.contains("NODE_NAME=\"a\\\"b\"\n"));
        assert!(file.contains("DEV_MODE=\"true\"\n"));
        assert_eq!(file.lines().count(), 14);
    }
}
