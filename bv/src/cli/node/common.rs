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

/// The given nodes, or every node with `all`. Neither names nor `all` is an error: a verb
/// that acts on many nodes never picks "every node" by default.
pub async fn targets(
    client: &mut BlockvisorClient<Channel>,
    given: Vec<String>,
    all: bool,
) -> eyre::Result<Vec<String>> {
    match (given.is_empty(), all) {
        (false, false) => Ok(given),
        (true, true) => Ok(all_nodes(client).await?.iter().map(id_of).collect()),
        (false, true) => eyre::bail!("give node ids/names or --all, not both"),
        (true, false) => eyre::bail!("give node ids/names or --all"),
    }
}

/// The node's name, or its id when it has none.
pub fn name_of(n: &pb::Node) -> String {
    match n.spec.as_ref() {
        Some(s) if !s.name.is_empty() => s.name.clone(),
        _ => id_of(n),
    }
}

pub fn noderef(id: &str) -> pb::NodeRef {
    pb::NodeRef {
        id_or_name: id.into(),
    }
}

pub fn report(format: Format, verb: &str, node: &pb::Node) {
    match format {
        Format::Json => print_json(&node_json(node)),
        Format::Text => crate::outln!("{verb} node `{}`", id_of(node)),
    }
}
