//! `nib image push`: register a protocol version and an image build per variant.
//! All variants are validated before any network call. A new build is added only when
//! something the node sees changed (including archive pointers, dns scheme and the minimum
//! babel version, which the original ignored).

use std::path::Path;

use babel_api::pb::api::v1 as api;
use babel_manifest::babel_yaml::{
    Action, Direction, ExpandedUiType, ImageVariant, Pointer, Protocol, expand_properties,
};
use eyre::{Result, bail, eyre};

use super::image_play::load_validated;
use crate::api_client::{Api, api_err, not_found_as_none, visibility};

/// Push every variant; returns one JSON object per variant (what was done).
pub async fn run(
    api: &mut Api,
    path: &Path,
    min_babel_version: Option<String>,
) -> Result<Vec<serde_json::Value>> {
    let min_babel = min_babel_version.unwrap_or_else(|| babel_api::VERSION.to_string());
    semver::Version::parse(&min_babel)
        .map_err(|e| eyre!("--min-babel-version '{min_babel}': {e}"))?;
    let image = load_validated(path)?;
    require_protocol(api, &image.protocol_key).await?;
    let variants = image.image_variants();
    let mut done = Vec::new();
    for v in &variants {
        let (version, version_action) = push_version(api, v).await?;
        let (build_version, image_action) = push_image(api, v, &version, &min_babel).await?;
        done.push(serde_json::json!({
            "protocol": v.protocol_key,
            "variant": v.key,
            "version": v.version,
            "version_action": version_action,
            "build_version": build_version,
            "image_action": image_action,
        }));
    }
    Ok(done)
}

/// The protocol must exist before its versions; the next step when it does not.
async fn require_protocol(api: &mut Api, key: &str) -> Result<()> {
    let found = not_found_as_none(
        api.protocols
            .get_protocol(api::GetProtocolRequest {
                protocol: Some(api::get_protocol_request::Protocol::ProtocolKey(
                    key.to_string(),
                )),
            })
            .await,
    )
    .map_err(api_err("cannot get protocol"))?;
    if found.is_none() {
        bail!(
            "protocol '{key}' is not in the API; add it first with `nib protocol push` \
             (reads protocols.yaml, which `nib image create` scaffolds)"
        );
    }
    Ok(())
}

fn version_key(v: &ImageVariant) -> api::ProtocolVersionKey {
    api::ProtocolVersionKey {
        protocol_key: v.protocol_key.clone(),
        variant_key: v.key.clone(),
    }
}

async fn push_version(
    api: &mut Api,
    v: &ImageVariant,
) -> Result<(api::ProtocolVersion, &'static str)> {
    let name = format!("{}/{}/{}", v.protocol_key, v.key, v.version);
    let latest = not_found_as_none(
        api.protocols
            .get_latest(api::GetLatestRequest {
                version_key: Some(version_key(v)),
                org_id: v.org_id.clone(),
            })
            .await,
    )
    .map_err(api_err("cannot get the latest version"))?;
    let vis = visibility(v.visibility) as i32;
    let sku = v.sku_code.clone().unwrap_or_default();
    if let Some(remote) = latest.filter(|r| r.semantic_version == v.version) {
        if remote.visibility != vis || remote.description != v.description || remote.sku_code != sku
        {
            let updated = api
                .protocols
                .update_version(api::UpdateVersionRequest {
                    protocol_version_id: remote.protocol_version_id,
                    visibility: Some(vis),
                    description: v.description.clone(),
                    sku_code: Some(sku),
                })
                .await
                .map_err(api_err("cannot update version"))?
                .into_inner();
            crate::output::say!("Variant version '{name}' updated");
            return Ok((updated, "updated"));
        }
        return Ok((remote, "unchanged"));
    }
    let added = api
        .protocols
        .add_version(api::AddVersionRequest {
            org_id: v.org_id.clone(),
            version_key: Some(version_key(v)),
            semantic_version: v.version.clone(),
            sku_code: sku,
            description: v.description.clone(),
            metadata: v
                .metadata
                .iter()
                .map(|m| api::VersionMetadata {
                    metadata_key: m.key.clone(),
                    value: m.value.clone(),
                    description: m.description.clone(),
                })
                .collect(),
            visibility: vis,
        })
        .await
        .map_err(api_err("cannot add version"))?
        .into_inner();
    crate::output::say!("Variant version '{name}' added");
    Ok((added, "added"))
}

