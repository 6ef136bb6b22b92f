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

/// Lint `dir` (entry `main.rhai`); print findings; fail on any finding.
pub fn lint_plugin(
    dir: &Path,
    variant: &ImageVariant,
    properties: &BTreeMap<String, String>,
) -> Result<()> {
    println!("Checking plugin in {}", dir.display());
    if !dir.join("main.rhai").is_file() {
        bail!("{}: no main.rhai found", dir.display());
    }
    let report = babel_plugin::lint(dir, fake_node_env(variant), properties.clone());
    for finding in &report.findings {
        eprintln!("{finding}");
    }
    if !report.is_ok() {
        bail!(
            "plugin lint failed: {} error(s), {} warning(s)",
            report.errors().count(),
            report.warnings().count()
        );
    }
    println!("Plugin is valid");
    Ok(())
}
