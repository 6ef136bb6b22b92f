//! `bv node reload-plugin`.

use babel_api::pb::blockvisor::v1::blockvisor_client::BlockvisorClient;
use tonic::transport::Channel;

use super::super::{Format, rpc_err};
use super::common::{noderef, report};

/// Re-reads the node's plugin from its rootfs.
pub async fn reload_plugin(
    client: &mut BlockvisorClient<Channel>,
    id_or_name: &str,
    format: Format,
) -> eyre::Result<()> {
    let node = client
        .reload_plugin(noderef(id_or_name))
        .await
        .map_err(rpc_err)?;
    report(format, "Reloaded plugin of", node.get_ref());
    Ok(())
}
