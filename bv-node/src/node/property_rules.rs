//! What a property may be changed to on an existing node: the values its image allows, and
//! whether it may change while the node runs. Checked before anything changes, so a refused
//! update leaves the node as it was.

use std::collections::BTreeMap;

pub use super::error::PropertyError;
pub use super::state::PropertyRule;

/// Refuses `changes` that name an undefined property, take a value the property does not
/// allow, or change a non-dynamic property of a running node. No rules: nothing to check
/// (nodes made before rules were kept, or whose control plane checks them).
pub fn check(
    rules: &[PropertyRule],
    current: &BTreeMap<String, String>,
    changes: &BTreeMap<String, String>,
    running: bool,
) -> Result<(), PropertyError> {
    if rules.is_empty() {
        return Ok(());
    }
    for (key, value) in changes {
        let Some(rule) = rules.iter().find(|r| &r.key == key) else {
            let defined: Vec<String> = rules.iter().map(|r| r.key.clone()).collect();
            let suggestion =
                bv_base::suggest::did_you_mean(key, defined.iter().map(String::as_str))
                    .map(Into::into);
            return Err(PropertyError::Undefined {
                key: key.clone(),
                suggestion,
                defined,
            });
        };
        if !rule.allowed_values.is_empty() && !rule.allowed_values.contains(value) {
            return Err(PropertyError::NotAllowed {
                key: key.clone(),
                value: value.clone(),
                allowed: rule.allowed_values.clone(),
            });
        }
        if running && !rule.dynamic_value && current.get(key) != Some(value) {
            return Err(PropertyError::NotDynamic { key: key.clone() });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Vec<PropertyRule> {
        vec![
            PropertyRule {
                key: "sync-mode".into(),
                allowed_values: vec!["full".into(), "archive".into()],
                dynamic_value: false,
            },
            PropertyRule {
                key: "greeting".into(),
                allowed_values: vec![],
                dynamic_value: true,
            },
        ]
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn values_outside_the_allowed_set_are_refused_with_the_choices() {
        let now = map(&[("sync-mode", "full")]);
        let err = check(&rules(), &now, &map(&[("sync-mode", "turbo")]), false).unwrap_err();
        assert!(
            err.to_string()
                .contains("`turbo` is not allowed; allowed: full, archive"),
            "{err}"
        );
        assert!(check(&rules(), &now, &map(&[("sync-mode", "archive")]), false).is_ok());
        assert!(
            check(
                &rules(),
                &now,
                &map(&[("greeting", "anything at all")]),
                true
            )
            .is_ok()
        );
    }

    #[test]
    fn non_dynamic_properties_change_only_on_a_stopped_node() {
        let now = map(&[("sync-mode", "full")]);
        let err = check(&rules(), &now, &map(&[("sync-mode", "archive")]), true).unwrap_err();
        assert!(matches!(err, PropertyError::NotDynamic { .. }), "{err}");
        // The same value again is not a change.
        assert!(check(&rules(), &now, &map(&[("sync-mode", "full")]), true).is_ok());
    }

    #[test]
    fn unknown_keys_get_a_suggestion_and_no_rules_means_no_check() {
        let err = check(&rules(), &map(&[]), &map(&[("sync_mode", "full")]), false).unwrap_err();
        assert!(
            err.to_string().contains("did you mean `sync-mode`"),
            "{err}"
        );
        assert!(check(&[], &map(&[]), &map(&[("x", "y")]), true).is_ok());
    }
}
