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
    let on_blocking = if args.force {
        pb::UpgradeBlocking::Force
    } else if args.wait {
        pb::UpgradeBlocking::Wait
    } else {
        pb::UpgradeBlocking::Refuse
    };
    let mut failed = false;
    for id in ids {
        if args.force {
            say_what_force_kills(client, &id).await;
        }
        let req = pb::UpgradeNodeRequest {
            id_or_name: id.clone(),
            target: Some(target.clone()),
            on_blocking: on_blocking.into(),
            max_wait_secs: args.max_wait,
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

/// Names the upgrade-blocking jobs a forced upgrade of `id` kills (if the node answers).
async fn say_what_force_kills(client: &mut BlockvisorClient<Channel>, id: &str) {
    let req = pb::NodeRef {
        id_or_name: id.to_string(),
    };
    let Ok(jobs) = client.list_jobs(req).await else {
        return;
    };
    let blocking = babel_api::rpc::running_upgrade_blocking(&jobs.into_inner().jobs);
    if blocking.is_empty() {
        eprintln!("--force: no upgrade-blocking job runs on `{id}`");
    } else {
        eprintln!(
            "--force: upgrading `{id}` kills its running upgrade-blocking job(s): {}",
            blocking.join(", ")
        );
    }
}
