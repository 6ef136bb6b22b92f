//! Lint a plugin directory with the fake node environment of a dev check.

use std::collections::BTreeMap;
use std::path::Path;

use babel_api::node_env::{DATA_MOUNT_POINT, NodeEnv, PROTOCOL_DATA_PATH};
use babel_manifest::babel_yaml::ImageVariant;
use eyre::{Result, bail};

/// The node a plugin is linted for: fixed ids and names, the variant's resources and the
/// standard data paths.
pub fn fake_node_env(variant: &ImageVariant) -> NodeEnv {
    NodeEnv {
        node_id: "node-id".into(),
        node_name: "node_name".into(),
        node_org_id: "org-id".into(),
        node_version: variant.version.clone(),
        node_protocol: variant.protocol_key.clone(),
        node_variant: variant.key.clone(),
        node_ip: "1.2.3.4".into(),
        node_gateway: "4.3.2.1".into(),
        dev_mode: true,
        bv_host_id: "host-id".into(),
        bv_host_name: "hostname".into(),
        bv_api_url: "none.com".into(),
        data_mount_point: DATA_MOUNT_POINT.into(),
        protocol_data_path: PROTOCOL_DATA_PATH.into(),
    }
}

/// Findings of one plugin lint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LintOutcome {
    pub errors: usize,
    pub warnings: usize,
}

impl LintOutcome {
    /// Errors fail; warnings fail only when denied (for CI).
    pub fn failed(&self, deny_warnings: bool) -> bool {
        self.errors > 0 || (deny_warnings && self.warnings > 0)
    }
}

impl std::fmt::Display for LintOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} error(s), {} warning(s)", self.errors, self.warnings)
    }
}

/// Lint `dir` (entry `main.rhai`) and print its findings.
pub fn lint_plugin(
    dir: &Path,
    variant: &ImageVariant,
    properties: &BTreeMap<String, String>,
) -> Result<LintOutcome> {
    crate::output::say!("Checking plugin in {}", dir.display());
    if !dir.join("main.rhai").is_file() {
        bail!("{}: no main.rhai found", dir.display());
    }
    let report = babel_plugin::lint(dir, fake_node_env(variant), properties.clone());
    for finding in &report.findings {
        eprintln!("{finding}");
    }
    Ok(LintOutcome {
        errors: report.errors().count(),
        warnings: report.warnings().count(),
    })
}

/// Lint `dir` and fail on errors (and on warnings with `deny_warnings`).
pub fn lint_plugin_strict(
    dir: &Path,
    variant: &ImageVariant,
    properties: &BTreeMap<String, String>,
    deny_warnings: bool,
) -> Result<()> {
    let outcome = lint_plugin(dir, variant, properties)?;
    if outcome.failed(deny_warnings) {
        bail!("plugin lint failed: {outcome}");
    }
    crate::output::say!("Plugin is valid ({outcome})");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::LintOutcome;

    #[test]
    fn errors_fail_warnings_only_when_denied() {
        let warn = LintOutcome {
            errors: 0,
            warnings: 2,
        };
        assert!(!warn.failed(false));
        assert!(warn.failed(true));
        let err = LintOutcome {
            errors: 1,
            warnings: 0,
        };
        assert!(err.failed(false));
        assert!(!LintOutcome::default().failed(true));
    }
}
