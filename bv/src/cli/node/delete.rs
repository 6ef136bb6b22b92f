//! `bv node delete`: by ids/names, by tag or all, after a confirmation.

use std::io::{BufRead, Write};

use babel_api::pb::blockvisor::v1::blockvisor_client::BlockvisorClient;
use eyre::bail;
use tonic::transport::Channel;

use super::super::output::print_json;
use super::super::{Format, rpc_err};
use super::common::{all_nodes, id_of, noderef};

pub async fn delete(
    client: &mut BlockvisorClient<Channel>,
    ids: Vec<String>,
    tags: Vec<String>,
    all: bool,
    yes: bool,
    format: Format,
) -> eyre::Result<()> {
    let groups = [!ids.is_empty(), !tags.is_empty(), all];
    if groups.iter().filter(|g| **g).count() != 1 {
        bail!("give exactly one of: node ids/names, --tag, --all");
    }
    let targets: Vec<String> = if !ids.is_empty() {
        ids
    } else {
        all_nodes(client)
            .await?
            .iter()
            .filter(|n| {
                all || n
                    .spec
                    .as_ref()
                    .is_some_and(|s| s.tags.iter().any(|t| tags.contains(t)))
            })
            .map(id_of)
            .collect()
    };
    if targets.is_empty() {
        if format == Format::Json {
            print_json(&serde_json::json!([]));
        } else {
            crate::outln!("No nodes to delete.");
        }
        return Ok(());
    }
    if !yes {
        print!("Delete {}? [y/N]: ", targets.join(", "));
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            bail!("aborted");
        }
    }
    let mut deleted = vec![];
    for id in targets {
        let r = client.delete_node(noderef(&id)).await.map_err(rpc_err)?;
        if format == Format::Text {
            crate::outln!("Deleted node `{id}`");
        }
        deleted.push(r.into_inner().id);
    }
    if format == Format::Json {
        print_json(&serde_json::json!(deleted));
    }
    Ok(())
}