async fn push_image(
    api: &mut Api,
    v: &ImageVariant,
    version: &api::ProtocolVersion,
    min_babel: &str,
) -> Result<(u64, &'static str)> {
    let req = add_image_request(v, &version.protocol_version_id, min_babel);
    let remote = not_found_as_none(
        api.images
            .get_image(api::GetImageRequest {
                version_key: Some(version_key(v)),
                org_id: v.org_id.clone(),
                semantic_version: Some(v.version.clone()),
                build_version: None,
            })
            .await,
    )
    .map_err(api_err("cannot get image"))?;
    let name = format!("{}/{}/{}", v.protocol_key, v.key, v.version);
    if let Some(remote) = remote.filter(|r| same_image(r, &req)) {
        if remote.visibility != req.visibility {
            api.images
                .update_image(api::UpdateImageRequest {
                    image_id: remote.image_id,
                    visibility: Some(req.visibility),
                })
                .await
                .map_err(api_err("cannot update image"))?;
            crate::output::say!("Image '{name}/{}' updated", remote.build_version);
            return Ok((remote.build_version, "updated"));
        }
        crate::output::say!(
            "No image changes to push for '{name}/{}'",
            remote.build_version
        );
        return Ok((remote.build_version, "unchanged"));
    }
    let added = api
        .images
        .add_image(req)
        .await
        .map_err(api_err("cannot add image"))?
        .into_inner();
    crate::output::say!("Image '{name}/{}' added", added.build_version);
    Ok((added.build_version, "added"))
}

/// Whether the remote image already is what `req` describes (visibility aside).
pub fn same_image(remote: &api::Image, req: &api::AddImageRequest) -> bool {
    let mut rp = remote.properties.clone();
    rp.sort_by(|a, b| a.key.cmp(&b.key));
    let mut rr = remote.firewall.clone().unwrap_or_default();
    rr.rules.sort_by(|a, b| a.key.cmp(&b.key));
    let mut ra = remote.archive_pointers.clone();
    ra.iter_mut().for_each(|p| p.new_archive_keys.sort());
    ra.sort_by(|a, b| a.new_archive_keys.cmp(&b.new_archive_keys));
    remote.org_id == req.org_id
        && remote.description == req.description
        && rp == req.properties
        && Some(rr) == req.firewall
        && remote.min_cpu_cores == req.min_cpu_cores
        && remote.min_memory_bytes == req.min_memory_bytes
        && remote.min_disk_bytes == req.min_disk_bytes
        && remote.image_uri == req.image_uri
        && remote.ramdisks == req.ramdisks
        && ra == req.archive_pointers
        && remote.min_babel_version == req.min_babel_version
        && remote.dns_scheme == req.dns_scheme
}

fn action(a: Action) -> i32 {
    let a = match a {
        Action::Allow => api::FirewallAction::Allow,
        Action::Deny => api::FirewallAction::Deny,
        Action::Reject => api::FirewallAction::Reject,
    };
    a as i32
}

/// The API image for a variant (properties expanded, rules and pointers sorted; decimal
/// units: MB·10^6, GB·10^9 bytes).
pub fn add_image_request(
    v: &ImageVariant,
    protocol_version_id: &str,
    min_babel: &str,
) -> api::AddImageRequest {
    let properties = expand_properties(&v.properties)
        .into_iter()
        .map(|p| api::ImageProperty {
            key: p.key,
            key_group: p.key_group,
            is_group_default: p.is_group_default.unwrap_or(false),
            new_archive: p.new_archive,
            default_value: p.default_value,
            dynamic_value: p.dynamic_value,
            ui_type: match p.ui_type {
                ExpandedUiType::Text => api::UiType::Text,
                ExpandedUiType::Password => api::UiType::Password,
                ExpandedUiType::Switch => api::UiType::Switch,
                ExpandedUiType::Enum => api::UiType::Enum,
            } as i32,
            display_name: Some(p.display_name),
            display_group: p.display_group,
            description: p.description,
            add_cpu_cores: Some(p.add_cpu_cores),
            add_memory_bytes: Some(p.add_memory_bytes),
            add_disk_bytes: Some(p.add_disk_bytes),
        })
        .collect();
    let mut rules: Vec<api::FirewallRule> = v
        .firewall_config
        .rules
        .iter()
        .map(|r| api::FirewallRule {
            key: r.key.clone(),
            description: r.description.clone(),
            protocol: match r.protocol {
                Protocol::Tcp => api::FirewallProtocol::Tcp,
                Protocol::Udp => api::FirewallProtocol::Udp,
                Protocol::Both => api::FirewallProtocol::Both,
            } as i32,
            direction: match r.direction {
                Direction::In => api::FirewallDirection::Inbound,
                Direction::Out => api::FirewallDirection::Outbound,
            } as i32,
            action: action(r.action),
            ips: r
                .ips
                .iter()
                .map(|i| api::IpName {
                    ip: i.ip.clone(),
                    name: i.name.clone(),
                })
                .collect(),
            ports: r
                .ports
                .iter()
                .map(|p| api::PortName {
                    port: u32::from(p.port),
                    name: p.name.clone(),
                })
                .collect(),
        })
        .collect();
    rules.sort_by(|a, b| a.key.cmp(&b.key));
    let mut archive_pointers: Vec<api::ArchivePointer> = v
        .archive_pointers
        .iter()
        .map(|p| {
            let mut keys = p.new_archive_properties.clone();
            keys.sort();
            api::ArchivePointer {
                new_archive_keys: keys,
                pointer: Some(match &p.pointer {
                    Pointer::StoreKey(k) => api::archive_pointer::Pointer::StoreKey(k.clone()),
                    Pointer::CombinationDisallowed => {
                        api::archive_pointer::Pointer::Disallowed(true)
                    }
                }),
            }
        })
        .collect();
    archive_pointers.sort_by(|a, b| a.new_archive_keys.cmp(&b.new_archive_keys));
    api::AddImageRequest {
        protocol_version_id: protocol_version_id.to_string(),
        org_id: v.org_id.clone(),
        description: v.description.clone(),
        properties,
        firewall: Some(api::FirewallConfig {
            default_in: action(v.firewall_config.default_in),
            default_out: action(v.firewall_config.default_out),
            rules,
        }),
        min_cpu_cores: v.min_cpu,
        min_memory_bytes: v.min_memory_mb.saturating_mul(1_000_000),
        min_disk_bytes: v.min_disk_gb.saturating_mul(1_000_000_000),
        image_uri: v.container_uri.clone(),
        ramdisks: v
            .ramdisks
            .iter()
            .map(|r| api::RamDisk {
                mount: r.mount.clone(),
                size_bytes: r.size_mb.saturating_mul(1_000_000),
            })
            .collect(),
        archive_pointers,
        min_babel_version: min_babel.to_string(),
        dns_scheme: v.dns_scheme.clone(),
        visibility: visibility(v.visibility) as i32,
    }
}

