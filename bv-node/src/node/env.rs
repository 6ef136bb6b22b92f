//! The node environment (`NodeEnv`) handed to the plugin, to babel and to the container.

use babel_api::node_env::{DATA_MOUNT_POINT, NodeEnv, PROTOCOL_DATA_PATH};

use super::state::NodeState;
use bv_host::config::Config;

pub fn node_env(state: &NodeState, config: &Config) -> NodeEnv {
    NodeEnv {
        node_id: state.id.to_string(),
        node_name: state.name.clone(),
        node_org_id: state.org_id.clone(),
        node_version: state.image.version.clone(),
        node_protocol: state.image_key.protocol_key.clone(),
        node_variant: state.image_key.variant_key.clone(),
        node_ip: state.ip.clone(),
        node_gateway: state.gateway.clone(),
        dev_mode: state.dev_mode,
        bv_host_id: config.host_id.clone(),
        bv_host_name: host_name(config),
        bv_api_url: config.api_url.clone().unwrap_or_default(),
        data_mount_point: DATA_MOUNT_POINT.into(),
        protocol_data_path: PROTOCOL_DATA_PATH.into(),
    }
}

pub fn host_name(config: &Config) -> String {
    if !config.host_name.is_empty() {
        return config.host_name.clone();
    }
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default()
}

/// `KEY=value` list for the container process (node env, plus RUST_LOG when set).
pub fn env_list(env: &NodeEnv) -> Vec<String> {
    let mut list: Vec<String> = env
        .env_vars()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if let Ok(level) = std::env::var("RUST_LOG") {
        list.push(format!("RUST_LOG={level}"));
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_carries_identity_and_mounts() {
        let state = super::super::state::sample(uuid::Uuid::new_v4(), "n-1");
        let env = node_env(&state, &Config::default());
        assert_eq!(env.node_name, "n-1");
        assert_eq!(env.node_protocol, "example");
        assert_eq!(env.data_mount_point, "/blockjoy");
        assert!(env.dev_mode);
        assert!(env_list(&env).contains(&"NODE_NAME=n-1".to_string()));
    }
}
