//! The image merged with one of its variants, and node property values.

use std::collections::BTreeMap;

use super::archive::{find_pointer, new_archive_keys};
use super::{
    ArchivePointer, FirewallConfig, Image, Metadata, Pointer, Property, RamDisk, SWITCH_OFF,
    SWITCH_ON, UiType, Visibility,
};

/// Image-level fields merged with one variant: `description`, `visibility`,
/// `properties`, `firewall_config`, `dns_scheme` come from the variant when it sets them;
/// SKU, archive pointers, resources, ramdisks and metadata come from the variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageVariant {
    pub version: String,
    pub container_uri: String,
    pub protocol_key: String,
    pub org_id: Option<String>,
    /// Variant key, e.g. `reth-mainnet-full`.
    pub key: String,
    pub sku_code: Option<String>,
    pub description: Option<String>,
    pub visibility: Visibility,
    pub dns_scheme: Option<String>,
    pub properties: Vec<Property>,
    pub firewall_config: FirewallConfig,
    pub archive_pointers: Vec<ArchivePointer>,
    pub min_cpu: u64,
    pub min_memory_mb: u64,
    pub min_disk_gb: u64,
    pub ramdisks: Vec<RamDisk>,
    /// Variant metadata with `client`, `network`, `node-type` filled from the key.
    pub metadata: Vec<Metadata>,
}

/// Bad `--props` for a variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PropsError {
    #[error("property '{key}' is not defined in babel.yaml (defined: {defined})")]
    Unknown { key: String, defined: String },
    #[error("property '{key}': '{value}' is not one of: {allowed}")]
    BadValue {
        key: String,
        value: String,
        allowed: String,
    },
    #[error("properties [{0}] select a disallowed archive combination")]
    Disallowed(String),
}

/// Split a variant key from the right into (client, network, node type).
pub fn split_variant_key(key: &str) -> (Option<String>, Option<String>, Option<String>) {
    let mut parts = key.rsplitn(3, '-');
    let node_type = parts.next().filter(|s| !s.is_empty()).map(str::to_string);
    let network = parts.next().map(str::to_string);
    let client = parts.next().map(str::to_string);
    (client, network, node_type)
}

/// Why no variant could be picked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VariantError {
    #[error("variant '{0}' not found")]
    NotFound(String),
    #[error("no image variant defined")]
    NoVariants,
    /// No key was given and there is more than one variant (their keys).
    #[error("multiple variants found, please choose one with --variant: {}", .0.join(", "))]
    Ambiguous(Vec<String>),
}

impl Image {
    /// The variant named `key`, or the only one when `key` is `None`.
    pub fn pick_variant(&self, key: Option<&str>) -> Result<ImageVariant, VariantError> {
        match key {
            Some(k) => self
                .variant(k)
                .ok_or_else(|| VariantError::NotFound(k.to_string())),
            None => match self.variants.len() {
                0 => Err(VariantError::NoVariants),
                1 => Ok(self.merge(0)),
                _ => Err(VariantError::Ambiguous(
                    self.variants.iter().map(|v| v.key.clone()).collect(),
                )),
            },
        }
    }

    /// The variant named `key`, merged with the image.
    pub fn variant(&self, key: &str) -> Option<ImageVariant> {
        let idx = self.variants.iter().position(|v| v.key == key)?;
        Some(self.merge(idx))
    }

    /// Every variant, merged with the image.
    pub fn image_variants(&self) -> Vec<ImageVariant> {
        (0..self.variants.len()).map(|i| self.merge(i)).collect()
    }

    fn merge(&self, idx: usize) -> ImageVariant {
        let v = &self.variants[idx];
        let mut metadata = v.metadata.clone().unwrap_or_default();
        let (client, network, node_type) = split_variant_key(&v.key);
        for (name, value) in [
            ("node-type", node_type),
            ("network", network),
            ("client", client),
        ] {
            if let Some(value) = value
                && !metadata.iter().any(|m| m.key == name)
            {
                metadata.push(Metadata {
                    key: name.to_string(),
                    value,
                    description: None,
                });
            }
        }
        ImageVariant {
            version: self.version.clone(),
            container_uri: self.container_uri.clone(),
            protocol_key: self.protocol_key.clone(),
            org_id: self.org_id.clone(),
            key: v.key.clone(),
            sku_code: v.sku_code.clone().or_else(|| self.sku_code.clone()),
            description: v.description.clone().or_else(|| self.description.clone()),
            visibility: v.visibility.unwrap_or(self.visibility),
            dns_scheme: v.dns_scheme.clone().or_else(|| self.dns_scheme.clone()),
            properties: v
                .properties
                .clone()
                .unwrap_or_else(|| self.properties.clone()),
            firewall_config: v
                .firewall_config
                .clone()
                .unwrap_or_else(|| self.firewall_config.clone()),
            archive_pointers: v.archive_pointers.clone(),
            min_cpu: v.min_cpu,
            min_memory_mb: v.min_memory_mb,
            min_disk_gb: v.min_disk_gb,
            ramdisks: v.ramdisks.clone(),
            metadata,
        }
    }
}

impl ImageVariant {
    /// Property defaults (`key → default_value`) overridden by `props`. Unknown keys and
    /// values outside a switch/enum's options are errors, as is a combination whose archive
    /// pointer is `!combination_disallowed`.
    pub fn node_properties(
        &self,
        props: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, PropsError> {
        let mut out: BTreeMap<String, String> = self
            .properties
            .iter()
            .map(|p| (p.key.clone(), p.default_value.clone()))
            .collect();
        for (key, value) in props {
            let Some(p) = self.properties.iter().find(|p| &p.key == key) else {
                return Err(PropsError::Unknown {
                    key: key.clone(),
                    defined: self
                        .properties
                        .iter()
                        .map(|p| p.key.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            };
            let allowed: Option<Vec<String>> = match &p.ui_type {
                UiType::Switch(_) => Some(vec![SWITCH_ON.into(), SWITCH_OFF.into()]),
                UiType::Enum(o) => Some(o.iter().map(|o| o.value.clone()).collect()),
                _ => None,
            };
            if let Some(allowed) = allowed
                && !allowed.contains(value)
            {
                return Err(PropsError::BadValue {
                    key: key.clone(),
                    value: value.clone(),
                    allowed: allowed.join(", "),
                });
            }
            out.insert(key.clone(), value.clone());
        }
        if let Some(Pointer::CombinationDisallowed) = self.archive_pointer(&out) {
            let keys = new_archive_keys(&self.properties, &out);
            return Err(PropsError::Disallowed(
                keys.into_iter().collect::<Vec<_>>().join(", "),
            ));
        }
        Ok(out)
    }

    /// The archive pointer serving nodes with these property values.
    pub fn archive_pointer(&self, values: &BTreeMap<String, String>) -> Option<&Pointer> {
        find_pointer(
            &self.archive_pointers,
            &new_archive_keys(&self.properties, values),
        )
    }

    /// Image id used for dev nodes: changes with the version so upgrades are detected.
    pub fn dev_image_id(&self) -> String {
        format!("dev-node-image-id-{}", self.version)
    }
}