#[cfg(test)]
mod tests {
    use babel_manifest::babel_yaml::Image;

    use super::*;

    const YAML: &str = r#"
version: 2.0.0
container_uri: docker://repo/img:2
protocol_key: testing
visibility: public
dns_scheme: https
firewall_config:
  default_in: deny
  default_out: allow
  rules:
    - {key: z-rule, protocol: udp, direction: out, action: reject, ports: []}
    - {key: a-rule, protocol: tcp, direction: in, action: allow, ips: [{ip: 10.0.0.0/8}], ports: [{port: 443}]}
properties:
  - {key: pw, name: Password, default_value: "", ui_type: !password null}
  - {key: net, name: Net, default_value: main, ui_type: !enum [{value: main, name: Main}, {value: test, name: Test, impact: {new_archive: true, add_disk_gb: 2}}]}
variants:
  - key: a-b-c
    sku_code: AAA-BB-C
    archive_pointers:
      - {pointer: !store_key main-data}
      - {pointer: !combination_disallowed, new_archive_properties: [net-test]}
    min_cpu: 2
    min_memory_mb: 1500
    min_disk_gb: 3
    ramdisks: [{mount: /mnt/r, size_mb: 64}]
"#;

    fn request() -> api::AddImageRequest {
        let image = Image::from_yaml_str(YAML).unwrap();
        let v = image.pick_variant(None).unwrap();
        add_image_request(&v, "pv-1", "0.3.0")
    }

    #[test]
    fn request_converts_units_and_sorts() {
        let r = request();
        assert_eq!(r.min_memory_bytes, 1_500_000_000);
        assert_eq!(r.min_disk_bytes, 3_000_000_000);
        assert_eq!(r.ramdisks[0].size_bytes, 64_000_000);
        let fw = r.firewall.as_ref().unwrap();
        assert_eq!(fw.rules[0].key, "a-rule");
        assert_eq!(
            fw.rules[1].direction,
            api::FirewallDirection::Outbound as i32
        );
        let keys: Vec<_> = r.properties.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["net-main", "net-test", "pw"]);
        assert_eq!(r.properties[2].ui_type, api::UiType::Password as i32);
        assert_eq!(r.properties[1].add_disk_bytes, Some(2_000_000_000));
        assert!(r.properties[0].is_group_default);
        assert_eq!(
            r.archive_pointers[1].pointer,
            Some(api::archive_pointer::Pointer::Disallowed(true))
        );
        assert_eq!(r.visibility, api::Visibility::Public as i32);
        assert_eq!(r.dns_scheme.as_deref(), Some("https"));
    }

    #[test]
    fn change_detection_sees_every_node_visible_field() {
        let r = request();
        let remote = api::Image {
            org_id: r.org_id.clone(),
            description: r.description.clone(),
            properties: r.properties.iter().rev().cloned().collect(),
            firewall: r.firewall.clone(),
            min_cpu_cores: r.min_cpu_cores,
            min_memory_bytes: r.min_memory_bytes,
            min_disk_bytes: r.min_disk_bytes,
            image_uri: r.image_uri.clone(),
            ramdisks: r.ramdisks.clone(),
            archive_pointers: r.archive_pointers.iter().rev().cloned().collect(),
            min_babel_version: r.min_babel_version.clone(),
            dns_scheme: r.dns_scheme.clone(),
            ..Default::default()
        };
        assert!(same_image(&remote, &r));
        let mut changed = remote.clone();
        changed.archive_pointers[0].pointer =
            Some(api::archive_pointer::Pointer::StoreKey("other".into()));
        assert!(!same_image(&changed, &r));
        let mut changed = remote.clone();
        changed.min_babel_version = "0.1.0".into();
        assert!(!same_image(&changed, &r));
        let mut changed = remote;
        changed.dns_scheme = None;
        assert!(!same_image(&changed, &r));
    }
}
