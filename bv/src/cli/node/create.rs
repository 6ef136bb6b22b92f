//! `bv node create`: a dev node from an image or `babel.yaml`, or a catalog node.

use std::collections::HashMap;
use std::path::Path;

use babel_api::pb::blockvisor::v1 as pb;
use babel_api::pb::blockvisor::v1::blockvisor_client::BlockvisorClient;
use eyre::{WrapErr, bail};
use tonic::transport::Channel;

use super::super::output::{node_json, print_json};
use super::super::progress::pull;
use super::super::{Format, rpc_err};
use super::command::CreateArgs;

fn parse_props(props: Option<&str>) -> eyre::Result<HashMap<String, String>> {
    let Some(text) = props else {
        return Ok(HashMap::new());
    };
    serde_json::from_str(text).wrap_err("--props must be a JSON object of strings")
}

fn parse_ramdisks(list: &[String]) -> eyre::Result<Vec<pb::RamDiskConfig>> {
    list.iter()
        .map(|r| {
            let (mount, size) = r
                .rsplit_once(':')
                .ok_or_else(|| eyre::eyre!("--ramdisk `{r}`: expected MOUNT:SIZE_MB"))?;
            Ok(pb::RamDiskConfig {
                mount: mount.into(),
                size_mb: size
                    .parse()
                    .wrap_err_with(|| format!("--ramdisk `{r}`: bad size"))?,
            })
        })
        .collect()
}

pub fn create_request(args: CreateArgs) -> eyre::Result<pb::CreateNodeRequest> {
    let properties = parse_props(args.props.as_deref())?;
    let source = if let Some(path) = &args.babel_yaml {
        pb::create_node_request::Source::Spec(spec_from_babel_yaml(path, &args)?)
    } else if let Some(uri) = args.image {
        pb::create_node_request::Source::Spec(pb::NodeSpec {
            name: args.name.unwrap_or_default(),
            image_key: Some(pb::ImageKey {
                protocol_key: args.protocol_key,
                variant_key: args.variant_key,
            }),
            image: Some(pb::NodeImage {
                uri,
                version: args.image_version,
                ..Default::default()
            }),
            dev_mode: true,
            bridge: args.bridge,
            ip: args.ip.unwrap_or_default(),
            gateway: args.gateway.unwrap_or_default(),
            vm_config: Some(pb::VmConfig {
                vcpu_count: args.cpus,
                mem_size_mb: args.memory_mb,
                disk_size_gb: 0,
                ramdisks: parse_ramdisks(&args.ramdisk)?,
            }),
            ..Default::default()
        })
    } else {
        let (Some(protocol_key), Some(variant_key)) = (args.protocol, args.variant) else {
            bail!("give <PROTOCOL> <VARIANT> (catalog) or --image URI (dev node)");
        };
        pb::create_node_request::Source::Catalog(pb::CatalogNodeRequest {
            protocol_key,
            variant_key,
            version: args.version,
            build: args.build,
            name: args.name,
        })
    };
    Ok(pb::CreateNodeRequest {
        source: Some(source),
        properties,
        tags: args.tag,
    })
}

fn spec_from_babel_yaml(path: &Path, args: &CreateArgs) -> eyre::Result<pb::NodeSpec> {
    use babel_manifest::babel_yaml::{DevNodeOptions, Image};
    let (image, warnings) = Image::load_validated(path).map_err(|e| eyre::eyre!("{e}"))?;
    for w in warnings {
        eprintln!("warning: {}: {w:?}", path.display());
    }
    let variant = image
        .pick_variant(args.yaml_variant.as_deref())
        .map_err(|e| eyre::eyre!("{}: {e}", path.display()))?;
    let props: std::collections::BTreeMap<String, String> =
        parse_props(args.props.as_deref())?.into_iter().collect();
    let properties = variant
        .node_properties(&props)
        .map_err(|e| eyre::eyre!("{}: {e}", path.display()))?;
    let mut spec = variant.dev_node_spec(
        properties,
        &DevNodeOptions {
            ip: args.ip.clone(),
            gateway: args.gateway.clone(),
            tags: args.tag.clone(),
            min_babel_version: String::new(),
        },
    );
    spec.name = args.name.clone().unwrap_or_default();
    spec.bridge = args.bridge;
    Ok(spec)
}

/// `bv node create`: pulls a dev node's image first (with progress), then creates the node.
pub async fn create(
    client: &mut BlockvisorClient<Channel>,
    args: CreateArgs,
    format: Format,
) -> eyre::Result<()> {
    let req = create_request(args)?;
    if let Some(pb::create_node_request::Source::Spec(spec)) = &req.source {
        let uri = spec
            .image
            .as_ref()
            .map(|i| i.uri.clone())
            .unwrap_or_default();
        pull(client, &uri, format).await?;
    }
    let node = client.create_node(req).await.map_err(rpc_err)?.into_inner();
    match format {
        Format::Json => print_json(&node_json(&node)),
        Format::Text => {
            let spec = node.spec.clone().unwrap_or_default();
            crate::outln!(
                "Created new node with ID `{}` and name `{}`",
                spec.id,
                spec.name
            );
        }
    }
    Ok(())
}
