//! Host-side rules of the node bridge: NAT (masquerade) so bridged nodes reach beyond the
//! host, and forwarding acceptance for the bridge.
//!
//! * NAT lives in its own nftables table `ip bv_nat_<bridge>`, replaced atomically.
//! * Forwarding: hosts running Docker set the `FORWARD` policy of iptables to `DROP`, and
//!   with `br_netfilter` loaded even traffic between two ports of our bridge passes that
//!   chain. A drop in any base chain cannot be overridden from another table, so the accept
//!   rules go into iptables' own `FORWARD` chain (tagged with the comment
//!   `blockvisor <bridge>`). Each node's own firewall (in its namespace) does the filtering.

use std::net::Ipv4Addr;

use super::NetError;
use super::nft;
use crate::config::NetworkConfig;

/// The NAT table of a bridge.
pub fn nat_table(bridge: &str) -> String {
    let safe: String = bridge
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("bv_nat_{safe}")
}

/// The bridge subnet in CIDR form (`10.77.0.0/16`).
pub fn subnet(gateway: Ipv4Addr, prefix: u8) -> String {
    let prefix = prefix.min(32);
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    format!("{}/{prefix}", Ipv4Addr::from(u32::from(gateway) & mask))
}

/// The `nft -f` input of the NAT table: traffic from the node subnet that leaves through
/// another interface is masqueraded.
pub fn nat_ruleset(bridge: &str, gateway: Ipv4Addr, prefix: u8) -> String {
    let table = nat_table(bridge);
    let net = subnet(gateway, prefix);
    format!(
        "table ip {table} {{}}\n\
         delete table ip {table}\n\
         table ip {table} {{\n\
         \x20 chain postrouting {{\n\
         \x20   type nat hook postrouting priority srcnat; policy accept;\n\
         \x20   ip saddr {net} oifname != \"{bridge}\" masquerade\n\
         \x20 }}\n\
         }}\n"
    )
}

fn forward_rules(bridge: &str) -> [Vec<String>; 2] {
    let comment = format!("blockvisor {bridge}");
    ["-i", "-o"].map(|dir| {
        [
            dir,
            bridge,
            "-m",
            "comment",
            "--comment",
            &comment,
            "-j",
            "ACCEPT",
        ]
        .map(String::from)
        .to_vec()
    })
}

/// Installs the host rules the config asks for (idempotent).
pub async fn ensure(config: &NetworkConfig) -> Result<(), NetError> {
    if config.masquerade {
        nft::load(
            None,
            &nat_ruleset(&config.bridge, config.gateway, config.prefix),
        )
        .await?;
    }
    if config.accept_forward {
        for rule in forward_rules(&config.bridge) {
            let rule: Vec<&str> = rule.iter().map(String::as_str).collect();
            let check: Vec<&str> = ["-C", "FORWARD"].into_iter().chain(rule.clone()).collect();
            if !nft::iptables(&check).await? {
                let insert: Vec<&str> = ["-I", "FORWARD", "1"]
                    .into_iter()
                    .chain(rule.clone())
                    .collect();
                if !nft::iptables(&insert).await? {
                    return Err(NetError::Refused {
                        command: format!("iptables {}", insert.join(" ")),
                    });
                }
            }
        }
    }
    Ok(())
}

/// Removes the bridge's host rules (when the bridge is retired; tests clean up with it).
pub async fn remove(bridge: &str) -> Result<(), NetError> {
    nft::delete_table(None, "ip", &nat_table(bridge)).await?;
    for rule in forward_rules(bridge) {
        let rule: Vec<&str> = rule.iter().map(String::as_str).collect();
        let delete: Vec<&str> = ["-D", "FORWARD"].into_iter().chain(rule).collect();
        while nft::iptables(&delete).await? {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nat_covers_the_subnet_only() {
        let text = nat_ruleset("bvbr0", Ipv4Addr::new(10, 77, 0, 1), 16);
        assert!(text.contains("table ip bv_nat_bvbr0 {\n"), "{text}");
        assert!(
            text.contains("ip saddr 10.77.0.0/16 oifname != \"bvbr0\" masquerade"),
            "{text}"
        );
        assert!(text.starts_with("table ip bv_nat_bvbr0 {}\ndelete table ip bv_nat_bvbr0\n"));
        assert_eq!(subnet(Ipv4Addr::new(192, 168, 5, 77), 24), "192.168.5.0/24");
        assert_eq!(nat_table("br-x.1"), "bv_nat_br_x_1");
    }
}
