//! `nib image play` (create a dev node), `nib image upgrade` and `nib image container-uri`.

use std::collections::BTreeMap;
use std::path::Path;

use babel_api::pb::blockvisor::v1 as pb;
use babel_manifest::babel_yaml::{DevNodeOptions, Image, ImageVariant, parse_props};
use eyre::{Result, bail, eyre};

use crate::cli::DevNodeArgs;
use crate::daemon_client::DevNodes;

/// babel.yaml read, validated and merged with the chosen variant, plus the node spec.
#[derive(Debug)]
pub struct DevNodePlan {
    pub variant: ImageVariant,
    pub properties: BTreeMap<String, String>,
    pub spec: pb::NodeSpec,
}

/// Read and validate babel.yaml; print warnings.
pub fn load_validated(path: &Path) -> Result<Image> {
    let (image, warnings) = Image::load_validated(path)?;
    for w in warnings {
        eprintln!("warning: {}:{w}", path.display());
    }
    Ok(image)
}

/// Everything a dev node needs, from the file and the command line.
pub fn plan(args: &DevNodeArgs) -> Result<DevNodePlan> {
    let image = load_validated(&args.path.path)?;
    plan_for(&image, args)
}

/// "variant 'x' not found", with the valid keys and the closest one.
pub fn unknown_variant(image: &Image, key: &str, path: &Path) -> String {
    let keys: Vec<&str> = image.variants.iter().map(|v| v.key.as_str()).collect();
    format!(
        "{}: variant '{key}' not found{}; valid variants: {}",
        path.display(),
        bv_base::suggest::hint(key, keys.iter().copied()),
        keys.join(", ")
    )
}

/// [`plan`] for an already loaded image.
pub fn plan_for(image: &Image, args: &DevNodeArgs) -> Result<DevNodePlan> {
    if let Some(key) = &args.variant
        && image.variant(key).is_none()
    {
        bail!(unknown_variant(image, key, &args.path.path));
    }
    let variant = image
        .pick_variant(args.variant.as_deref())
        .map_err(|e| eyre!("{}: {e}", args.path.path.display()))?;
    let props = match &args.props {
        Some(text) => parse_props(text).map_err(|e| eyre!(e))?,
        None => BTreeMap::new(),
    };
    let properties = variant.node_properties(&props)?;
    let opts = DevNodeOptions {
        ip: args.ip.clone(),
        gateway: args.gateway.clone(),
        tags: args.tags.clone(),
        min_babel_version: babel_api::VERSION.to_string(),
    };
    let spec = variant.dev_node_spec(properties.clone(), &opts);
    Ok(DevNodePlan {
        variant,
        properties,
        spec,
    })
}

pub async fn play(daemon: &mut impl DevNodes, plan: DevNodePlan) -> Result<pb::Node> {
    let node = daemon.create_node(plan.spec).await?;
    let spec = node.spec.clone().unwrap_or_default();
    crate::output::say!(
        "Created new dev_node with ID `{}` and name `{}`",
        spec.id,
        spec.name
    );
    Ok(node)
}

/// Upgrade dev node `id_or_name` to the definition in `path` (same variant key). Refuses
/// when neither the version nor the image changes, and fails when the node does not run the
/// image's plugin afterwards; otherwise says what changed.
pub async fn upgrade(
    daemon: &mut impl DevNodes,
    id_or_name: &str,
    path: &Path,
) -> Result<serde_json::Value> {
    let node = daemon.get_node(id_or_name).await?;
    let before_plugin = node_plugin(&node);
    let current = node.spec.unwrap_or_default();
    if !current.dev_mode {
        bail!("node `{id_or_name}` is not a dev node; only dev nodes can be upgraded with nib");
    }
    let image = load_validated(path)?;
    let variant_key = current
        .image_key
        .as_ref()
        .map(|k| k.variant_key.clone())
        .unwrap_or_default();
    let variant = image
        .variant(&variant_key)
        .ok_or_else(|| eyre!(unknown_variant(&image, &variant_key, path)))?;
    let old_image = current.image.clone().unwrap_or_default();
    let old_version = old_image
        .id
        .strip_prefix("dev-node-image-id-")
        .unwrap_or(&old_image.id)
        .to_string();
    if old_image.uri == variant.container_uri && old_version == variant.version {
        bail!(
            "node `{id_or_name}` already runs version {} from {}; nothing to upgrade. \
             Run `nib image bump` and `nib image build` first",
            variant.version,
            variant.container_uri
        );
    }
    let image_plugin = image_plugin(&variant.container_uri);
    let spec = upgrade_spec(&variant, current);
    let upgraded = daemon.upgrade_node(id_or_name, spec).await?;
    let after = daemon.get_node(id_or_name).await.unwrap_or(upgraded);
    let spec = after.spec.clone().unwrap_or_default();
    let changes = UpgradeChanges {
        old_version,
        new_version: variant.version.clone(),
        old_uri: old_image.uri,
        new_uri: variant.container_uri.clone(),
        before_plugin,
        after_plugin: node_plugin(&after),
        image_plugin,
    };
    let summary = changes.summary()?;
    crate::output::say!(
        "Upgraded dev_node with ID `{}` and name `{}` to version {}: {summary}",
        spec.id,
        spec.name,
        variant.version
    );
    Ok(serde_json::json!({
        "ok": true,
        "id": spec.id,
        "name": spec.name,
        "version": variant.version,
        "container_uri": variant.container_uri,
        "changes": summary,
    }))
}

