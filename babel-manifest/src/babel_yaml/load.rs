//! Strict YAML loading with `file:line:column: field: message` errors.
//!
//! Documents are deserialized straight from the YAML event stream so serde_norway reports
//! positions. `<<` merge keys are not understood by that path, so documents that use them
//! are first read into a `Value`, merged, then deserialized; the failing field's line is
//! then recovered by walking the original text along the error's field path ([`locate`](super::locate::locate)).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::Image;
use super::locate::locate;
use super::validate::Issue;

/// A parse error inside one YAML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Path of the offending field, e.g. `variants[0].archive_pointers[1].pointer`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, "{l}:{c}: ")?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        write!(f, "{}", self.message)
    }
}

/// Anything that can go wrong loading or validating a YAML definition file.
#[derive(Debug, thiserror::Error)]
pub enum BabelYamlError {
    #[error("{}: {source}", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{error}", file.display())]
    Parse { file: PathBuf, error: ParseError },
    #[error("{} is invalid:\n{}", file.display(), format_issues(file, issues))]
    Invalid { file: PathBuf, issues: Vec<Issue> },
}

fn format_issues(file: &Path, issues: &[Issue]) -> String {
    issues
        .iter()
        .map(|i| format!("  {}:{i}", file.display()))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Image {
    /// Parse `babel.yaml` text (no validation).
    pub fn from_yaml_str(text: &str) -> Result<Image, ParseError> {
        from_yaml_str(text)
    }

    /// Read and parse a `babel.yaml` file (no validation).
    pub fn load(path: &Path) -> Result<Image, BabelYamlError> {
        load_file(path)
    }

    /// Read, parse and [`validate`](Image::validate) a file; issues carry line numbers.
    /// Returns the image and its warnings.
    pub fn load_validated(path: &Path) -> Result<(Image, Vec<Issue>), BabelYamlError> {
        let text = read(path)?;
        let image = from_yaml_str::<Image>(&text).map_err(|error| BabelYamlError::Parse {
            file: path.to_path_buf(),
            error,
        })?;
        let mut validation = image.validate();
        validation.locate(&text);
        if validation.errors.is_empty() {
            Ok((image, validation.warnings))
        } else {
            Err(BabelYamlError::Invalid {
                file: path.to_path_buf(),
                issues: validation.errors,
            })
        }
    }
}

fn read(path: &Path) -> Result<String, BabelYamlError> {
    std::fs::read_to_string(path).map_err(|source| BabelYamlError::Read {
        file: path.to_path_buf(),
        source,
    })
}

/// Read and strictly parse any YAML model file.
pub fn load_file<T: DeserializeOwned>(path: &Path) -> Result<T, BabelYamlError> {
    let text = read(path)?;
    from_yaml_str(&text).map_err(|error| BabelYamlError::Parse {
        file: path.to_path_buf(),
        error,
    })
}

/// Strictly parse YAML text into `T`, with position and field path on error.
pub fn from_yaml_str<T: DeserializeOwned>(text: &str) -> Result<T, ParseError> {
    if uses_merge_keys(text) {
        return from_merged(text);
    }
    let de = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let field = err.path().to_string();
        let inner = err.into_inner();
        let loc = inner.location();
        ParseError {
            line: loc.as_ref().map(|l| l.line()),
            column: loc.as_ref().map(|l| l.column()),
            message: strip_position(&inner.to_string(), &field),
            field: clean_path(&field),
        }
    })
}

fn from_merged<T: DeserializeOwned>(text: &str) -> Result<T, ParseError> {
    let mut value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| {
        let loc = e.location();
        ParseError {
            line: loc.as_ref().map(|l| l.line()),
            column: loc.as_ref().map(|l| l.column()),
            field: String::new(),
            message: strip_position(&e.to_string(), ""),
        }
    })?;
    value.apply_merge().map_err(|e| ParseError {
        line: None,
        column: None,
        field: String::new(),
        message: e.to_string(),
    })?;
    serde_path_to_error::deserialize(value).map_err(|err| {
        let field = clean_path(&err.path().to_string());
        let (line, column) = locate(text, &field).unzip();
        let message = err.into_inner().to_string();
        ParseError {
            line,
            column,
            message: format!("{message}{}", unknown_field_hint(&message)),
            field,
        }
    })
}

/// True if any mapping key is the YAML merge key `<<`.
fn uses_merge_keys(text: &str) -> bool {
    text.lines().any(|l| {
        let t = l.trim_start().trim_start_matches("- ").trim_start();
        t.starts_with("<<:")
            || t.starts_with("\"<<\":")
            || l.contains("{<<:")
            || l.contains(", <<:")
    })
}

/// serde_path_to_error prints the root as `.`; we print nothing.
fn clean_path(path: &str) -> String {
    if path == "." {
        String::new()
    } else {
        path.to_string()
    }
}

/// serde_norway's message includes `path: ` and ` at line L column C`; keep the message.
fn strip_position(msg: &str, path: &str) -> String {
    let mut m = msg;
    if !path.is_empty()
        && let Some(rest) = m.strip_prefix(path).and_then(|r| r.strip_prefix(": "))
    {
        m = rest;
    }
    if let Some(idx) = m.rfind(" at line ") {
        m = &m[..idx];
    }
    format!("{m}{}", unknown_field_hint(m))
}

/// ` (did you mean `x`?)` for serde's "unknown field `a`, expected one of `b`, `c`".
fn unknown_field_hint(message: &str) -> String {
    let Some((_, rest)) = message.split_once("unknown field `") else {
        return String::new();
    };
    let Some((name, expected)) = rest.split_once('`') else {
        return String::new();
    };
    let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    bv_base::suggest::hint(name, known)
}

/// Why `--props` text is not a property map.
#[derive(Debug, thiserror::Error)]
pub enum PropsTextError {
    #[error("--props is not JSON/YAML: {0}")]
    Syntax(#[source] serde_yaml::Error),
    #[error("--props must be a mapping of property key to value")]
    NotAMapping,
    #[error("--props keys must be strings")]
    KeyNotAString,
    #[error("--props: value of '{0}' must be a scalar")]
    ValueNotAScalar(String),
}

/// Parse `--props` (a JSON or YAML mapping); scalar values are converted to strings.
pub fn parse_props(text: &str) -> Result<BTreeMap<String, String>, PropsTextError> {
    let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(PropsTextError::Syntax)?;
    let map = match value {
        serde_yaml::Value::Null => return Ok(BTreeMap::new()),
        serde_yaml::Value::Mapping(m) => m,
        _ => return Err(PropsTextError::NotAMapping),
    };
    let mut out = BTreeMap::new();
    for (k, v) in map {
        let key = scalar_to_string(&k).ok_or(PropsTextError::KeyNotAString)?;
        let value =
            scalar_to_string(&v).ok_or_else(|| PropsTextError::ValueNotAScalar(key.clone()))?;
        out.insert(key, value);
    }
    Ok(out)
}

fn scalar_to_string(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
