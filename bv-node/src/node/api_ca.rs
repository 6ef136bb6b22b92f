//! The control plane's CA inside the node: a host registered with its own CA file for the
//! API (a private CA) hands the same certificates to the node's agent, which must verify
//! the API when it transfers archive chunks the API serves itself.

use std::path::Path;

use babel_api::node_env::API_CA_FILE_IN_ROOTFS;
use bv_host::apilink::creds::HostCredentials;
use tracing::warn;

use super::{Node, NodeResult, io_err};

impl Node {
    /// Writes the registered API's CA file into `rootfs`, or removes a stale copy when the
    /// host trusts the system roots (or is not registered).
    pub(crate) fn install_api_ca(&self, rootfs: &Path) -> NodeResult<()> {
        let target = rootfs.join(API_CA_FILE_IN_ROOTFS);
        let ca_file = match HostCredentials::load(&self.svc.config.root) {
            Ok(creds) => creds.and_then(|c| c.ca_file),
            Err(e) => {
                warn!(node = %self.state.id, "host credentials unreadable; no API CA for the node: {e}");
                None
            }
        };
        match ca_file {
            Some(ca) => {
                let pem = std::fs::read(&ca)
                    .map_err(io_err(format!("reading the API CA file {}", ca.display())))?;
                std::fs::write(&target, pem)
                    .map_err(io_err(format!("writing {}", target.display())))?;
            }
            None => match std::fs::remove_file(&target) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io_err(format!("removing {}", target.display()))(e));
                }
                _ => {}
            },
        }
        Ok(())
    }
}
