//! `bv node list`.

use babel_api::pb::blockvisor::v1 as pb;
use babel_api::pb::blockvisor::v1::blockvisor_client::BlockvisorClient;
use tonic::transport::Channel;

use super::super::Format;
use super::super::output::{node_json, node_table, print_json, status_word};
use super::common::{all_nodes, id_of};

/// Lists nodes, only running ones or only those with one of `tags` when asked; `quiet`
/// prints their ids only (whatever the format), for `xargs` and `$(…)`.
pub async fn list(
    client: &mut BlockvisorClient<Channel>,
    running: bool,
    tag: Vec<String>,
    quiet: bool,
    format: Format,
) -> eyre::Result<()> {
    let nodes: Vec<pb::Node> = all_nodes(client)
        .await?
        .into_iter()
        .filter(|n| !running || status_word(n.status) == "Running")
        .filter(|n| {
            tag.is_empty()
                || n.spec
                    .as_ref()
                    .is_some_and(|s| s.tags.iter().any(|t| tag.contains(t)))
        })
        .collect();
    if quiet {
        nodes.iter().for_each(|n| crate::outln!("{}", id_of(n)));
        return Ok(());
    }
    match format {
        Format::Json => print_json(&serde_json::Value::Array(
            nodes.iter().map(node_json).collect(),
        )),
        Format::Text => crate::outln!("{}", node_table(&nodes)),
    }
    Ok(())
}
