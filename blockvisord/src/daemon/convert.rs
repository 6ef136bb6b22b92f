//! Conversions between the local API messages and node state.

use babel_api::pb::blockvisor::v1 as pb;
use chrono::Utc;
use uuid::Uuid;

use bv_host::net::firewall::{Firewall, FirewallRule};
use bv_node::node::property_rules::PropertyRule;
use bv_node::node::state::{
    ImageKey, NodeImage, NodeState, RamDisk, SCHEMA_VERSION, Status, VmConfig,
};
use bv_node::node::{NodeError, NodePaths};

pub fn status_to_pb(s: Status) -> pb::NodeStatus {
    match s {
        Status::Running => pb::NodeStatus::Running,
        Status::Stopped => pb::NodeStatus::Stopped,
        Status::Busy => pb::NodeStatus::Busy,
        Status::Failed => pb::NodeStatus::Failed,
        Status::Broken => pb::NodeStatus::Broken,
    }
}

fn action_name(a: i32) -> String {
    match pb::FirewallAction::try_from(a).unwrap_or(pb::FirewallAction::Unspecified) {
        pb::FirewallAction::Allow => "allow",
        pb::FirewallAction::Deny => "deny",
        pb::FirewallAction::Reject | pb::FirewallAction::Unspecified => "reject",
    }
    .into()
}

fn action_pb(a: &str) -> i32 {
    match a {
        "allow" => pb::FirewallAction::Allow,
        "deny" => pb::FirewallAction::Deny,
        _ => pb::FirewallAction::Reject,
    }
    .into()
}

/// The most firewall rules a node may have.
const MAX_FIREWALL_RULES: usize = 128;

pub fn firewall_from_pb(fw: Option<pb::FirewallConfig>) -> NodeResultFw {
    let Some(fw) = fw else {
        return Ok(Firewall::default());
    };
    if fw.rules.len() > MAX_FIREWALL_RULES {
        return Err(NodeError::TooManyFirewallRules {
            max: MAX_FIREWALL_RULES,
        });
    }
    let rules = fw
        .rules
        .into_iter()
        .map(|r| FirewallRule {
            name: r.name,
            action: action_name(r.action),
            direction: match pb::FirewallDirection::try_from(r.direction) {
                Ok(pb::FirewallDirection::Out) => "out".into(),
                _ => "in".into(),
            },
            protocol: match pb::FirewallProtocol::try_from(r.protocol) {
                Ok(pb::FirewallProtocol::Tcp) => Some("tcp".into()),
                Ok(pb::FirewallProtocol::Udp) => Some("udp".into()),
                Ok(pb::FirewallProtocol::Both) => Some("both".into()),
                _ => None,
            },
            ips: r.ips,
            ports: r.ports,
        })
        .collect();
    Ok(Firewall {
        default_in: if fw.default_in == 0 {
            "reject".into()
        } else {
            action_name(fw.default_in)
        },
        default_out: if fw.default_out == 0 {
            "allow".into()
        } else {
            action_name(fw.default_out)
        },
        rules,
    })
}

type NodeResultFw = Result<Firewall, NodeError>;

fn firewall_to_pb(fw: &Firewall) -> pb::FirewallConfig {
    pb::FirewallConfig {
        default_in: action_pb(&fw.default_in),
        default_out: action_pb(&fw.default_out),
        rules: fw
            .rules
            .iter()
            .map(|r| pb::FirewallRule {
                name: r.name.clone(),
                action: action_pb(&r.action),
                direction: if r.direction == "out" {
                    pb::FirewallDirection::Out
                } else {
                    pb::FirewallDirection::In
                }
                .into(),
                protocol: match r.protocol.as_deref() {
                    Some("tcp") => pb::FirewallProtocol::Tcp,
                    Some("udp") => pb::FirewallProtocol::Udp,
                    Some("both") => pb::FirewallProtocol::Both,
                    _ => pb::FirewallProtocol::Unspecified,
                }
                .into(),
                ips: r.ips.clone(),
                ports: r.ports.clone(),
            })
            .collect(),
    }
}

