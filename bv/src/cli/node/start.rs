//! `bv node start`.

use babel_api::pb::blockvisor::v1::blockvisor_client::BlockvisorClient;
use tonic::transport::Channel;

use super::super::{Format, rpc_err};
use super::common::{noderef, report, targets};

/// Starts the given nodes (all when none are given).
pub async fn start(
    client: &mut BlockvisorClient<Channel>,
    id_or_names: Vec<String>,
    format: Format,
) -> eyre::Result<()> {
    for id in targets(client, id_or_names).await? {
        let node = client.start_node(noderef(&id)).await.map_err(rpc_err)?;
        report(format, "Started", node.get_ref());
    }
    Ok(())
}
