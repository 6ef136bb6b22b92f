//! `bv node restart`.

use babel_api::pb::blockvisor::v1 as pb;
use babel_api::pb::blockvisor::v1::blockvisor_client::BlockvisorClient;
use tonic::transport::Channel;

use super::super::{Format, rpc_err};
use super::common::{report, targets};

/// Stops then starts each given node (every node with `all`).
pub async fn restart(
    client: &mut BlockvisorClient<Channel>,
    id_or_names: Vec<String>,
    all: bool,
    force: bool,
    format: Format,
) -> eyre::Result<()> {
    for id in targets(client, id_or_names, all).await? {
        let req = pb::StopNodeRequest {
            id_or_name: id,
            force,
        };
        let node = client.restart_node(req).await.map_err(rpc_err)?;
        report(format, "Restarted", node.get_ref());
    }
    Ok(())
}
