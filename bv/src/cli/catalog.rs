//! The control plane seen through this host's registration: `bv protocol list` (the
//! protocol catalog) and `bv host update` (send the host's facts now).

use std::path::Path;

use babel_api::pb::blockvisor::v1 as pb;
use clap::Subcommand;
use serde_json::{Value, json};

use super::output::print_json;
use super::{Format, connect, rpc_err};

#[derive(Subcommand, Debug)]
pub enum ProtocolCommand {
    /// Protocols in the API's catalog with their variants and versions.
    #[command(visible_alias = "ls")]
    List {
        /// Only protocols whose name or key contains this text.
        #[arg(long)]
        name: Option<String>,
        /// At most this many protocols.
        #[arg(short = 'n', long, default_value_t = 50)]
        number: u64,
    },
}

/// `- <name> [<key>]: <description>` (or `- <name> (<key>)`), then `   * <variant>/<version>`.
pub fn protocols_text(protocols: &[pb::CatalogProtocol]) -> String {
    if protocols.is_empty() {
        return "No protocols found.".into();
    }
    let mut lines = vec![];
    for p in protocols {
        lines.push(match &p.description {
            Some(d) => format!("- {} [{}]: {d}", p.name, p.key),
            None => format!("- {} ({})", p.name, p.key),
        });
        lines.extend(
            p.versions
                .iter()
                .map(|v| format!("   * {}/{}", v.variant, v.semantic_version)),
        );
    }
    lines.join("\n")
}

pub fn protocols_json(protocols: &[pb::CatalogProtocol]) -> Value {
    Value::Array(
        protocols
            .iter()
            .map(|p| {
                json!({
                    "key": p.key,
                    "name": p.name,
                    "description": p.description,
                    "versions": p.versions.iter().map(|v| json!({
                        "variant": v.variant, "semantic_version": v.semantic_version,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

pub async fn protocol(socket: &Path, cmd: ProtocolCommand, format: Format) -> eyre::Result<()> {
    let ProtocolCommand::List { name, number } = cmd;
    let listed = connect(socket)
        .await?
        .list_protocols(pb::ListProtocolsRequest { name, number })
        .await
        .map_err(rpc_err)?
        .into_inner()
        .protocols;
    match format {
        Format::Json => print_json(&protocols_json(&listed)),
        Format::Text => crate::outln!("{}", protocols_text(&listed)),
    }
    Ok(())
}

pub async fn update_host(socket: &Path, format: Format) -> eyre::Result<()> {
    connect(socket)
        .await?
        .update_host_info(pb::UpdateHostInfoRequest {})
        .await
        .map_err(rpc_err)?;
    match format {
        Format::Json => print_json(&json!({"sent": true})),
        Format::Text => crate::outln!("Host info update sent"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_print_as_blockvisor_does() {
        let listed = vec![
            pb::CatalogProtocol {
                key: "eth".into(),
                name: "Ethereum".into(),
                description: Some("mainnet".into()),
                versions: vec![pb::CatalogVersion {
                    variant: "reth-mainnet-full".into(),
                    semantic_version: "1.2.0".into(),
                }],
            },
            pb::CatalogProtocol {
                key: "xmr".into(),
                name: "Monero".into(),
                description: None,
                versions: vec![],
            },
        ];
        assert_eq!(
            protocols_text(&listed),
            "- Ethereum [eth]: mainnet\n   * reth-mainnet-full/1.2.0\n- Monero (xmr)"
        );
        assert_eq!(protocols_text(&[]), "No protocols found.");
        let json = protocols_json(&listed);
        assert_eq!(json[0]["versions"][0]["variant"], "reth-mainnet-full");
        assert_eq!(json[1]["description"], Value::Null);
    }
}
