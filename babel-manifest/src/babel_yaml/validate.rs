//! Validation rules of `babel.yaml` (run by `nib image check` and `nib image push`).
//! All issues are collected, each naming its field path; [`Validation::locate`] adds lines.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::net::IpAddr;

use super::archive::{archive_combinations, find_pointer, new_archive_candidates};
use super::locate::locate;
use super::{FirewallConfig, Image, Pointer, Property, SWITCH_OFF, SWITCH_ON, UiType};

/// Most firewall rules a node accepts.
pub const MAX_FIREWALL_RULES: usize = 128;
/// Missing archive combinations listed before the rest are summarised.
const MAX_LISTED_COMBINATIONS: usize = 10;

/// One validation finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Field path, e.g. `variants[0].sku_code`.
    pub field: String,
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, "{l}:{c}:")?;
        }
        write!(f, " {}: {}", self.field, self.message)
    }
}

/// Result of [`Image::validate`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validation {
    pub errors: Vec<Issue>,
    pub warnings: Vec<Issue>,
}

impl Validation {
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// Fill in line/column of every issue from the document's text.
    pub fn locate(&mut self, text: &str) {
        for issue in self.errors.iter_mut().chain(self.warnings.iter_mut()) {
            if let Some((l, c)) = locate(text, &issue.field) {
                issue.line = Some(l);
                issue.column = Some(c);
            }
        }
    }

    fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(Issue {
            field: field.into(),
            message: message.into(),
            line: None,
            column: None,
        });
    }

    fn warn(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Issue {
            field: field.into(),
            message: message.into(),
            line: None,
            column: None,
        });
    }

    fn kebab(&mut self, field: impl Into<String>, what: &str, value: &str) {
        if let Err(e) = check_kebab_case(value) {
            self.error(field, format!("{what} '{value}' {e}"));
        }
    }
}

/// Why a key is not lower-kebab-case; the text follows the key it describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KebabCaseError {
    #[error("must not be empty")]
    Empty,
    #[error("must be lower-kebab-case (only a-z, 0-9 and '-')")]
    Characters,
    #[error("must be lower-kebab-case (no leading, trailing or double '-')")]
    Dashes,
}

/// Non-empty, `a-z0-9-` only, no leading/trailing/double `-`.
pub fn check_kebab_case(value: &str) -> Result<(), KebabCaseError> {
    if value.is_empty() {
        return Err(KebabCaseError::Empty);
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(KebabCaseError::Characters);
    }
    if value.starts_with('-') || value.ends_with('-') || value.contains("--") {
        return Err(KebabCaseError::Dashes);
    }
    Ok(())
}

/// An `sku_code` that isn't three `-`-separated sections of `A-Z0-9`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid sku_code '{0}': expected three non-empty sections of A-Z and 0-9 \
     separated by '-': <protocol>-<client>-<node type>, e.g. ETH-ERG-SF"
)]
pub struct SkuError(pub String);

/// Three non-empty `-`-separated sections of `A-Z0-9`, e.g. `ETH-ERG-SF`.
pub fn check_sku(sku: &str) -> Result<(), SkuError> {
    let sections: Vec<&str> = sku.split('-').collect();
    let ok = sections.len() == 3
        && sections.iter().all(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        });
    if ok {
        Ok(())
    } else {
        Err(SkuError(sku.to_string()))
    }
}

