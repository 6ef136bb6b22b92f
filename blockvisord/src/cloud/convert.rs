//! The API's node (`api.v1.Node`) as local node state, upgrade target and config update.

use std::collections::BTreeMap;

use babel_api::pb::api::v1 as pb;
use chrono::Utc;
use uuid::Uuid;

use bv_host::net::firewall::{Firewall, FirewallRule};
use bv_node::node::NodeError;
use bv_node::node::state::{
    ImageKey, NodeImage, NodeState, RamDisk, SCHEMA_VERSION, Status, VmConfig,
};
use bv_node::node::upgrade::UpgradeTarget;

const MIB: u64 = 1024 * 1024;
const GB: u64 = 1_000_000_000;

/// What an Update command changes on an existing node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigUpdate {
    pub properties: BTreeMap<String, String>,
    pub firewall: Firewall,
    pub display_name: String,
    pub tags: Vec<String>,
}

pub fn node_id(node: &pb::Node) -> Result<Uuid, NodeError> {
    Uuid::parse_str(&node.node_id).map_err(|source| NodeError::BadId {
        field: "API node id",
        value: node.node_id.clone(),
        source,
    })
}

fn image_config(node: &pb::Node) -> pb::NodeImageConfig {
    node.config
        .as_ref()
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

fn image(node: &pb::Node) -> NodeImage {
    let img = image_config(node);
    NodeImage {
        id: node.image_id.clone(),
        version: node.semantic_version.clone(),
        config_id: node.config_id.clone(),
        archive_id: img.archive_id,
        store_key: img.store_key,
        uri: img.image_uri,
        min_babel_version: img.min_babel_version,
    }
}

fn image_key(node: &pb::Node) -> ImageKey {
    let key = node.version_key.clone().unwrap_or_default();
    ImageKey {
        protocol_key: key.protocol_key,
        variant_key: key.variant_key,
    }
}

fn properties(node: &pb::Node) -> BTreeMap<String, String> {
    image_config(node)
        .values
        .into_iter()
        .map(|v| (v.key, v.value))
        .collect()
}

fn vm_config(node: &pb::Node) -> VmConfig {
    let vm = node
        .config
        .as_ref()
        .and_then(|c| c.vm.clone())
        .unwrap_or_default();
    VmConfig {
        vcpu_count: u32::try_from(vm.cpu_cores).unwrap_or(u32::MAX),
        mem_size_mb: vm.memory_bytes / MIB,
        disk_size_gb: vm.disk_bytes / GB,
        ramdisks: vm
            .ramdisks
            .into_iter()
            .map(|r| RamDisk {
                mount: r.mount,
                size_mb: r.size_bytes.div_ceil(MIB),
            })
            .collect(),
    }
}

fn action(a: i32) -> String {
    match pb::FirewallAction::try_from(a) {
        Ok(pb::FirewallAction::Allow) => "allow",
        Ok(pb::FirewallAction::Deny) => "deny",
        _ => "reject",
    }
    .into()
}

fn firewall(node: &pb::Node) -> Firewall {
    let Some(fw) = node.config.as_ref().and_then(|c| c.firewall.clone()) else {
        return Firewall::default();
    };
    let defaults = Firewall::default();
    Firewall {
        default_in: if fw.default_in == 0 {
            defaults.default_in
        } else {
            action(fw.default_in)
        },
        default_out: if fw.default_out == 0 {
            defaults.default_out
        } else {
            action(fw.default_out)
        },
        rules: fw
            .rules
            .into_iter()
            .map(|r| FirewallRule {
                name: r.key,
                action: action(r.action),
                direction: match pb::FirewallDirection::try_from(r.direction) {
                    Ok(pb::FirewallDirection::Outbound) => "out".into(),
                    _ => "in".into(),
                },
                protocol: match pb::FirewallProtocol::try_from(r.protocol) {
                    Ok(pb::FirewallProtocol::Tcp) => Some("tcp".into()),
                    Ok(pb::FirewallProtocol::Udp) => Some("udp".into()),
                    Ok(pb::FirewallProtocol::Both) => Some("both".into()),
                    _ => None,
                },
                ips: r.ips.into_iter().map(|i| i.ip).collect(),
                ports: r.ports.into_iter().map(|p| p.port).collect(),
            })
            .collect(),
    }
}

/// A new (stopped) node from the API's node record.
pub fn state_from_api(node: &pb::Node, host_network: bool) -> Result<NodeState, NodeError> {
    let id = node_id(node)?;
    let image = image(node);
    if image.uri.trim().is_empty() {
        return Err(NodeError::ApiNodeWithoutImage(id));
    }
    Ok(NodeState {
        schema_version: SCHEMA_VERSION,
        id,
        name: node.node_name.clone(),
        display_name: node.display_name.clone(),
        org_id: node.org_id.clone().unwrap_or_default(),
        protocol_name: node.protocol_name.clone(),
        image_key: image_key(node),
        image,
        dev_mode: false,
        host_network,
        ip: if host_network {
            String::new()
        } else {
            node.ip_address.clone()
        },
        gateway: if host_network {
            String::new()
        } else {
            node.ip_gateway.clone()
        },
        properties: properties(node),
        firewall: firewall(node),
        vm_config: vm_config(node),
        tags: node.tags.clone(),
        expected_status: Status::Stopped,
        started_at: None,
        initialized: false,
        restarting: false,
        upgrade: None,
        property_rules: Vec::new(),
        created_at: Utc::now(),
    })
}

pub fn upgrade_target(node: &pb::Node) -> UpgradeTarget {
    UpgradeTarget {
        image: image(node),
        image_key: image_key(node),
        vm_config: vm_config(node),
        health_timeout: None,
    }
}

pub fn config_update(node: &pb::Node) -> ConfigUpdate {
    ConfigUpdate {
        properties: properties(node),
        firewall: firewall(node),
        display_name: node.display_name.clone(),
        tags: node.tags.clone(),
    }
}

/// The API's view of a local status.
pub fn state_to_api(s: Status) -> pb::NodeState {
    match s {
        Status::Running => pb::NodeState::Running,
        Status::Stopped => pb::NodeState::Stopped,
        Status::Busy => pb::NodeState::Busy,
        Status::Failed | Status::Broken => pb::NodeState::Failed,
    }
}

#[cfg(test)]
pub(crate) fn sample_node() -> pb::Node {
    pb::Node {
        node_id: Uuid::new_v4().to_string(),
        node_name: "brave-green-fox".into(),
        display_name: "fox".into(),
        org_id: Some("org1".into()),
        host_id: "h1".into(),
        image_id: "img1".into(),
        protocol_name: "proto".into(),
        version_key: Some(pb::ProtocolVersionKey {
            protocol_key: "proto".into(),
            variant_key: "main".into(),
        }),
        semantic_version: "1.2.3".into(),
        build_version: 4,
        config_id: "cfg1".into(),
        config: Some(pb::NodeConfig {
            image: Some(pb::NodeImageConfig {
                image_id: "img1".into(),
                image_uri: "docker-daemon://proto:1".into(),
                archive_id: "arch1".into(),
                store_key: "proto-main-v1".into(),
                min_babel_version: "0.1.0".into(),
                values: vec![pb::NodePropertyValue {
                    key: "network".into(),
                    value: "main".into(),
                    has_changed: false,
                }],
            }),
            firewall: Some(pb::FirewallConfig {
                default_in: pb::FirewallAction::Deny.into(),
                default_out: 0,
                rules: vec![pb::FirewallRule {
                    key: "p2p".into(),
                    protocol: pb::FirewallProtocol::Tcp.into(),
                    direction: pb::FirewallDirection::Inbound.into(),
                    action: pb::FirewallAction::Allow.into(),
                    ips: vec![pb::IpName {
                        ip: "10.0.0.0/8".into(),
                        name: None,
                    }],
                    ports: vec![pb::PortName {
                        port: 30303,
                        name: None,
                    }],
                    description: None,
                }],
            }),
            vm: Some(pb::NodeVmConfig {
                cpu_cores: 2,
                memory_bytes: 512 * MIB,
                disk_bytes: 10 * GB,
                ramdisks: vec![pb::RamDisk {
                    mount: "/mnt/ram".into(),
                    size_bytes: 64 * MIB,
                }],
            }),
        }),
        tags: vec!["t1".into()],
        next_state: pb::NodeState::Running.into(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_node_maps_to_state() {
        let node = sample_node();
        let s = state_from_api(&node, true).unwrap();
        assert_eq!(s.id.to_string(), node.node_id);
        assert_eq!(s.name, "brave-green-fox");
        assert!(!s.dev_mode);
        assert!(s.host_network);
        assert_eq!(s.image.uri, "docker-daemon://proto:1");
        assert_eq!(s.image.archive_id, "arch1");
        assert_eq!(s.image.store_key, "proto-main-v1");
        assert_eq!(s.image.version, "1.2.3");
        assert_eq!(s.image_key.variant_key, "main");
        assert_eq!(
            s.properties.get("network").map(String::as_str),
            Some("main")
        );
        assert_eq!(s.vm_config.vcpu_count, 2);
        assert_eq!(s.vm_config.mem_size_mb, 512);
        assert_eq!(s.vm_config.disk_size_gb, 10);
        assert_eq!(s.vm_config.ramdisks[0].size_mb, 64);
        assert_eq!(s.firewall.default_in, "deny");
        assert_eq!(s.firewall.default_out, "allow");
        assert_eq!(s.firewall.rules[0].ports, vec![30303]);
        assert_eq!(s.firewall.rules[0].ips, vec!["10.0.0.0/8"]);
        assert_eq!(s.org_id, "org1");
        assert_eq!(s.expected_status, Status::Stopped);
    }

    #[test]
    fn bad_id_and_missing_uri_are_rejected() {
        let mut node = sample_node();
        node.node_id = "nope".into();
        let e = state_from_api(&node, true).unwrap_err().to_string();
        assert!(e.contains("nope"), "{e}");
        let mut node = sample_node();
        if let Some(img) = node.config.as_mut().and_then(|c| c.image.as_mut()) {
            img.image_uri.clear();
        }
        let e = state_from_api(&node, true).unwrap_err().to_string();
        assert!(e.contains("image_uri"), "{e}");
    }

    #[test]
    fn upgrade_and_update_take_the_new_config() {
        let node = sample_node();
        let t = upgrade_target(&node);
        assert_eq!(t.image.id, "img1");
        assert_eq!(t.image.config_id, "cfg1");
        let u = config_update(&node);
        assert_eq!(u.tags, vec!["t1"]);
        assert_eq!(u.display_name, "fox");
    }
}
