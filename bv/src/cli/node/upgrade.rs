//! `bv node upgrade`: dev nodes to a new image, catalog nodes to a catalog version.

use babel_api::pb::blockvisor::v1 as pb;
use babel_api::pb::blockvisor::v1::blockvisor_client::BlockvisorClient;
use eyre::bail;
use tonic::transport::Channel;

use super::super::Format;
use super::super::progress::pull;
use super::command::UpgradeArgs;
use super::common::{report, targets};

pub async fn upgrade(
    client: &mut BlockvisorClient<Channel>,
    args: UpgradeArgs,
    format: Format,
) -> eyre::Result<()> {
    let ids = targets(client, args.id_or_names, args.all).await?;
    let health_timeout_secs = args
        .health_timeout
        .as_deref()
        .map(crate::cli::update::parse_duration)
        .transpose()?;
    if let Some(uri) = &args.image {
        pull(client, uri, format).await?;
    }
    let target = match args.image {
        Some(uri) => pb::upgrade_node_request::Target::Spec(pb::NodeSpec {
            image: Some(pb::NodeImage {
                uri,
                version: args.image_version.unwrap_or_default(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        None => pb::upgrade_node_request::Target::Catalog(pb::CatalogNodeRequest {
            version: args.version,
            build: args.build,
            ..Default::default()
        }),
    };
    let mut failed = false;
    for id in ids {
        let req = pb::UpgradeNodeRequest {
            id_or_name: id.clone(),
            target: Some(target.clone()),
            health_timeout_secs,
        };
        match client.upgrade_node(req).await {
            Ok(n) => report(format, "Upgraded", n.get_ref()),
            Err(s) => {
                failed = true;
                eprintln!("Failed to upgrade node `{id}`: {}", s.message());
            }
        }
    }
    if failed {
        bail!("some upgrades failed");
    }
    Ok(())
}
