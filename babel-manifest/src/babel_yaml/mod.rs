//! The `babel.yaml` image definition: one protocol image with one or more variants.
//!
//! Parsing is strict: unknown keys are rejected everywhere (typos such as `add_disk_bg` are
//! errors, not silently ignored), enums use YAML tags (`!text`, `!password`, `!switch`,
//! `!enum`, `!store_key`, `!combination_disallowed`), anchors/aliases and `<<` merge keys are
//! supported. Every error names the file, line, column and field path.
//!
//! * [`Image::load`] / [`Image::from_yaml_str`]: parse.
//! * [`Image::validate`]: every rule of the image format (kebab-case keys, SKU format,
//!   semver, container URI, CIDRs, property defaults, archive pointers covering every
//!   combination of `new_archive` property values, for every variant), all issues at once.
//! * [`Image::pick_variant`] / [`ImageVariant`]: the image merged with one variant.
//! * [`ImageVariant::node_properties`]: property defaults merged with `--props`.
//! * [`ImageVariant::dev_node_spec`]: the local daemon's `NodeSpec` for a dev node.

pub mod archive;
mod expand;
pub(crate) mod load;
mod locate;
pub mod node_spec;
#[cfg(feature = "schema")]
pub mod schema;
pub mod validate;
pub mod variant;

use serde::{Deserialize, Serialize};

pub use archive::{ArchiveCombination, archive_combinations};
pub use expand::{ExpandedProperty, ExpandedUiType, expand_properties};
pub use load::{BabelYamlError, ParseError, PropsTextError, parse_props};
pub use node_spec::DevNodeOptions;
pub use validate::{Issue, Validation};
pub use variant::{ImageVariant, PropsError, VariantError};

/// Top level of `babel.yaml`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    /// Semantic version of this definition; bump it on every change.
    pub version: String,
    /// Where the node's root filesystem comes from: `docker://repo/name:tag`,
    /// `docker-daemon://name:tag` or `oci:/path/to/layout[:tag]`.
    pub container_uri: String,
    /// Image-level SKU prefix carried by real-world images; used for variants without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku_code: Option<String>,
    /// Protocol this image belongs to (must exist in the API, see `protocols.yaml`).
    pub protocol_key: String,
    /// Owning organisation (UUID); `null` = public.
    #[serde(default)]
    pub org_id: Option<String>,
    #[serde(default)]
    pub dns_scheme: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub visibility: Visibility,
    pub firewall_config: FirewallConfig,
    pub properties: Vec<Property>,
    pub variants: Vec<Variant>,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Public,
    Private,
    Development,
}

impl Visibility {
    pub fn as_str(&self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
            Visibility::Development => "development",
        }
    }
}

/// One variant (`<client>-<network>-<node-type>`) of the image.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub key: String,
    #[serde(default)]
    pub metadata: Option<Vec<Metadata>>,
    /// `AAA-BBB-CCC`; falls back to the image-level `sku_code`.
    #[serde(default)]
    pub sku_code: Option<String>,
    pub archive_pointers: Vec<ArchivePointer>,
    pub min_cpu: u64,
    /// Decimal megabytes (10^6 bytes).
    pub min_memory_mb: u64,
    /// Decimal gigabytes (10^9 bytes).
    pub min_disk_gb: u64,
    #[serde(default)]
    pub ramdisks: Vec<RamDisk>,
    // Per-variant overrides: replace (not merge) the image-level value.
    #[serde(default)]
    pub dns_scheme: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub visibility: Option<Visibility>,
    #[serde(default)]
    pub properties: Option<Vec<Property>>,
    #[serde(default)]
    pub firewall_config: Option<FirewallConfig>,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    pub key: String,
    pub value: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// Which data archive serves one combination of `new_archive` property values.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchivePointer {
    pub pointer: Pointer,
    /// Expanded property keys (`<key>` for text, `<key>-on|off` for switches,
    /// `<key>-<value>` for enums) whose selected value has `new_archive: true`.
    #[serde(default)]
    pub new_archive_properties: Vec<String>,
    /// Earlier format's store key field; accepted with a deprecation warning (the key is
    /// `pointer: !store_key <key>`).
    #[serde(default, skip_serializing)]
    pub legacy_store_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pointer {
    /// `!store_key <key>` (`!store_id` accepted as a legacy spelling).
    #[serde(alias = "store_id")]
    StoreKey(String),
    /// `!combination_disallowed`: nodes with this combination cannot be created.
    CombinationDisallowed,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RamDisk {
    pub mount: String,
    /// Decimal megabytes.
    pub size_mb: u64,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirewallConfig {
    pub default_in: Action,
    pub default_out: Action,
    #[serde(default)]
    pub rules: Vec<FirewallRule>,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    Deny,
    Reject,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Both,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirewallRule {
    pub key: String,
    #[serde(default)]
    pub description: Option<String>,
    pub protocol: Protocol,
    pub direction: Direction,
    pub action: Action,
    /// Empty = any address.
    #[serde(default)]
    pub ips: Vec<IpName>,
    /// Empty = every port (a warning is shown).
    pub ports: Vec<PortName>,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpName {
    /// CIDR (`10.0.0.0/8`) or a bare address.
    pub ip: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortName {
    pub port: u16,
    #[serde(default)]
    pub name: Option<String>,
}

/// A user-settable node property, read by the plugin as `node_params()["<key>"]`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Property {
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub dynamic_value: bool,
    pub default_value: String,
    pub ui_type: UiType,
    /// Earlier format's flag; accepted with a deprecation warning (every property has a
    /// `default_value`, so none is required).
    #[serde(default, skip_serializing)]
    pub required: Option<bool>,
}

/// How a property is presented, and what choosing a value costs (YAML tags).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UiType {
    /// `!text <impact|null>`
    Text(Option<Impact>),
    /// `!password <impact|null>`
    Password(Option<Impact>),
    /// `!switch {on: <impact|null>, off: <impact|null>}`; values are `on` / `off`.
    Switch(SwitchImpacts),
    /// `!enum [{value, name, impact}]`
    Enum(Vec<EnumOption>),
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchImpacts {
    #[serde(default)]
    pub on: Option<Impact>,
    #[serde(default)]
    pub off: Option<Impact>,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnumOption {
    pub value: String,
    pub name: String,
    #[serde(default)]
    pub impact: Option<Impact>,
}

/// Resource deltas of a property value, and whether it needs a different data archive.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Impact {
    #[serde(default)]
    pub new_archive: bool,
    #[serde(default)]
    pub add_cpu: Option<i64>,
    #[serde(default)]
    pub add_memory_mb: Option<i64>,
    #[serde(default)]
    pub add_disk_gb: Option<i64>,
}

/// `on` / `off`, the values of a `!switch` property.
pub const SWITCH_ON: &str = "on";
pub const SWITCH_OFF: &str = "off";

impl Property {
    /// Every value this property may take with its impact; `None` for free text.
    pub fn choices(&self) -> Option<Vec<(String, Option<&Impact>)>> {
        match &self.ui_type {
            UiType::Text(_) | UiType::Password(_) => None,
            UiType::Switch(s) => Some(vec![
                (SWITCH_ON.to_string(), s.on.as_ref()),
                (SWITCH_OFF.to_string(), s.off.as_ref()),
            ]),
            UiType::Enum(options) => Some(
                options
                    .iter()
                    .map(|o| (o.value.clone(), o.impact.as_ref()))
                    .collect(),
            ),
        }
    }
}
