//! `bv node capabilities`.

use babel_api::pb::blockvisor::v1::blockvisor_client::BlockvisorClient;
use tonic::transport::Channel;

use super::super::output::print_json;
use super::super::{Format, rpc_err};
use super::common::noderef;

/// The methods the node's plugin offers.
pub async fn capabilities(
    client: &mut BlockvisorClient<Channel>,
    id_or_name: &str,
    format: Format,
) -> eyre::Result<()> {
    let caps = client
        .list_capabilities(noderef(id_or_name))
        .await
        .map_err(rpc_err)?
        .into_inner()
        .capabilities;
    match format {
        Format::Json => print_json(&serde_json::json!(caps)),
        Format::Text => caps.iter().for_each(|c| crate::outln!("{c}")),
    }
    Ok(())
}
