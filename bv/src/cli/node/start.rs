//! `bv node start`, and `--wait` until the nodes answer their protocol status.

use std::time::Duration;

use babel_api::pb::blockvisor::v1::blockvisor_client::BlockvisorClient;
use eyre::bail;
use tonic::transport::Channel;

use super::super::output::status_word;
use super::super::{Format, rpc_err};
use super::common::{noderef, report, targets};

/// Starts the given nodes (every node with `all`); with `wait`, returns once each answers
/// its protocol status.
pub async fn start(
    client: &mut BlockvisorClient<Channel>,
    id_or_names: Vec<String>,
    all: bool,
    wait: Option<Duration>,
    format: Format,
) -> eyre::Result<()> {
    let ids = targets(client, id_or_names, all).await?;
    for id in &ids {
        let node = client.start_node(noderef(id)).await.map_err(rpc_err)?;
        report(format, "Started", node.get_ref());
    }
    if let Some(timeout) = wait {
        for id in &ids {
            wait_answering(client, id, timeout).await?;
            if format == Format::Text {
                crate::outln!("Node `{id}` answers its protocol status");
            }
        }
    }
    Ok(())
}

/// Waits until the node runs and its plugin answers the protocol status (any health).
pub async fn wait_answering(
    client: &mut BlockvisorClient<Channel>,
    id: &str,
    timeout: Duration,
) -> eyre::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let node = client
            .get_node(noderef(id))
            .await
            .map_err(rpc_err)?
            .into_inner();
        let word = status_word(node.status);
        if word == "Failed" {
            bail!("node `{id}` failed while starting: {}", node.status_reason);
        }
        let answered = word == "Running"
            && client
                .get_node_metrics(noderef(id))
                .await
                .is_ok_and(|m| m.into_inner().protocol_status.is_some());
        if answered {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "node `{id}` did not answer its protocol status within {} s (status {word})",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
