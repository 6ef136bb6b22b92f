//! Helpers the `bv node` verbs share: node lookups and the one-line report.

use babel_api::pb::blockvisor::v1 as pb;
use babel_api::pb::blockvisor::v1::blockvisor_client::BlockvisorClient;
use tonic::transport::Channel;

use super::super::Format;
use super::super::output::{node_json, print_json};
use super::super::rpc_err;

pub async fn all_nodes(client: &mut BlockvisorClient<Channel>) -> eyre::Result<Vec<pb::Node>> {
    Ok(client
        .list_nodes(pb::ListNodesRequest {})
        .await
        .map_err(rpc_err)?
        .into_inner()
        .nodes)
}

pub fn id_of(n: &pb::Node) -> String {
    n.spec.as_ref().map(|s| s.id.clone()).unwrap_or_default()
}

/// The given nodes, or every node when none are given.
pub async fn targets(
    client: &mut BlockvisorClient<Channel>,
    given: Vec<String>,
) -> eyre::Result<Vec<String>> {
    if !given.is_empty() {
        return Ok(given);
    }
    Ok(all_nodes(client).await?.iter().map(id_of).collect())
}

pub fn noderef(id: &str) -> pb::NodeRef {
    pb::NodeRef {
        id_or_name: id.into(),
    }
}

pub fn report(format: Format, verb: &str, node: &pb::Node) {
    match format {
        Format::Json => print_json(&node_json(node)),
        Format::Text => println!("{verb} node `{}`", id_of(node)),
    }
}
