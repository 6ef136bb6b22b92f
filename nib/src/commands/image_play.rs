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

/// [`plan`] for an already loaded image.
pub fn plan_for(image: &Image, args: &DevNodeArgs) -> Result<DevNodePlan> {
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
    println!(
        "Created new dev_node with ID `{}` and name `{}`",
        spec.id, spec.name
    );
    Ok(node)
}

/// Upgrade dev node `id_or_name` to the definition in `path` (same variant key).
pub async fn upgrade(daemon: &mut impl DevNodes, id_or_name: &str, path: &Path) -> Result<()> {
    let node = daemon.get_node(id_or_name).await?;
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
        .ok_or_else(|| eyre!("variant {variant_key} not found in {}", path.display()))?;
    let spec = upgrade_spec(&variant, current);
    let upgraded = daemon.upgrade_node(id_or_name, spec).await?;
    let spec = upgraded.spec.unwrap_or_default();
    println!(
        "Upgraded dev_node with ID `{}` and name `{}` to version {}",
        spec.id, spec.name, variant.version
    );
    Ok(())
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