/// Why a `container_uri` can't be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid container_uri '{uri}': {problem}")]
pub struct ContainerUriError {
    pub uri: String,
    pub problem: ContainerUriProblem,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ContainerUriProblem {
    #[error("contains whitespace")]
    Whitespace,
    #[error("expected docker://<image>, docker-daemon://<image> or oci:<dir>[:<tag>]")]
    Scheme,
    #[error("missing image reference")]
    MissingReference,
    #[error("image reference contains invalid characters")]
    Characters,
}

/// `docker://<ref>`, `docker-daemon://<ref>` or `oci:<path>[:<tag>]`.
pub fn check_container_uri(uri: &str) -> Result<(), ContainerUriError> {
    let bad = |problem| {
        Err(ContainerUriError {
            uri: uri.to_string(),
            problem,
        })
    };
    if uri.chars().any(char::is_whitespace) {
        return bad(ContainerUriProblem::Whitespace);
    }
    let reference = if let Some(r) = uri.strip_prefix("docker://") {
        r
    } else if let Some(r) = uri.strip_prefix("docker-daemon://") {
        r
    } else if let Some(r) = uri.strip_prefix("oci:") {
        r
    } else {
        return bad(ContainerUriProblem::Scheme);
    };
    if reference.is_empty() || reference.starts_with(':') {
        return bad(ContainerUriProblem::MissingReference);
    }
    if !reference
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/:._-@+".contains(c))
    {
        return bad(ContainerUriProblem::Characters);
    }
    Ok(())
}

/// A CIDR (`10.0.0.0/8`) or a bare address.
pub fn check_cidr(ip: &str) -> bool {
    cidr_ok(ip).is_some()
}

fn cidr_ok(ip: &str) -> Option<()> {
    let (addr, prefix) = match ip.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (ip, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    if let Some(p) = prefix {
        let p: u8 = p.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if p > max {
            return None;
        }
    }
    Some(())
}

impl Image {
    /// Check every rule for the image and every variant; never stops at the first issue.
    pub fn validate(&self) -> Validation {
        let mut v = Validation::default();
        if semver::Version::parse(&self.version).is_err() {
            v.error(
                "version",
                format!(
                    "version must be semantic (e.g. 1.2.3), got '{}'",
                    self.version
                ),
            );
        }
        if let Err(e) = check_container_uri(&self.container_uri) {
            v.error("container_uri", e.to_string());
        }
        v.kebab("protocol_key", "protocol_key", &self.protocol_key);
        if let Some(org) = &self.org_id
            && uuid::Uuid::parse_str(org).is_err()
        {
            v.error("org_id", format!("org_id '{org}' is not a UUID"));
        }
        validate_properties(&mut v, "properties", &self.properties);
        validate_firewall(&mut v, "firewall_config", &self.firewall_config);
        if self.variants.is_empty() {
            v.error("variants", "no image variant defined");
        }
        let mut keys = HashSet::new();
        for (i, variant) in self.variants.iter().enumerate() {
            let at = format!("variants[{i}]");
            v.kebab(format!("{at}.key"), "variant key", &variant.key);
            if !keys.insert(variant.key.as_str()) {
                v.error(
                    format!("{at}.key"),
                    format!("duplicate variant key '{}'", variant.key),
                );
            }
            match (&variant.sku_code, &self.sku_code) {
                (Some(sku), _) => {
                    if let Err(e) = check_sku(sku) {
                        v.error(format!("{at}.sku_code"), e.to_string());
                    }
                }
                (None, Some(sku)) => {
                    if let Err(e) = check_sku(sku) {
                        v.error(
                            format!("{at}.sku_code"),
                            format!("missing, and the image-level sku_code is unusable: {e}"),
                        );
                    }
                }
                (None, None) => v.error(format!("{at}.sku_code"), "missing sku_code"),
            }
            let mut meta = HashSet::new();
            for (j, m) in variant.metadata.iter().flatten().enumerate() {
                v.kebab(format!("{at}.metadata[{j}].key"), "metadata key", &m.key);
                if !meta.insert(m.key.as_str()) {
                    v.error(
                        format!("{at}.metadata[{j}].key"),
                        format!("duplicate metadata key '{}'", m.key),
                    );
                }
            }
            if variant.min_cpu == 0 {
                v.error(format!("{at}.min_cpu"), "a node needs at least one CPU");
            }
            if variant.min_memory_mb == 0 {
                v.error(format!("{at}.min_memory_mb"), "a node needs some memory");
            }
            let mut mounts = HashSet::new();
            for (j, r) in variant.ramdisks.iter().enumerate() {
                let f = format!("{at}.ramdisks[{j}]");
                if !r.mount.starts_with('/') {
                    v.error(
                        format!("{f}.mount"),
                        format!("'{}' is not an absolute path", r.mount),
                    );
                }
                if !mounts.insert(r.mount.as_str()) {
                    v.error(
                        format!("{f}.mount"),
                        format!("duplicate ramdisk mount '{}'", r.mount),
                    );
                }
                if r.size_mb == 0 {
                    v.error(format!("{f}.size_mb"), "ramdisk size must be positive");
                }
            }
            if let Some(props) = &variant.properties {
                validate_properties(&mut v, &format!("{at}.properties"), props);
            }
            if let Some(fw) = &variant.firewall_config {
                validate_firewall(&mut v, &format!("{at}.firewall_config"), fw);
            }
            let props = variant.properties.as_ref().unwrap_or(&self.properties);
            validate_archive_pointers(&mut v, &at, variant, props);
        }
        v
    }
}

fn validate_properties(v: &mut Validation, at: &str, props: &[Property]) {
    let mut keys = HashSet::new();
    for (i, p) in props.iter().enumerate() {
        let f = format!("{at}[{i}]");
        v.kebab(format!("{f}.key"), "property key", &p.key);
        if !keys.insert(p.key.as_str()) {
            v.error(
                format!("{f}.key"),
                format!("duplicate property key '{}'", p.key),
            );
        }
        if p.required.is_some() {
            v.warn(
                format!("{f}.required"),
                "`required` is deprecated and ignored: every property has a default_value",
            );
        }
        if p.name.trim().is_empty() {
            v.error(format!("{f}.name"), "property name must not be empty");
        }
        match &p.ui_type {
            UiType::Text(_) | UiType::Password(_) => {}
            UiType::Switch(_) => {
                if p.default_value != SWITCH_ON && p.default_value != SWITCH_OFF {
                    v.error(
                        format!("{f}.default_value"),
                        format!(
                            "switch default must be 'on' or 'off', got '{}'",
                            p.default_value
                        ),
                    );
                }
            }
            UiType::Enum(options) => {
                if options.is_empty() {
                    v.error(format!("{f}.ui_type"), "enum has no options");
                }
                let mut values = HashSet::new();
                for (j, o) in options.iter().enumerate() {
                    v.kebab(format!("{f}.ui_type[{j}].value"), "enum value", &o.value);
                    if !values.insert(o.value.as_str()) {
                        v.error(
                            format!("{f}.ui_type[{j}].value"),
                            format!("duplicate enum value '{}'", o.value),
                        );
                    }
                }
                if !options.iter().any(|o| o.value == p.default_value) {
                    v.error(
                        format!("{f}.default_value"),
                        format!("'{}' is not one of the enum values", p.default_value),
                    );
                }
            }
        }
    }
}

fn validate_firewall(v: &mut Validation, at: &str, fw: &FirewallConfig) {
    if fw.rules.len() > MAX_FIREWALL_RULES {
        v.error(
            format!("{at}.rules"),
            format!(
                "{} rules; at most {MAX_FIREWALL_RULES} allowed",
                fw.rules.len()
            ),
        );
    }
    let mut keys = HashSet::new();
    for (i, rule) in fw.rules.iter().enumerate() {
        let f = format!("{at}.rules[{i}]");
        v.kebab(format!("{f}.key"), "firewall rule key", &rule.key);
        if !keys.insert(rule.key.as_str()) {
            v.error(
                format!("{f}.key"),
                format!("duplicate rule key '{}'", rule.key),
            );
        }
        for (j, ip) in rule.ips.iter().enumerate() {
            if !check_cidr(&ip.ip) {
                v.error(
                    format!("{f}.ips[{j}].ip"),
                    format!("invalid ip ({}) in rule '{}'", ip.ip, rule.key),
                );
            }
        }
        if rule.ports.is_empty() {
            v.warn(
                format!("{f}.ports"),
                format!("rule '{}' has no ports: it applies to ALL ports", rule.key),
            );
        }
    }
}

fn validate_archive_pointers(
    v: &mut Validation,
    at: &str,
    variant: &super::Variant,
    props: &[Property],
) {
    let candidates = new_archive_candidates(props);
    let mut seen: Vec<BTreeSet<String>> = Vec::new();
    for (j, p) in variant.archive_pointers.iter().enumerate() {
        let f = format!("{at}.archive_pointers[{j}]");
        if p.legacy_store_key.is_some() {
            v.warn(
                format!("{f}.legacy_store_key"),
                "`legacy_store_key` is deprecated and ignored: use `pointer: !store_key <key>`",
            );
        }
        if let Pointer::StoreKey(key) = &p.pointer {
            v.kebab(format!("{f}.pointer"), "store_key", key);
        }
        for name in &p.new_archive_properties {
            if !candidates.contains(name) {
                let known = if candidates.is_empty() {
                    "no property value has new_archive: true".to_string()
                } else {
                    format!(
                        "expected one of: {}",
                        candidates.iter().cloned().collect::<Vec<_>>().join(", ")
                    )
                };
                v.error(
                    format!("{f}.new_archive_properties"),
                    format!("'{name}' is not a property value with new_archive: true ({known})"),
                );
            }
        }
        let set: BTreeSet<String> = p.new_archive_properties.iter().cloned().collect();
        if seen.contains(&set) {
            v.error(
                format!("{f}.new_archive_properties"),
                format!(
                    "another archive pointer already covers [{}]",
                    set.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            );
        }
        seen.push(set);
    }
    let combos = match archive_combinations(props) {
        Ok(c) => c,
        Err(n) => {
            v.error(
                format!("{at}.archive_pointers"),
                format!("{n} property combinations; too many to check"),
            );
            return;
        }
    };
    let missing: Vec<_> = combos
        .iter()
        .filter(|c| find_pointer(&variant.archive_pointers, &c.new_archive_keys).is_none())
        .collect();
    for c in missing.iter().take(MAX_LISTED_COMBINATIONS) {
        v.error(
            format!("{at}.archive_pointers"),
            format!(
                "variant '{}': no archive pointer for {} (needs new_archive_properties: [{}])",
                variant.key,
                c.describe(),
                c.new_archive_keys
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    if missing.len() > MAX_LISTED_COMBINATIONS {
        v.error(
            format!("{at}.archive_pointers"),
            format!(
                "variant '{}': and {} more combinations without an archive pointer",
                variant.key,
                missing.len() - MAX_LISTED_COMBINATIONS
            ),
        );
    }
}
