//! Properties as the control-plane API stores them: one entry per text/password
//! property, two per switch (`<key>-on`, `<key>-off`), one per enum option (`<key>-<value>`).
//! Passwords stay `Password`, so their values are never shown as text.

use super::{Impact, Property, SWITCH_OFF, SWITCH_ON, UiType};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExpandedUiType {
    Text,
    Password,
    Switch,
    Enum,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExpandedProperty {
    pub key: String,
    /// The property key, for switch/enum entries.
    pub key_group: Option<String>,
    pub display_name: String,
    /// The property name, for switch/enum entries.
    pub display_group: Option<String>,
    pub ui_type: ExpandedUiType,
    pub default_value: String,
    /// Whether this entry is the group's default (switch/enum only).
    pub is_group_default: Option<bool>,
    pub dynamic_value: bool,
    pub description: Option<String>,
    pub new_archive: bool,
    pub add_cpu_cores: i64,
    /// Decimal bytes (MB · 10^6).
    pub add_memory_bytes: i64,
    /// Decimal bytes (GB · 10^9).
    pub add_disk_bytes: i64,
}

/// Expand properties, sorted by key.
pub fn expand_properties(props: &[Property]) -> Vec<ExpandedProperty> {
    let mut out = Vec::new();
    for p in props {
        let base = |key: String, impact: Option<&Impact>, ui_type, default_value: String| {
            let i = impact.cloned().unwrap_or_default();
            ExpandedProperty {
                key,
                key_group: None,
                display_name: p.name.clone(),
                display_group: None,
                ui_type,
                default_value,
                is_group_default: None,
                dynamic_value: p.dynamic_value,
                description: p.description.clone(),
                new_archive: i.new_archive,
                add_cpu_cores: i.add_cpu.unwrap_or(0),
                add_memory_bytes: i.add_memory_mb.unwrap_or(0).saturating_mul(1_000_000),
                add_disk_bytes: i.add_disk_gb.unwrap_or(0).saturating_mul(1_000_000_000),
            }
        };
        let grouped = |mut e: ExpandedProperty, value: &str, name: &str| {
            e.key_group = Some(p.key.clone());
            e.display_group = Some(p.name.clone());
            e.display_name = name.to_string();
            e.is_group_default = Some(p.default_value == value);
            e
        };
        match &p.ui_type {
            UiType::Text(i) => out.push(base(
                p.key.clone(),
                i.as_ref(),
                ExpandedUiType::Text,
                p.default_value.clone(),
            )),
            UiType::Password(i) => out.push(base(
                p.key.clone(),
                i.as_ref(),
                ExpandedUiType::Password,
                p.default_value.clone(),
            )),
            UiType::Switch(s) => {
                for (value, impact) in [(SWITCH_ON, s.on.as_ref()), (SWITCH_OFF, s.off.as_ref())] {
                    let e = base(
                        format!("{}-{value}", p.key),
                        impact,
                        ExpandedUiType::Switch,
                        value.to_string(),
                    );
                    out.push(grouped(e, value, &p.name));
                }
            }
            UiType::Enum(options) => {
                for o in options {
                    let e = base(
                        format!("{}-{}", p.key, o.value),
                        o.impact.as_ref(),
                        ExpandedUiType::Enum,
                        o.value.clone(),
                    );
                    out.push(grouped(e, &o.value, &o.name));
                }
            }
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}