type Hashes = BTreeMap<String, String>;

/// Plugin files of a node's rootfs (readable when nib runs on the daemon's host).
fn node_plugin(node: &pb::Node) -> Option<Hashes> {
    if node.rootfs.is_empty() {
        return None;
    }
    let dir = Path::new(&node.rootfs).join(babel_api::node_env::PLUGIN_DIR_IN_ROOTFS);
    super::plugin_freshness::rhai_hashes(&dir).ok()
}

/// Plugin files of the image (local Docker images only: others would need the network).
fn image_plugin(container_uri: &str) -> Option<Hashes> {
    if !container_uri.starts_with("docker-daemon://") {
        return None;
    }
    let extracted = super::plugin_source::extract(container_uri).ok()?;
    super::plugin_freshness::rhai_hashes(extracted.dir()).ok()
}

/// What an upgrade changed, as far as nib can see.
#[derive(Debug, Clone, Default)]
pub struct UpgradeChanges {
    pub old_version: String,
    pub new_version: String,
    pub old_uri: String,
    pub new_uri: String,
    pub before_plugin: Option<Hashes>,
    pub after_plugin: Option<Hashes>,
    pub image_plugin: Option<Hashes>,
}

impl UpgradeChanges {
    /// One line of what changed, or an error when the node does not run the image's plugin.
    pub fn summary(&self) -> Result<String> {
        use super::plugin_freshness::differences;
        if let (Some(after), Some(image)) = (&self.after_plugin, &self.image_plugin) {
            let diffs = differences(after, image);
            if !diffs.is_empty() {
                bail!(
                    "the node was upgraded to version {} but does not run the plugin of {}:\n  {}",
                    self.new_version,
                    self.new_uri,
                    diffs.join("\n  ")
                );
            }
        }
        let mut parts = vec![format!(
            "version {} -> {}",
            self.old_version, self.new_version
        )];
        if self.old_uri == self.new_uri {
            parts.push(format!("same image {}", self.new_uri));
        } else {
            parts.push(format!("image {} -> {}", self.old_uri, self.new_uri));
        }
        parts.push(match (&self.before_plugin, &self.after_plugin) {
            (Some(before), Some(after)) => {
                let changed: Vec<String> = differences(after, before)
                    .iter()
                    .map(|d| d.split(':').next().unwrap_or_default().to_string())
                    .collect();
                if changed.is_empty() {
                    "plugin unchanged".to_string()
                } else {
                    format!("plugin changed: {}", changed.join(", "))
                }
            }
            _ => "plugin not compared (node rootfs not readable here)".to_string(),
        });
        Ok(parts.join("; "))
    }
}

/// The node's spec with image, resources and firewall from `variant` (properties kept).
pub fn upgrade_spec(variant: &ImageVariant, current: pb::NodeSpec) -> pb::NodeSpec {
    let opts = DevNodeOptions {
        ip: Some(current.ip.clone()),
        gateway: Some(current.gateway.clone()),
        tags: current.tags.clone(),
        min_babel_version: babel_api::VERSION.to_string(),
    };
    let properties = current.properties.clone().into_iter().collect();
    let mut spec = variant.dev_node_spec(properties, &opts);
    spec.id = current.id;
    spec.name = current.name;
    spec.org_id = current.org_id;
    spec.display_name = current.display_name;
    spec.protocol_name = current.protocol_name;
    spec
}

