//! `bv host holds`: the versions automatic upgrades leave alone on this host after a
//! rollback, and releasing one.

use std::path::Path;

use babel_api::pb::blockvisor::v1 as pb;
use clap::Subcommand;

use super::output::print_json;
use super::{Format, connect, rpc_err};

#[derive(Subcommand, Debug)]
pub enum HoldsCommand {
    /// List the held versions (the default).
    #[command(visible_alias = "ls")]
    List,
    /// Let automatic upgrades try a held version again (a later rollback holds it again).
    Release {
        protocol: String,
        variant: String,
        version: String,
    },
}

fn print(holds: &pb::UpgradeHolds, format: Format) {
    match format {
        Format::Json => print_json(&serde_json::Value::Array(
            holds
                .holds
                .iter()
                .map(|h| {
                    serde_json::json!({
                        "protocol": h.protocol,
                        "variant": h.variant,
                        "version": h.version,
                        "at": h.at,
                        "reason": h.reason,
                    })
                })
                .collect(),
        )),
        Format::Text if holds.holds.is_empty() => crate::outln!("No version is held."),
        Format::Text => {
            for h in &holds.holds {
                crate::outln!(
                    "{}/{} {}  held since {}: {}",
                    h.protocol,
                    h.variant,
                    h.version,
                    h.at,
                    h.reason
                );
            }
        }
    }
}

pub async fn holds(socket: &Path, cmd: Option<HoldsCommand>, format: Format) -> eyre::Result<()> {
    let mut client = connect(socket).await?;
    match cmd.unwrap_or(HoldsCommand::List) {
        HoldsCommand::List => {
            let holds = client
                .list_upgrade_holds(pb::ListUpgradeHoldsRequest {})
                .await
                .map_err(rpc_err)?
                .into_inner();
            print(&holds, format);
        }
        HoldsCommand::Release {
            protocol,
            variant,
            version,
        } => {
            let left = client
                .release_upgrade_hold(pb::ReleaseUpgradeHoldRequest {
                    protocol: protocol.clone(),
                    variant: variant.clone(),
                    version: version.clone(),
                })
                .await
                .map_err(rpc_err)?
                .into_inner();
            match format {
                Format::Json => print(&left, format),
                Format::Text => crate::outln!("Released {protocol}/{variant} {version}"),
            }
        }
    }
    Ok(())
}
