//! Resolves a node's configuration from its image and chosen property values: the value of
//! every property, resources (image minimum plus the impacts of chosen options) and which
//! archive pointer serves the chosen `new_archive` options.

use std::collections::{BTreeMap, BTreeSet};

use babel_api::pb::api::v1 as pb;

use super::error::{ApiError, ApiResult};

/// The outcome of [`resolve`].
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub values: Vec<pb::NodePropertyValue>,
    pub vm: pb::NodeVmConfig,
    /// Store key of the matching archive pointer (None when no pointer matches).
    pub store_key: Option<String>,
}

/// `previous` are the node's current values (on update); `new_values` override them.
pub fn resolve(
    image: &pb::Image,
    previous: &[pb::NodePropertyValue],
    new_values: &[pb::NodePropertyValue],
) -> ApiResult<Resolved> {
    // Groups (switch/enum) by key_group, standalone properties by key.
    let mut groups: BTreeMap<&str, Vec<&pb::ImageProperty>> = BTreeMap::new();
    let mut singles: BTreeMap<&str, &pb::ImageProperty> = BTreeMap::new();
    for p in &image.properties {
        match p.key_group.as_deref() {
            Some(g) => groups.entry(g).or_default().push(p),
            None => {
                singles.insert(p.key.as_str(), p);
            }
        }
    }
    let mut chosen: BTreeMap<String, String> = BTreeMap::new();
    for v in previous.iter().chain(new_values) {
        if !groups.contains_key(v.key.as_str()) && !singles.contains_key(v.key.as_str()) {
            return Err(ApiError::UnknownProperty {
                key: v.key.clone(),
                known: groups
                    .keys()
                    .chain(singles.keys())
                    .map(|k| k.to_string())
                    .collect(),
            });
        }
        chosen.insert(v.key.clone(), v.value.clone());
    }
    let changed: BTreeSet<&str> = new_values.iter().map(|v| v.key.as_str()).collect();

    let mut values = Vec::new();
    let mut options: Vec<&pb::ImageProperty> = Vec::new();
    for (key, prop) in &singles {
        let value = chosen
            .get(*key)
            .cloned()
            .unwrap_or_else(|| prop.default_value.clone());
        values.push(pb::NodePropertyValue {
            key: key.to_string(),
            value,
            has_changed: changed.contains(key),
        });
        options.push(prop);
    }
    for (group, opts) in &groups {
        let option = match chosen.get(*group) {
            Some(value) => opts
                .iter()
                .find(|o| &o.default_value == value)
                .ok_or_else(|| ApiError::UnknownOption {
                    group: group.to_string(),
                    value: value.clone(),
                    options: opts.iter().map(|o| o.default_value.clone()).collect(),
                })?,
            None => opts
                .iter()
                .find(|o| o.is_group_default)
                .or(opts.first())
                .ok_or_else(|| ApiError::NoOptions {
                    group: group.to_string(),
                })?,
        };
        values.push(pb::NodePropertyValue {
            key: group.to_string(),
            value: option.default_value.clone(),
            has_changed: changed.contains(group),
        });
        options.push(option);
    }

    let add = |base: u64, f: fn(&pb::ImageProperty) -> Option<i64>| -> u64 {
        let delta: i64 = options.iter().filter_map(|o| f(o)).sum();
        (base as i64).saturating_add(delta).max(0) as u64
    };
    let vm = pb::NodeVmConfig {
        cpu_cores: add(image.min_cpu_cores, |o| o.add_cpu_cores),
        memory_bytes: add(image.min_memory_bytes, |o| o.add_memory_bytes),
        disk_bytes: add(image.min_disk_bytes, |o| o.add_disk_bytes),
        ramdisks: image.ramdisks.clone(),
    };

    let archive_keys: BTreeSet<&str> = options
        .iter()
        .filter(|o| o.new_archive)
        .map(|o| o.key.as_str())
        .collect();
    let mut store_key = None;
    for pointer in &image.archive_pointers {
        let keys: BTreeSet<&str> = pointer
            .new_archive_keys
            .iter()
            .map(String::as_str)
            .collect();
        if keys != archive_keys {
            continue;
        }
        match &pointer.pointer {
            Some(pb::archive_pointer::Pointer::StoreKey(k)) => store_key = Some(k.clone()),
            Some(pb::archive_pointer::Pointer::Disallowed(_)) | None => {
                return Err(ApiError::DisallowedCombination {
                    keys: archive_keys.iter().map(|k| k.to_string()).collect(),
                });
            }
        }
        break;
    }
    Ok(Resolved {
        values,
        vm,
        store_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prop(
        key: &str,
        group: Option<&str>,
        value: &str,
        default: bool,
        new_archive: bool,
    ) -> pb::ImageProperty {
        pb::ImageProperty {
            key: key.into(),
            key_group: group.map(Into::into),
            is_group_default: default,
            new_archive,
            default_value: value.into(),
            ..Default::default()
        }
    }

    fn image() -> pb::Image {
        let mut archive_opt = prop("network-testnet", Some("network"), "testnet", false, true);
        archive_opt.add_disk_bytes = Some(1_000);
        pb::Image {
            min_cpu_cores: 2,
            min_memory_bytes: 100,
            min_disk_bytes: 10_000,
            properties: vec![
                prop("rpc-port", None, "8545", false, false),
                prop("network-mainnet", Some("network"), "mainnet", true, true),
                archive_opt,
                prop("archive-on", Some("archive"), "on", false, true),
                prop("archive-off", Some("archive"), "off", true, false),
            ],
            archive_pointers: vec![
                pb::ArchivePointer {
                    new_archive_keys: vec!["network-mainnet".into()],
                    pointer: Some(pb::archive_pointer::Pointer::StoreKey("eth-main".into())),
                },
                pb::ArchivePointer {
                    new_archive_keys: vec!["network-testnet".into()],
                    pointer: Some(pb::archive_pointer::Pointer::StoreKey("eth-test".into())),
                },
                pb::ArchivePointer {
                    new_archive_keys: vec!["archive-on".into(), "network-testnet".into()],
                    pointer: Some(pb::archive_pointer::Pointer::Disallowed(true)),
                },
            ],
            ..Default::default()
        }
    }

    fn val(key: &str, value: &str) -> pb::NodePropertyValue {
        pb::NodePropertyValue {
            key: key.into(),
            value: value.into(),
            has_changed: false,
        }
    }

    #[test]
    fn defaults_pick_group_defaults_and_archive() {
        let r = resolve(&image(), &[], &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.store_key.as_deref(), Some("eth-main"));
        let v: Vec<_> = r
            .values
            .iter()
            .map(|v| (v.key.as_str(), v.value.as_str()))
            .collect();
        assert_eq!(
            v,
            [
                ("rpc-port", "8545"),
                ("archive", "off"),
                ("network", "mainnet")
            ]
        );
        assert_eq!(r.vm.disk_bytes, 10_000);
    }

    #[test]
    fn chosen_option_changes_archive_and_resources() {
        let r =
            resolve(&image(), &[], &[val("network", "testnet")]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.store_key.as_deref(), Some("eth-test"));
        assert_eq!(r.vm.disk_bytes, 11_000);
        assert!(r.values.iter().any(|v| v.key == "network" && v.has_changed));
    }

    #[test]
    fn disallowed_unknown_and_bad_values_fail() {
        let img = image();
        let e = resolve(
            &img,
            &[],
            &[val("network", "testnet"), val("archive", "on")],
        );
        assert_eq!(
            e.map_err(|e| tonic::Status::from(e).code()).err(),
            Some(tonic::Code::FailedPrecondition)
        );
        let e = resolve(&img, &[], &[val("nope", "x")]);
        assert_eq!(
            e.map_err(|e| tonic::Status::from(e).code()).err(),
            Some(tonic::Code::InvalidArgument)
        );
        let e = resolve(&img, &[], &[val("network", "devnet")]);
        assert_eq!(
            e.map_err(|e| tonic::Status::from(e).code()).err(),
            Some(tonic::Code::InvalidArgument)
        );
    }

    #[test]
    fn no_matching_pointer_means_no_archive() {
        let r = resolve(&image(), &[], &[val("archive", "on")]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.store_key, None);
    }
}