/// `nib image container-uri`: offline.
pub fn container_uri(path: &Path, format: crate::cli::Format) -> Result<()> {
    let image = Image::load(path)?;
    match format {
        crate::cli::Format::Text => println!("{}", image.container_uri),
        crate::cli::Format::Json => println!(
            "{}",
            serde_json::json!({ "container_uri": image.container_uri })
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashes(pairs: &[(&str, &str)]) -> Option<Hashes> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).repeat(12)))
                .collect(),
        )
    }

    #[test]
    fn upgrade_summary_says_what_changed_and_refuses_old_content() {
        let mut c = UpgradeChanges {
            old_version: "0.0.1".into(),
            new_version: "0.0.2".into(),
            old_uri: "docker-daemon://a:0.0.1".into(),
            new_uri: "docker-daemon://a:0.0.2".into(),
            before_plugin: hashes(&[("main.rhai", "a")]),
            after_plugin: hashes(&[("main.rhai", "b")]),
            image_plugin: hashes(&[("main.rhai", "b")]),
        };
        assert_eq!(
            c.summary().unwrap(),
            "version 0.0.1 -> 0.0.2; image docker-daemon://a:0.0.1 -> docker-daemon://a:0.0.2; plugin changed: main.rhai"
        );
        c.after_plugin = hashes(&[("main.rhai", "a")]);
        let err = c.summary().unwrap_err().to_string();
        assert!(err.contains("does not run the plugin"), "{err}");
        c.image_plugin = None;
        c.new_uri = c.old_uri.clone();
        assert!(c.summary().unwrap().contains("same image"));
        assert!(c.summary().unwrap().contains("plugin unchanged"));
    }

    #[test]
    fn an_unknown_variant_lists_the_valid_ones() {
        let yaml = r#"
version: 0.2.0
container_uri: docker-daemon://up:2
protocol_key: testing
visibility: development
firewall_config: {default_in: deny, default_out: allow, rules: []}
properties: []
variants:
  - {key: geth-main-full, sku_code: AAA-BB-C, archive_pointers: [{pointer: !store_key k}], min_cpu: 2, min_memory_mb: 200, min_disk_gb: 3}
  - {key: geth-test-full, sku_code: AAA-BB-D, archive_pointers: [{pointer: !store_key k}], min_cpu: 2, min_memory_mb: 200, min_disk_gb: 3}
"#;
        let image = Image::from_yaml_str(yaml).unwrap();
        let msg = unknown_variant(&image, "geth-mian-full", Path::new("babel.yaml"));
        assert_eq!(
            msg,
            "babel.yaml: variant 'geth-mian-full' not found (did you mean `geth-main-full`?); valid variants: geth-main-full, geth-test-full"
        );
    }

    #[test]
    fn upgrade_keeps_identity_and_properties() {
        let yaml = r#"
version: 0.2.0
container_uri: docker-daemon://up:2
protocol_key: testing
visibility: development
firewall_config: {default_in: deny, default_out: allow, rules: []}
properties: []
variants:
  - {key: a-b-c, sku_code: AAA-BB-C, archive_pointers: [{pointer: !store_key k}], min_cpu: 2, min_memory_mb: 200, min_disk_gb: 3}
"#;
        let image = Image::from_yaml_str(yaml).unwrap();
        let v = image.variant("a-b-c").unwrap();
        let current = pb::NodeSpec {
            id: "id-1".into(),
            name: "old-name".into(),
            ip: "10.0.0.5".into(),
            properties: [("x".to_string(), "y".to_string())].into(),
            tags: vec!["t".into()],
            dev_mode: true,
            ..Default::default()
        };
        let spec = upgrade_spec(&v, current);
        assert_eq!((spec.id.as_str(), spec.name.as_str()), ("id-1", "old-name"));
        assert_eq!(spec.ip, "10.0.0.5");
        assert_eq!(spec.properties["x"], "y");
        let image = spec.image.unwrap();
        assert_eq!(image.id, "dev-node-image-id-0.2.0");
        assert_eq!(image.uri, "docker-daemon://up:2");
        assert_eq!(spec.vm_config.unwrap().vcpu_count, 2);
    }
}
