//! A dev node for the local daemon, described by an [`ImageVariant`] (`nib image play`,
//! `nib image check`, `nib image upgrade`; `bv` may build dev nodes the same way).

use std::collections::BTreeMap;

use super::{Action, Direction, FirewallConfig, ImageVariant, Protocol};
use babel_api::pb::blockvisor::v1 as pb;

/// Everything about a dev node that does not come from `babel.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DevNodeOptions {
    /// Empty: the daemon assigns one.
    pub ip: Option<String>,
    pub gateway: Option<String>,
    pub tags: Vec<String>,
    /// Babel version the image needs (nib's own version by default).
    pub min_babel_version: String,
}

pub const DEV_ORG_ID: &str = "dev-node-org-id";
pub const DEV_PROTOCOL_NAME: &str = "dev node protocol name";
pub const DEV_STORE_KEY: &str = "dev-node-store-id";
pub const DEV_CONFIG_ID: &str = "dev-node-config-id";
pub const NIL_UUID: &str = "00000000-0000-0000-0000-000000000000";

impl ImageVariant {
    /// `NodeSpec` of a new dev node (id and name are left for the daemon to assign).
    pub fn dev_node_spec(
        &self,
        properties: BTreeMap<String, String>,
        opts: &DevNodeOptions,
    ) -> pb::NodeSpec {
        pb::NodeSpec {
            id: String::new(),
            name: String::new(),
            image_key: Some(pb::ImageKey {
                protocol_key: self.protocol_key.clone(),
                variant_key: self.key.clone(),
            }),
            image: Some(self.dev_node_image(&opts.min_babel_version)),
            dev_mode: true,
            ip: opts.ip.clone().unwrap_or_default(),
            gateway: opts.gateway.clone().unwrap_or_default(),
            properties: properties.into_iter().collect(),
            firewall: Some(firewall_to_pb(&self.firewall_config)),
            vm_config: Some(self.vm_config()),
            tags: opts.tags.clone(),
            org_id: DEV_ORG_ID.to_string(),
            display_name: String::new(),
            protocol_name: DEV_PROTOCOL_NAME.to_string(),
            bridge: false,
            property_rules: self.property_rules(),
        }
    }

    /// What `bv node update` may change each property to.
    pub fn property_rules(&self) -> Vec<pb::PropertyRule> {
        self.properties
            .iter()
            .map(|p| pb::PropertyRule {
                key: p.key.clone(),
                allowed_values: p
                    .choices()
                    .map(|c| c.into_iter().map(|(v, _)| v).collect())
                    .unwrap_or_default(),
                dynamic_value: p.dynamic_value,
            })
            .collect()
    }

    /// The image part of a dev node (also what `nib image upgrade` sends).
    pub fn dev_node_image(&self, min_babel_version: &str) -> pb::NodeImage {
        pb::NodeImage {
            id: self.dev_image_id(),
            version: self.version.clone(),
            config_id: DEV_CONFIG_ID.to_string(),
            archive_id: NIL_UUID.to_string(),
            store_key: DEV_STORE_KEY.to_string(),
            uri: self.container_uri.clone(),
            min_babel_version: min_babel_version.to_string(),
        }
    }

    /// Resources from the variant (decimal MB/GB as in `babel.yaml`).
    pub fn vm_config(&self) -> pb::VmConfig {
        pb::VmConfig {
            vcpu_count: u32::try_from(self.min_cpu).unwrap_or(u32::MAX),
            mem_size_mb: self.min_memory_mb,
            disk_size_gb: self.min_disk_gb,
            ramdisks: self
                .ramdisks
                .iter()
                .map(|r| pb::RamDiskConfig {
                    mount: r.mount.clone(),
                    size_mb: r.size_mb,
                })
                .collect(),
        }
    }
}

fn action(a: Action) -> i32 {
    let a = match a {
        Action::Allow => pb::FirewallAction::Allow,
        Action::Deny => pb::FirewallAction::Deny,
        Action::Reject => pb::FirewallAction::Reject,
    };
    a as i32
}

/// The local API's firewall from the YAML one (rule key becomes the rule name).
pub fn firewall_to_pb(fw: &FirewallConfig) -> pb::FirewallConfig {
    pb::FirewallConfig {
        default_in: action(fw.default_in),
        default_out: action(fw.default_out),
        rules: fw
            .rules
            .iter()
            .map(|r| pb::FirewallRule {
                name: r.key.clone(),
                action: action(r.action),
                direction: match r.direction {
                    Direction::In => pb::FirewallDirection::In,
                    Direction::Out => pb::FirewallDirection::Out,
                } as i32,
                protocol: match r.protocol {
                    Protocol::Tcp => pb::FirewallProtocol::Tcp,
                    Protocol::Udp => pb::FirewallProtocol::Udp,
                    Protocol::Both => pb::FirewallProtocol::Both,
                } as i32,
                ips: r.ips.iter().map(|i| i.ip.clone()).collect(),
                ports: r.ports.iter().map(|p| u32::from(p.port)).collect(),
            })
            .collect(),
    }
}
