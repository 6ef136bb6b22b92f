//! Per-node firewall: a node's `firewall_config` (from `babel.yaml` or the API) as an
//! nftables ruleset, loaded with `nft -f` inside the node's network namespace.
//!
//! One table per node, `inet bv_<node id without dashes>`, with an `input` chain (traffic to
//! the node) and an `output` chain (traffic from the node). The file first declares and
//! deletes the table and then defines it again, so `nft -f` replaces the old rules in one
//! transaction: there is never a moment without rules. Rules match in list order (first
//! match wins), then the default verdict of the direction applies. Loopback traffic,
//! packets of established connections, incoming ping and IPv6 neighbour discovery are
//! always accepted.
//!
//! Node containers have no `CAP_NET_ADMIN`, so a node cannot change its own rules.

use std::fmt::Write as _;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// A node's firewall: default verdicts per direction and rules matched in list order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirewallRule {
    pub name: String,
    /// allow | deny | reject
    pub action: String,
    /// in | out
    pub direction: String,
    /// tcp | udp | both
    pub protocol: Option<String>,
    pub ips: Vec<String>,
    pub ports: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Firewall {
    pub default_in: String,
    pub default_out: String,
    pub rules: Vec<FirewallRule>,
}

impl Default for Firewall {
    fn default() -> Self {
        Self {
            default_in: "reject".into(),
            default_out: "allow".into(),
            rules: vec![],
        }
    }
}

/// ICMPv6 types accepted whatever the rules say (IPv6 does not work without them).
const ICMPV6_ALWAYS: &str =
    "echo-request, nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert";

/// Most rules a node accepts (same bound as the `babel.yaml` validation).
pub const MAX_RULES: usize = 128;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FirewallError {
    #[error("firewall: {field} `{value}`: {reason}")]
    Field {
        field: String,
        value: String,
        reason: String,
    },
    #[error("firewall: {0} rules, at most {MAX_RULES} are allowed")]
    TooManyRules(usize),
}

fn field_err(field: String, value: &str, reason: &str) -> FirewallError {
    FirewallError::Field {
        field,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// The nftables table of a node.
pub fn table_name(node_id: &str) -> String {
    let short: String = node_id.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    format!("bv_{short}")
}

fn verdict(action: &str, field: String) -> Result<&'static str, FirewallError> {
    match action {
        "allow" => Ok("accept"),
        "deny" => Ok("drop"),
        "reject" => Ok("reject"),
        other => Err(field_err(field, other, "expected allow, deny or reject")),
    }
}

/// A network in CIDR form with the host bits cleared (`10.1.2.3/8` becomes `10.0.0.0/8`).
fn network(text: &str, field: String) -> Result<(IpAddr, u8), FirewallError> {
    let (addr, prefix) = match text.trim().split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text.trim(), None),
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| field_err(field.clone(), text, "not an IP address or CIDR"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => p
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| field_err(field, text, "bad prefix length"))?,
    };
    let masked = match ip {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & mask).into())
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    };
    Ok((masked, prefix))
}

/// Rule names end up in nft comments: keep them to a safe character set.
fn comment(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.:".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect()
}

/// Checks every field of the config; the error names the rule and field.
pub fn validate(fw: &Firewall) -> Result<(), FirewallError> {
    ruleset("bv_check", fw).map(|_| ())
}

struct Match {
    /// `tcp`, `udp` or none (every protocol).
    protocol: Option<&'static str>,
    ports: Vec<u16>,
    v4: Vec<String>,
    v6: Vec<String>,
}

