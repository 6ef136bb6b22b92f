//! Which data archive a node uses: property values with `new_archive: true` select an
//! `archive_pointers` entry whose `new_archive_properties` equals exactly the set of their
//! expanded keys (`<key>` for text, `<key>-on|off` for switches, `<key>-<value>` for enums).

use std::collections::{BTreeMap, BTreeSet};

use super::{ArchivePointer, Pointer, Property, UiType};

/// Upper bound on enumerated property combinations (a guard against huge products).
pub const MAX_COMBINATIONS: usize = 65_536;

/// One assignment of a value to every switch/enum property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveCombination {
    /// property key → chosen value (switch/enum properties only).
    pub selection: BTreeMap<String, String>,
    /// Expanded keys of chosen values that need a different archive (plus text properties
    /// whose impact has `new_archive: true`).
    pub new_archive_keys: BTreeSet<String>,
}

impl ArchiveCombination {
    pub fn describe(&self) -> String {
        if self.selection.is_empty() {
            return "the default property values".to_string();
        }
        self.selection
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Every combination of switch/enum values, or `Err(count)` if there are more than
/// [`MAX_COMBINATIONS`].
pub fn archive_combinations(properties: &[Property]) -> Result<Vec<ArchiveCombination>, usize> {
    let mut always = BTreeSet::new();
    let mut axes: Vec<(&str, Vec<(String, bool)>)> = Vec::new();
    let mut total: usize = 1;
    for p in properties {
        match &p.ui_type {
            UiType::Text(i) | UiType::Password(i) => {
                if i.as_ref().is_some_and(|i| i.new_archive) {
                    always.insert(p.key.clone());
                }
            }
            _ => {
                let choices: Vec<(String, bool)> = p
                    .choices()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(v, i)| (v, i.is_some_and(|i| i.new_archive)))
                    .collect();
                if choices.is_empty() {
                    continue;
                }
                total = total.saturating_mul(choices.len());
                axes.push((&p.key, choices));
            }
        }
    }
    if total > MAX_COMBINATIONS {
        return Err(total);
    }
    let mut out = vec![ArchiveCombination {
        selection: BTreeMap::new(),
        new_archive_keys: always,
    }];
    for (key, choices) in axes {
        let mut next = Vec::with_capacity(out.len() * choices.len());
        for combo in &out {
            for (value, new_archive) in &choices {
                let mut c = combo.clone();
                c.selection.insert(key.to_string(), value.clone());
                if *new_archive {
                    c.new_archive_keys.insert(format!("{key}-{value}"));
                }
                next.push(c);
            }
        }
        out = next;
    }
    Ok(out)
}

/// The new-archive keys selected by concrete node property values (`key → value`).
pub fn new_archive_keys(
    properties: &[Property],
    values: &BTreeMap<String, String>,
) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for p in properties {
        match &p.ui_type {
            UiType::Text(i) | UiType::Password(i) => {
                if i.as_ref().is_some_and(|i| i.new_archive) {
                    keys.insert(p.key.clone());
                }
            }
            _ => {
                let value = values.get(&p.key).unwrap_or(&p.default_value);
                let needs = p
                    .choices()
                    .unwrap_or_default()
                    .into_iter()
                    .any(|(v, i)| &v == value && i.is_some_and(|i| i.new_archive));
                if needs {
                    keys.insert(format!("{}-{value}", p.key));
                }
            }
        }
    }
    keys
}

/// The pointer serving `keys`, if any.
pub fn find_pointer<'a>(
    pointers: &'a [ArchivePointer],
    keys: &BTreeSet<String>,
) -> Option<&'a Pointer> {
    pointers
        .iter()
        .find(|p| {
            p.new_archive_properties
                .iter()
                .cloned()
                .collect::<BTreeSet<_>>()
                == *keys
        })
        .map(|p| &p.pointer)
}

/// Every expanded key that can appear in `new_archive_properties`.
pub fn new_archive_candidates(properties: &[Property]) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for p in properties {
        match &p.ui_type {
            UiType::Text(i) | UiType::Password(i) => {
                if i.as_ref().is_some_and(|i| i.new_archive) {
                    keys.insert(p.key.clone());
                }
            }
            _ => {
                for (v, i) in p.choices().unwrap_or_default() {
                    if i.is_some_and(|i| i.new_archive) {
                        keys.insert(format!("{}-{v}", p.key));
                    }
                }
            }
        }
    }
    keys
}
