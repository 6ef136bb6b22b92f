//! Bridge networking with iproute2: a Linux bridge (created on first use, its address is the
//! nodes' gateway), and per node a named network namespace joined to it by a veth pair, with
//! the node's fixed IP on `eth0` and a default route via the gateway.

use std::path::PathBuf;

use async_trait::async_trait;
use tokio::process::Command;

use super::{NetError, NodeNet, NodeNetwork, netns_path};
use crate::config::NetworkConfig;
use crate::container::spec::Network;

#[derive(Debug, Clone)]
pub struct Bridge {
    pub config: NetworkConfig,
    pub ip: PathBuf,
}

impl Bridge {
    pub fn new(config: NetworkConfig) -> Self {
        Self {
            config,
            ip: "ip".into(),
        }
    }

    /// Namespace name of a node.
    pub fn netns(&self, node_id: &str) -> String {
        format!("bv-{node_id}")
    }

    /// Host-side veth name (at most 15 characters).
    pub fn veth(&self, node_id: &str) -> String {
        let short: String = node_id.chars().filter(|c| *c != '-').take(8).collect();
        format!("{}{short}", self.config.veth_prefix)
    }

    async fn ip(&self, args: &[&str]) -> Result<String, NetError> {
        let out = Command::new(&self.ip)
            .args(args)
            .output()
            .await
            .map_err(|source| NetError::Spawn {
                program: self.ip.display().to_string(),
                source,
            })?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(NetError::Failed {
                command: format!("ip {}", args.join(" ")),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }

    async fn ensure_bridge(&self) -> Result<(), NetError> {
        let br = self.config.bridge.as_str();
        if self.ip(&["link", "show", "dev", br]).await.is_ok() {
            return Ok(());
        }
        self.ip(&["link", "add", "name", br, "type", "bridge"])
            .await?;
        let addr = format!("{}/{}", self.config.gateway, self.config.prefix);
        self.ip(&["addr", "add", &addr, "dev", br]).await?;
        self.ip(&["link", "set", "dev", br, "up"]).await?;
        // Let nodes reach beyond the host: routing here, NAT and forwarding in host_rules.
        let _ = std::fs::write("/proc/sys/net/ipv4/ip_forward", "1");
        Ok(())
    }
}

#[async_trait]
impl NodeNetwork for Bridge {
    async fn setup(&self, node_id: &str, net: &NodeNet) -> Result<Network, NetError> {
        self.ensure_bridge().await?;
        super::host_rules::ensure(&self.config).await?;
        let ns = self.netns(node_id);
        let path = netns_path(&ns);
        if path.exists()
            && self
                .ip(&["-n", &ns, "addr", "show", "dev", "eth0"])
                .await
                .is_ok()
        {
            return Ok(Network::Namespace(path));
        }
        // Half-made leftovers of an earlier attempt go first.
        let _ = self.ip(&["netns", "del", &ns]).await;
        let veth = self.veth(node_id);
        let _ = self.ip(&["link", "del", "dev", &veth]).await;
        let peer = format!("{veth}p");
        let result = async {
            self.ip(&["netns", "add", &ns]).await?;
            self.ip(&["link", "add", &veth, "type", "veth", "peer", "name", &peer])
                .await?;
            self.ip(&["link", "set", "dev", &peer, "netns", &ns])
                .await?;
            self.ip(&["link", "set", "dev", &veth, "master", &self.config.bridge])
                .await?;
            self.ip(&["link", "set", "dev", &veth, "up"]).await?;
            self.ip(&["-n", &ns, "link", "set", "dev", &peer, "name", "eth0"])
                .await?;
            let addr = format!("{}/{}", net.ip, net.prefix);
            self.ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])
                .await?;
            self.ip(&["-n", &ns, "link", "set", "dev", "eth0", "up"])
                .await?;
            self.ip(&["-n", &ns, "link", "set", "dev", "lo", "up"])
                .await?;
            let gw = net.gateway.to_string();
            self.ip(&["-n", &ns, "route", "add", "default", "via", &gw])
                .await?;
            Ok::<_, NetError>(())
        }
        .await;
        if let Err(e) = result {
            let _ = self.teardown(node_id).await;
            return Err(e);
        }
        Ok(Network::Namespace(path))
    }

    async fn teardown(&self, node_id: &str) -> Result<(), NetError> {
        let ns = self.netns(node_id);
        if netns_path(&ns).exists() {
            self.ip(&["netns", "del", &ns]).await?;
        }
        // Deleting the namespace removes the pair; a veth left on the host side goes too.
        let _ = self.ip(&["link", "del", "dev", &self.veth(node_id)]).await;
        Ok(())
    }

    async fn leftovers(&self, node_id: &str) -> Vec<String> {
        let mut out = vec![];
        let ns = self.netns(node_id);
        if netns_path(&ns).exists() {
            out.push(format!("netns {ns}"));
        }
        let veth = self.veth(node_id);
        if std::path::Path::new("/sys/class/net").join(&veth).exists() {
            out.push(format!("veth {veth}"));
        }
        out
    }

    async fn apply_firewall(
        &self,
        node_id: &str,
        firewall: &super::firewall::Firewall,
    ) -> Result<(), NetError> {
        let ns = self.netns(node_id);
        if !netns_path(&ns).exists() {
            // Validate anyway: a bad config must fail now, not at the next start.
            super::firewall::validate(firewall)?;
            return Ok(());
        }
        let text = super::firewall::ruleset(&super::firewall::table_name(node_id), firewall)?;
        super::nft::load(Some(&ns), &text).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_kernel_limits() {
        let b = Bridge::new(NetworkConfig::default());
        let id = "0f5e1c2a-1111-2222-3333-444455556666";
        assert_eq!(b.veth(id), "bvv0f5e1c2a");
        assert!(format!("{}p", b.veth(id)).len() <= 15);
        assert_eq!(b.netns(id), format!("bv-{id}"));
    }
}