pub fn image_from_pb(i: Option<pb::NodeImage>) -> NodeImage {
    let i = i.unwrap_or_default();
    NodeImage {
        id: i.id,
        version: i.version,
        config_id: i.config_id,
        archive_id: i.archive_id,
        store_key: i.store_key,
        uri: i.uri,
        min_babel_version: i.min_babel_version,
    }
}

pub fn image_key_from_pb(k: Option<pb::ImageKey>) -> ImageKey {
    let k = k.unwrap_or_default();
    ImageKey {
        protocol_key: k.protocol_key,
        variant_key: k.variant_key,
    }
}

pub fn vm_from_pb(v: Option<pb::VmConfig>) -> VmConfig {
    let v = v.unwrap_or_default();
    VmConfig {
        vcpu_count: v.vcpu_count,
        mem_size_mb: v.mem_size_mb,
        disk_size_gb: v.disk_size_gb,
        ramdisks: v
            .ramdisks
            .into_iter()
            .map(|r| RamDisk {
                mount: r.mount,
                size_mb: r.size_mb,
            })
            .collect(),
    }
}

/// A new node's state from a full spec (dev create / `nib image play`).
pub fn state_from_spec(
    spec: pb::NodeSpec,
    extra_props: std::collections::HashMap<String, String>,
    extra_tags: Vec<String>,
    host_network_default: bool,
) -> Result<NodeState, NodeError> {
    let id = if spec.id.is_empty() {
        Uuid::new_v4()
    } else {
        Uuid::parse_str(&spec.id).map_err(|source| NodeError::BadId {
            field: "spec.id",
            value: spec.id.clone(),
            source,
        })?
    };
    let mut properties: std::collections::BTreeMap<String, String> =
        spec.properties.into_iter().collect();
    properties.extend(extra_props);
    let mut tags = spec.tags;
    for t in extra_tags {
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    let image = image_from_pb(spec.image);
    // Dev nodes share the host network unless the caller pinned an IP or asked for the bridge.
    let host_network = host_network_default && spec.ip.is_empty() && !spec.bridge;
    Ok(NodeState {
        schema_version: SCHEMA_VERSION,
        id,
        name: spec.name,
        display_name: spec.display_name,
        org_id: spec.org_id,
        protocol_name: spec.protocol_name,
        image_key: image_key_from_pb(spec.image_key),
        image,
        dev_mode: spec.dev_mode,
        host_network,
        ip: spec.ip,
        gateway: spec.gateway,
        properties,
        firewall: firewall_from_pb(spec.firewall)?,
        vm_config: vm_from_pb(spec.vm_config),
        tags,
        expected_status: Status::Stopped,
        started_at: None,
        initialized: false,
        restarting: false,
        upgrade: None,
        property_rules: spec
            .property_rules
            .into_iter()
            .map(|r| PropertyRule {
                key: r.key,
                allowed_values: r.allowed_values,
                dynamic_value: r.dynamic_value,
            })
            .collect(),
        created_at: Utc::now(),
    })
}

pub fn spec_to_pb(s: &NodeState) -> pb::NodeSpec {
    pb::NodeSpec {
        property_rules: s
            .property_rules
            .iter()
            .map(|r| pb::PropertyRule {
                key: r.key.clone(),
                allowed_values: r.allowed_values.clone(),
                dynamic_value: r.dynamic_value,
            })
            .collect(),
        id: s.id.to_string(),
        name: s.name.clone(),
        image_key: Some(pb::ImageKey {
            protocol_key: s.image_key.protocol_key.clone(),
            variant_key: s.image_key.variant_key.clone(),
        }),
        image: Some(pb::NodeImage {
            id: s.image.id.clone(),
            version: s.image.version.clone(),
            config_id: s.image.config_id.clone(),
            archive_id: s.image.archive_id.clone(),
            store_key: s.image.store_key.clone(),
            uri: s.image.uri.clone(),
            min_babel_version: s.image.min_babel_version.clone(),
        }),
        dev_mode: s.dev_mode,
        bridge: !s.host_network,
        ip: s.ip.clone(),
        gateway: s.gateway.clone(),
        properties: s.properties.clone().into_iter().collect(),
        firewall: Some(firewall_to_pb(&s.firewall)),
        vm_config: Some(pb::VmConfig {
            vcpu_count: s.vm_config.vcpu_count,
            mem_size_mb: s.vm_config.mem_size_mb,
            disk_size_gb: s.vm_config.disk_size_gb,
            ramdisks: s
                .vm_config
                .ramdisks
                .iter()
                .map(|r| pb::RamDiskConfig {
                    mount: r.mount.clone(),
                    size_mb: r.size_mb,
                })
                .collect(),
        }),
        tags: s.tags.clone(),
        org_id: s.org_id.clone(),
        display_name: s.display_name.clone(),
        protocol_name: s.protocol_name.clone(),
    }
}

pub fn node_to_pb(
    s: &NodeState,
    status: Status,
    paths: &NodePaths,
    runtime_root: &std::path::Path,
    reason: String,
) -> pb::Node {
    pb::Node {
        spec: Some(spec_to_pb(s)),
        status: status_to_pb(status).into(),
        expected_status: status_to_pb(s.expected_status).into(),
        started_at: s.started_at.map(|t| prost_types::Timestamp {
            seconds: t.timestamp(),
            nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
        }),
        initialized: s.initialized,
        status_reason: reason,
        node_dir: paths.dir.display().to_string(),
        rootfs: paths.rootfs().display().to_string(),
        data_dir: paths.data().display().to_string(),
        container_id: s.id.to_string(),
        runtime_root: runtime_root.display().to_string(),
        alerts: vec![],
        auto_upgrade: None,
        upgrade_wait: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_round_trip_keeps_fields() {
        let spec = pb::NodeSpec {
            name: "n".into(),
            image: Some(pb::NodeImage {
                uri: "docker-daemon://x:1".into(),
                version: "1.0.0".into(),
                ..Default::default()
            }),
            dev_mode: true,
            properties: [("a".to_string(), "1".to_string())].into(),
            tags: vec!["t1".into()],
            firewall: Some(pb::FirewallConfig {
                default_in: pb::FirewallAction::Deny.into(),
                default_out: 0,
                rules: vec![pb::FirewallRule {
                    name: "p2p".into(),
                    action: pb::FirewallAction::Allow.into(),
                    direction: pb::FirewallDirection::In.into(),
                    protocol: pb::FirewallProtocol::Tcp.into(),
                    ips: vec![],
                    ports: vec![30303],
                }],
            }),
            ..Default::default()
        };
        let props = [("b".to_string(), "2".to_string())].into();
        let state = state_from_spec(spec, props, vec!["t2".into()], true).unwrap();
        assert!(state.host_network);
        assert_eq!(state.properties.len(), 2);
        assert_eq!(state.tags, vec!["t1", "t2"]);
        assert_eq!(state.firewall.default_in, "deny");
        assert_eq!(state.firewall.default_out, "allow");
        let back = spec_to_pb(&state);
        assert_eq!(back.image.unwrap().uri, "docker-daemon://x:1");
        assert_eq!(back.firewall.unwrap().rules[0].ports, vec![30303]);
    }

    #[test]
    fn bridge_flag_keeps_dev_nodes_off_the_host_network() {
        let spec = pb::NodeSpec {
            dev_mode: true,
            bridge: true,
            ..Default::default()
        };
        let state = state_from_spec(spec, Default::default(), vec![], true).unwrap();
        assert!(!state.host_network);
        let state =
            state_from_spec(pb::NodeSpec::default(), Default::default(), vec![], true).unwrap();
        assert!(state.host_network);
    }

    #[test]
    fn bad_id_is_rejected() {
        let spec = pb::NodeSpec {
            id: "nope".into(),
            ..Default::default()
        };
        let err = state_from_spec(spec, Default::default(), vec![], true).unwrap_err();
        assert!(err.to_string().contains("spec.id"));
    }
}