fn rule_match(i: usize, rule: &FirewallRule) -> Result<Match, FirewallError> {
    let at = |f: &str| format!("rules[{i}] `{}`: {f}", rule.name);
    let protocol = match rule.protocol.as_deref() {
        None | Some("both") => None,
        Some("tcp") => Some("tcp"),
        Some("udp") => Some("udp"),
        Some(other) => {
            return Err(field_err(
                at("protocol"),
                other,
                "expected tcp, udp or both",
            ));
        }
    };
    let ports = rule
        .ports
        .iter()
        .map(|p| {
            u16::try_from(*p)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| field_err(at("ports"), &p.to_string(), "expected 1..=65535"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (mut v4, mut v6) = (vec![], vec![]);
    for ip in &rule.ips {
        match network(ip, at("ips"))? {
            (IpAddr::V4(a), p) => v4.push(format!("{a}/{p}")),
            (IpAddr::V6(a), p) => v6.push(format!("{a}/{p}")),
        }
    }
    Ok(Match {
        protocol,
        ports,
        v4,
        v6,
    })
}

fn set(items: &[String]) -> String {
    format!("{{ {} }}", items.join(", "))
}

/// The nft statements of one rule (one line per address family it names).
fn rule_lines(i: usize, rule: &FirewallRule) -> Result<Vec<String>, FirewallError> {
    let m = rule_match(i, rule)?;
    let v = verdict(&rule.action, format!("rules[{i}] `{}`: action", rule.name))?;
    let remote = match rule.direction.as_str() {
        "in" => "saddr",
        "out" => "daddr",
        other => {
            return Err(field_err(
                format!("rules[{i}] `{}`: direction", rule.name),
                other,
                "expected in or out",
            ));
        }
    };
    let l4 = match (m.protocol, m.ports.is_empty()) {
        (None, true) => String::new(),
        (None, false) => format!(
            "meta l4proto {{ tcp, udp }} th dport {} ",
            set(&m.ports.iter().map(u16::to_string).collect::<Vec<_>>())
        ),
        (Some(p), true) => format!("meta l4proto {p} "),
        (Some(p), false) => format!(
            "{p} dport {} ",
            set(&m.ports.iter().map(u16::to_string).collect::<Vec<_>>())
        ),
    };
    let tail = format!("{l4}{v} comment \"{}\"", comment(&rule.name));
    let mut lines = vec![];
    if m.v4.is_empty() && m.v6.is_empty() {
        lines.push(tail);
    } else {
        if !m.v4.is_empty() {
            lines.push(format!("ip {remote} {} {tail}", set(&m.v4)));
        }
        if !m.v6.is_empty() {
            lines.push(format!("ip6 {remote} {} {tail}", set(&m.v6)));
        }
    }
    Ok(lines)
}

/// The complete `nft -f` input that (re)defines `table` for this firewall config.
pub fn ruleset(table: &str, fw: &Firewall) -> Result<String, FirewallError> {
    if fw.rules.len() > MAX_RULES {
        return Err(FirewallError::TooManyRules(fw.rules.len()));
    }
    let default_in = verdict(&fw.default_in, "default_in".into())?;
    let default_out = verdict(&fw.default_out, "default_out".into())?;
    let (mut input, mut output) = (vec![], vec![]);
    for (i, rule) in fw.rules.iter().enumerate() {
        let lines = rule_lines(i, rule)?;
        if rule.direction == "in" {
            input.extend(lines);
        } else {
            output.extend(lines);
        }
    }
    let mut out = String::new();
    // Declare-then-delete makes the replacement atomic and works when the table is absent.
    let _ = writeln!(out, "table inet {table} {{}}");
    let _ = writeln!(out, "delete table inet {table}");
    let _ = writeln!(out, "table inet {table} {{");
    for (chain, hook, iface, rules, default) in [
        ("input", "input", "iifname", &input, default_in),
        ("output", "output", "oifname", &output, default_out),
    ] {
        let _ = writeln!(out, "  chain {chain} {{");
        let _ = writeln!(
            out,
            "    type filter hook {hook} priority filter; policy accept;"
        );
        let _ = writeln!(out, "    {iface} \"lo\" accept");
        let _ = writeln!(out, "    ct state established,related accept");
        let _ = writeln!(out, "    ct state invalid drop");
        if chain == "input" {
            // Like ufw's defaults: ping and IPv6 neighbour discovery always work.
            let _ = writeln!(out, "    icmp type echo-request accept");
            let _ = writeln!(out, "    icmpv6 type {{ {ICMPV6_ALWAYS} }} accept");
        }
        for r in rules {
            let _ = writeln!(out, "    {r}");
        }
        let _ = writeln!(out, "    {default} comment \"default\"");
        let _ = writeln!(out, "  }}");
    }
    let _ = writeln!(out, "}}");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, dir: &str, action: &str, proto: Option<&str>) -> FirewallRule {
        FirewallRule {
            name: name.into(),
            action: action.into(),
            direction: dir.into(),
            protocol: proto.map(String::from),
            ips: vec![],
            ports: vec![],
        }
    }

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(|l| l.trim().to_string()).collect()
    }

    #[test]
    fn defaults_only() {
        let text = ruleset("bv_t", &Firewall::default()).unwrap();
        let expected = "table inet bv_t {}\n\
            delete table inet bv_t\n\
            table inet bv_t {\n\
            \x20 chain input {\n\
            \x20   type filter hook input priority filter; policy accept;\n\
            \x20   iifname \"lo\" accept\n\
            \x20   ct state established,related accept\n\
            \x20   ct state invalid drop\n\
            \x20   icmp type echo-request accept\n\
            \x20   icmpv6 type { echo-request, nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } accept\n\
            \x20   reject comment \"default\"\n\
            \x20 }\n\
            \x20 chain output {\n\
            \x20   type filter hook output priority filter; policy accept;\n\
            \x20   oifname \"lo\" accept\n\
            \x20   ct state established,related accept\n\
            \x20   ct state invalid drop\n\
            \x20   accept comment \"default\"\n\
            \x20 }\n\
            }\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn rules_keep_order_and_split_families() {
        let mut p2p = rule("p2p", "in", "allow", Some("tcp"));
        p2p.ports = vec![30303, 30304];
        let mut rpc = rule("rpc from lan", "in", "allow", Some("both"));
        rpc.ports = vec![8545];
        rpc.ips = vec![
            "10.1.2.3/8".into(),
            "192.168.0.7".into(),
            "fd00::1/64".into(),
        ];
        let mut block = rule("no-smtp", "out", "reject", Some("tcp"));
        block.ports = vec![25];
        let mut udp_all = rule("dns", "out", "deny", Some("udp"));
        udp_all.ips = vec!["1.1.1.1".into()];
        let fw = Firewall {
            default_in: "deny".into(),
            default_out: "allow".into(),
            rules: vec![p2p, rpc, block, udp_all, rule("all", "in", "allow", None)],
        };
        let text = lines(&ruleset("bv_x", &fw).unwrap());
        let pos = |needle: &str| {
            text.iter()
                .position(|l| l == needle)
                .unwrap_or_else(|| panic!("missing `{needle}` in {text:#?}"))
        };
        let a = pos("tcp dport { 30303, 30304 } accept comment \"p2p\"");
        let b = pos(
            "ip saddr { 10.0.0.0/8, 192.168.0.7/32 } meta l4proto { tcp, udp } th dport { 8545 } accept comment \"rpc_from_lan\"",
        );
        let c = pos(
            "ip6 saddr { fd00::/64 } meta l4proto { tcp, udp } th dport { 8545 } accept comment \"rpc_from_lan\"",
        );
        let d = pos("accept comment \"all\"");
        let default_in = pos("drop comment \"default\"");
        assert!(a < b && b < c && c < d && d < default_in);
        let out_chain = pos("chain output {");
        assert!(default_in < out_chain);
        let e = pos("tcp dport { 25 } reject comment \"no-smtp\"");
        let f = pos("ip daddr { 1.1.1.1/32 } meta l4proto udp drop comment \"dns\"");
        assert!(out_chain < e && e < f);
    }

    #[test]
    fn bad_fields_are_named() {
        let mut bad_ip = rule("p2p", "in", "allow", Some("tcp"));
        bad_ip.ips = vec!["10.0.0.300".into()];
        let fw = Firewall {
            rules: vec![bad_ip],
            ..Firewall::default()
        };
        let err = validate(&fw).unwrap_err().to_string();
        assert!(
            err.contains("rules[0] `p2p`: ips") && err.contains("10.0.0.300"),
            "{err}"
        );

        let mut bad_port = rule("p", "in", "allow", Some("tcp"));
        bad_port.ports = vec![70000];
        let fw = Firewall {
            rules: vec![bad_port],
            ..Firewall::default()
        };
        assert!(validate(&fw).unwrap_err().to_string().contains("ports"));

        for (r, field) in [
            (rule("a", "sideways", "allow", None), "direction"),
            (rule("a", "in", "maybe", None), "action"),
            (rule("a", "in", "allow", Some("icmp")), "protocol"),
        ] {
            let fw = Firewall {
                rules: vec![r],
                ..Firewall::default()
            };
            let err = validate(&fw).unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        }
        let fw = Firewall {
            default_in: "open".into(),
            ..Firewall::default()
        };
        assert!(
            validate(&fw)
                .unwrap_err()
                .to_string()
                .contains("default_in")
        );
        let fw = Firewall {
            rules: (0..=MAX_RULES)
                .map(|i| rule(&i.to_string(), "in", "allow", None))
                .collect(),
            ..Firewall::default()
        };
        assert_eq!(
            validate(&fw),
            Err(FirewallError::TooManyRules(MAX_RULES + 1))
        );
        let mut bad_prefix = rule("p", "in", "allow", None);
        bad_prefix.ips = vec!["10.0.0.0/33".into()];
        let fw = Firewall {
            rules: vec![bad_prefix],
            ..Firewall::default()
        };
        assert!(validate(&fw).unwrap_err().to_string().contains("prefix"));
    }

    #[test]
    fn table_is_keyed_by_node_id() {
        assert_eq!(
            table_name("0f5e1c2a-1111-2222-3333-444455556666"),
            "bv_0f5e1c2a111122223333444455556666"
        );
    }
}
