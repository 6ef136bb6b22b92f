//! `bv node status`.

use babel_api::pb::blockvisor::v1::blockvisor_client::BlockvisorClient;
use tonic::transport::Channel;

use super::super::output::{
    alerts_json, print_json, status_word, upgrade_wait_json, upgrade_wait_text,
};
use super::super::{Format, rpc_err};
use super::common::{id_of, name_of, noderef};

/// The status word of each node, with the reasons of Failed or unhealthy ones; with several
/// nodes each line starts with the node's name.
pub async fn status(
    client: &mut BlockvisorClient<Channel>,
    id_or_names: Vec<String>,
    format: Format,
) -> eyre::Result<()> {
    let many = id_or_names.len() > 1;
    let mut out = vec![];
    for id in id_or_names {
        let node = client
            .get_node(noderef(&id))
            .await
            .map_err(rpc_err)?
            .into_inner();
        if format == Format::Json {
            out.push(serde_json::json!({
                "id": id_of(&node),
                "name": name_of(&node),
                "status": status_word(node.status),
                "alerts": alerts_json(&node.alerts),
                "upgrade_wait": upgrade_wait_json(node.upgrade_wait.as_ref()),
            }));
            continue;
        }
        let mut text = status_word(node.status).to_string();
        let mut why: Vec<String> = node.upgrade_wait.iter().map(upgrade_wait_text).collect();
        why.extend(node.alerts.iter().map(|a| a.message.clone()));
        if !why.is_empty() {
            text = format!("{text} ({})", why.join("; "));
        }
        // One node: the bare word (`[ "$(bv node status x)" = Running ]`); several: each
        // line names its node.
        if many {
            crate::outln!("{}  {text}", name_of(&node));
        } else {
            crate::outln!("{text}");
        }
    }
    if format == Format::Json {
        print_json(&serde_json::Value::Array(out));
    }
    Ok(())
}
