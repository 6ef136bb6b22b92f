//! `bv node create`: a dev node from an image or `babel.yaml`, or a catalog node.

use std::collections::HashMap;
use std::path::Path;

use babel_api::pb::blockvisor::v1 as pb;
use babel_api::pb::blockvisor::v1::blockvisor_client::BlockvisorClient;
use eyre::{WrapErr, bail};
use tonic::transport::Channel;

use super::super::output::{node_json, print_json};
use super::super::progress::{pull, pull_catalog};
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
    apply_resource_overrides(&mut spec, args)?;
    Ok(spec)
}

/// `--cpus`, `--memory-mb` and `--ramdisk` replace what the babel.yaml variant asks for
/// (RAM disks as a whole list), so a flag given is never silently ignored.
fn apply_resource_overrides(spec: &mut pb::NodeSpec, args: &CreateArgs) -> eyre::Result<()> {
    let vm = spec.vm_config.get_or_insert_with(Default::default);
    if args.cpus > 0 {
        vm.vcpu_count = args.cpus;
    }
    if args.memory_mb > 0 {
        vm.mem_size_mb = args.memory_mb;
    }
    if !args.ramdisk.is_empty() {
        vm.ramdisks = parse_ramdisks(&args.ramdisk)?;
    }
    Ok(())
}

/// `bv node create`: pulls the node's image first (with progress; a catalog node's image as
/// the API resolves it), then creates the node.
pub async fn create(
    client: &mut BlockvisorClient<Channel>,
    args: CreateArgs,
    format: Format,
) -> eyre::Result<()> {
    let req = create_request(args)?;
    match &req.source {
        Some(pb::create_node_request::Source::Spec(spec)) => {
            let uri = spec
                .image
                .as_ref()
                .map(|i| i.uri.clone())
                .unwrap_or_default();
            pull(client, &uri, format).await?;
        }
        Some(pb::create_node_request::Source::Catalog(catalog)) => {
            pull_catalog(client, catalog, format).await?;
        }
        None => {}
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: CreateArgs,
    }

    fn args(flags: &[&str]) -> CreateArgs {
        let mut argv = vec!["bv"];
        argv.extend_from_slice(flags);
        Cli::try_parse_from(argv).expect("flags parse").args
    }

    fn yaml_spec() -> pb::NodeSpec {
        pb::NodeSpec {
            vm_config: Some(pb::VmConfig {
                vcpu_count: 1,
                mem_size_mb: 512,
                disk_size_gb: 10,
                ramdisks: vec![pb::RamDiskConfig {
                    mount: "/mnt/yaml".into(),
                    size_mb: 8,
                }],
            }),
            ..Default::default()
        }
    }

    #[test]
    fn resource_flags_override_the_babel_yaml() {
        let mut spec = yaml_spec();
        let flags = args(&[
            "--cpus",
            "3",
            "--memory-mb",
            "2048",
            "--ramdisk",
            "/mnt/ram:64",
        ]);
        apply_resource_overrides(&mut spec, &flags).unwrap();
        let vm = spec.vm_config.unwrap();
        assert_eq!(
            (vm.vcpu_count, vm.mem_size_mb, vm.disk_size_gb),
            (3, 2048, 10)
        );
        assert_eq!(vm.ramdisks.len(), 1);
        assert_eq!(
            (vm.ramdisks[0].mount.as_str(), vm.ramdisks[0].size_mb),
            ("/mnt/ram", 64)
        );
    }

    #[test]
    fn without_flags_the_babel_yaml_stands() {
        let mut spec = yaml_spec();
        apply_resource_overrides(&mut spec, &args(&[])).unwrap();
        assert_eq!(spec, yaml_spec());
    }

    #[test]
    fn a_bad_ramdisk_flag_is_refused() {
        let mut spec = yaml_spec();
        let err = apply_resource_overrides(&mut spec, &args(&["--ramdisk", "/mnt/ram"]));
        assert!(err.unwrap_err().to_string().contains("--ramdisk"));
    }
}
