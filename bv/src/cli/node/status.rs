//! `bv node status`.

use babel_api::pb::blockvisor::v1::blockvisor_client::BlockvisorClient;
use tonic::transport::Channel;

use super::super::output::{alerts_json, print_json, status_word};
use super::super::{Format, rpc_err};
use super::common::{id_of, noderef};

/// The status word of each node, with the reasons of Failed or unhealthy ones.
pub async fn status(
    client: &mut BlockvisorClient<Channel>,
    id_or_names: Vec<String>,
    format: Format,
) -> eyre::Result<()> {
    let mut out = vec![];
    for id in id_or_names {
        let node = client
            .get_node(noderef(&id))
            .await
            .map_err(rpc_err)?
            .into_inner();
        match format {
            Format::Json => out.push(serde_json::json!({
                "id": id_of(&node),
                "status": status_word(node.status),
                "alerts": alerts_json(&node.alerts),
            })),
            Format::Text if node.alerts.is_empty() => {
                crate::outln!("{}", status_word(node.status))
            }
            Format::Text => {
                let why: Vec<&str> = node.alerts.iter().map(|a| a.message.as_str()).collect();
                crate::outln!("{} ({})", status_word(node.status), why.join("; "));
            }
        }
    }
    if format == Format::Json {
        print_json(&serde_json::Value::Array(out));
    }
    Ok(())
}
