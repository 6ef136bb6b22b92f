//! `protocols.yaml`: the protocol catalog pushed with `nib protocol push`, a YAML list of
//! protocols. Parsed strictly (unknown keys are errors), validated with field paths.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::babel_yaml::validate::check_kebab_case;
use crate::babel_yaml::{BabelYamlError, Issue, Validation, Visibility, load};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocol {
    /// lower-kebab-case, unique.
    pub key: String,
    /// Display name.
    pub name: String,
    /// Owning organisation (UUID); `null` = public.
    #[serde(default)]
    pub org_id: Option<String>,
    #[serde(default)]
    pub ticker: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub visibility: Visibility,
}

/// Parse `protocols.yaml` text (no validation).
pub fn from_yaml_str(text: &str) -> Result<Vec<Protocol>, load::ParseError> {
    load::from_yaml_str(text)
}

/// Check keys, names and org ids (and that there is at least one protocol); every issue at
/// once.
pub fn validate(protocols: &[Protocol]) -> Validation {
    let mut v = Validation::default();
    if protocols.is_empty() {
        v.errors.push(Issue {
            field: "protocols".into(),
            message: "the file lists no protocol; nothing to push".into(),
            line: None,
            column: None,
        });
    }
    let mut keys = HashSet::new();
    for (i, p) in protocols.iter().enumerate() {
        let issue = |field: &str, message: String| Issue {
            field: format!("[{i}].{field}"),
            message,
            line: None,
            column: None,
        };
        if let Err(e) = check_kebab_case(&p.key) {
            v.errors
                .push(issue("key", format!("protocol key '{}' {e}", p.key)));
        }
        if !keys.insert(p.key.as_str()) {
            v.errors
                .push(issue("key", format!("duplicate protocol key '{}'", p.key)));
        }
        if p.name.trim().is_empty() {
            v.errors
                .push(issue("name", "name must not be empty".into()));
        }
        if let Some(org) = &p.org_id
            && uuid::Uuid::parse_str(org).is_err()
        {
            v.errors
                .push(issue("org_id", format!("org_id '{org}' is not a UUID")));
        }
    }
    v
}

/// Read, parse and validate a `protocols.yaml` file.
pub fn load_validated(path: &Path) -> Result<Vec<Protocol>, BabelYamlError> {
    let text = std::fs::read_to_string(path).map_err(|source| BabelYamlError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    let protocols = from_yaml_str(&text).map_err(|error| BabelYamlError::Parse {
        file: path.to_path_buf(),
        error,
    })?;
    let mut v = validate(&protocols);
    v.locate(&text);
    if v.errors.is_empty() {
        Ok(protocols)
    } else {
        Err(BabelYamlError::Invalid {
            file: path.to_path_buf(),
            issues: v.errors,
        })
    }
}
