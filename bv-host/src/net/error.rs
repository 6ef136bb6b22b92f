//! Errors of node networking.

use super::firewall::FirewallError;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A network tool could not be started.
    #[error("running {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("running nft (is nftables installed?): {0}")]
    NftMissing(std::io::Error),
    #[error("writing the ruleset to nft: {0}")]
    NftInput(std::io::Error),
    #[error("waiting for nft: {0}")]
    NftWait(std::io::Error),
    /// A tool ran and failed; `stderr` is what it said.
    #[error("{command}: {stderr}")]
    Failed { command: String, stderr: String },
    /// A tool ran and refused without explaining.
    #[error("{command} failed")]
    Refused { command: String },
    #[error(transparent)]
    Firewall(#[from] FirewallError),
}
