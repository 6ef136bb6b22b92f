//! `bv node update`: properties, firewall and display name of an existing node, applied
//! without recreating it.

use std::path::{Path, PathBuf};

use babel_api::pb::blockvisor::v1 as pb;
use babel_api::pb::blockvisor::v1::blockvisor_client::BlockvisorClient;
use babel_manifest::babel_yaml::{FirewallConfig, Image};
use clap::Args;
use eyre::WrapErr;
use tonic::transport::Channel;

use super::output::{node_json, print_json};
use super::{Format, rpc_err};

#[derive(Args, Debug)]
pub struct UpdateArgs {
    pub id_or_name: String,
    /// Properties to set, as a JSON object of strings (merged into the node's).
    #[arg(long)]
    pub props: Option<String>,
    /// New firewall: a YAML/JSON file in the `firewall_config` format of `babel.yaml`.
    #[arg(long, conflicts_with = "babel_yaml")]
    pub firewall: Option<PathBuf>,
    /// Take the firewall from this `babel.yaml` (its variant `--variant`).
    #[arg(long)]
    pub babel_yaml: Option<PathBuf>,
    #[arg(long = "variant", requires = "babel_yaml")]
    pub yaml_variant: Option<String>,
    #[arg(long)]
    pub display_name: Option<String>,
    /// Automatic upgrades of this node: `auto`, `manual` or `host` (the host's default).
    #[arg(long)]
    pub upgrade_policy: Option<String>,
    /// Delay before an automatic upgrade, e.g. `14d`, `12h`, `30m`, `90s`.
    #[arg(long)]
    pub upgrade_delay: Option<String>,
    /// Time an automatically upgraded node gets to become healthy before it is rolled back.
    #[arg(long)]
    pub health_deadline: Option<String>,
}

fn firewall_file(path: &Path) -> eyre::Result<pb::FirewallConfig> {
    let text = std::fs::read_to_string(path)
        .wrap_err_with(|| format!("reading --firewall {}", path.display()))?;
    let fw: FirewallConfig = serde_yaml::from_str(&text)
        .map_err(|e| eyre::eyre!("--firewall {}: {e}", path.display()))?;
    Ok(babel_manifest::babel_yaml::node_spec::firewall_to_pb(&fw))
}

fn firewall_from_babel_yaml(
    path: &Path,
    variant: Option<&str>,
) -> eyre::Result<pb::FirewallConfig> {
    let (image, _warnings) = Image::load_validated(path).map_err(|e| eyre::eyre!("{e}"))?;
    let variant = image
        .pick_variant(variant)
        .map_err(|e| eyre::eyre!("{}: {e}", path.display()))?;
    Ok(babel_manifest::babel_yaml::node_spec::firewall_to_pb(
        &variant.firewall_config,
    ))
}

/// `14d`, `12h`, `30m`, `90s` or plain seconds.
pub fn parse_duration(text: &str) -> eyre::Result<u64> {
    let t = text.trim();
    let (num, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = num
        .parse()
        .wrap_err_with(|| format!("duration `{text}`: expected e.g. 14d, 12h, 30m or 90s"))?;
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => eyre::bail!("duration `{text}`: unit must be s, m, h or d"),
    };
    Ok(n.saturating_mul(factor))
}

pub fn upgrade_policy(args: &UpdateArgs) -> eyre::Result<Option<pb::UpgradePolicy>> {
    if args.upgrade_policy.is_none()
        && args.upgrade_delay.is_none()
        && args.health_deadline.is_none()
    {
        return Ok(None);
    }
    let mode = match args.upgrade_policy.as_deref() {
        None | Some("host") => pb::UpgradeMode::Unspecified,
        Some("auto") | Some("automatic") => pb::UpgradeMode::Automatic,
        Some("manual") => pb::UpgradeMode::Manual,
        Some(other) => eyre::bail!("--upgrade-policy `{other}`: expected auto, manual or host"),
    };
    Ok(Some(pb::UpgradePolicy {
        mode: mode.into(),
        delay_secs: args
            .upgrade_delay
            .as_deref()
            .map(parse_duration)
            .transpose()?,
        health_deadline_secs: args
            .health_deadline
            .as_deref()
            .map(parse_duration)
            .transpose()?,
    }))
}

pub async fn run(
    client: &mut BlockvisorClient<Channel>,
    args: UpdateArgs,
    format: Format,
) -> eyre::Result<()> {
    let properties = match &args.props {
        Some(text) => {
            serde_json::from_str(text).wrap_err("--props must be a JSON object of strings")?
        }
        None => Default::default(),
    };
    let firewall = match (&args.firewall, &args.babel_yaml) {
        (Some(path), _) => Some(firewall_file(path)?),
        (None, Some(path)) => Some(firewall_from_babel_yaml(
            path,
            args.yaml_variant.as_deref(),
        )?),
        (None, None) => None,
    };
    let req = pb::UpdateNodeRequest {
        id_or_name: args.id_or_name.clone(),
        properties,
        firewall,
        display_name: args.display_name.clone(),
        upgrade_policy: upgrade_policy(&args)?,
    };
    let node = client.update_node(req).await.map_err(rpc_err)?.into_inner();
    match format {
        Format::Json => print_json(&node_json(&node)),
        Format::Text => crate::outln!(
            "Updated node `{}`",
            node.spec
                .as_ref()
                .map(|s| s.id.as_str())
                .unwrap_or_default()
        ),
    }
    Ok(())
}

/// The health part of `bv node info`: resources, alerts, automatic upgrades.
pub fn print_health(node: &pb::Node, m: &pb::NodeMetrics) {
    use super::output::human_bytes;
    if let Some(r) = &m.resources {
        let limit = |l: u64| {
            if l == 0 {
                String::new()
            } else {
                format!(" of {}", human_bytes(l))
            }
        };
        crate::outln!("CPU time:       {:.1} s", r.cpu_seconds);
        crate::outln!(
            "Memory:         {}{}",
            human_bytes(r.memory_bytes),
            limit(r.memory_limit_bytes)
        );
        crate::outln!(
            "Disk:           {}{}",
            human_bytes(r.disk_bytes),
            limit(r.disk_limit_bytes)
        );
    }
    let alerts = if m.alerts.is_empty() {
        &node.alerts
    } else {
        &m.alerts
    };
    if alerts.is_empty() {
        crate::outln!("Alerts:         -");
    } else {
        crate::outln!("Alerts:");
        for a in alerts {
            crate::outln!("  - {}: {}", a.kind, a.message);
        }
    }
    if let Some(a) = &node.auto_upgrade {
        let p = a.policy.unwrap_or_default();
        crate::outln!(
            "Auto upgrade:   {} (delay {} s, health deadline {} s){}",
            super::output::upgrade_mode_word(p.mode),
            p.delay_secs.unwrap_or_default(),
            p.health_deadline_secs.unwrap_or_default(),
            if a.state.is_empty() {
                String::new()
            } else {
                format!(": {}", a.state)
            }
        );
        if !a.last_result.is_empty() {
            crate::outln!("Last upgrade:   {}", a.last_result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("14d").unwrap(), 14 * 86_400);
        assert_eq!(parse_duration("90").unwrap(), 90);
        assert_eq!(parse_duration("2h").unwrap(), 7200);
        assert!(parse_duration("3w").is_err());
        assert!(parse_duration("x").is_err());
    }

    #[test]
    fn firewall_file_uses_babel_yaml_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fw.yaml");
        std::fs::write(
            &path,
            "default_in: deny\ndefault_out: allow\nrules:\n  - key: p2p\n    protocol: tcp\n    \
             direction: in\n    action: allow\n    ports: [{port: 30303}]\n",
        )
        .unwrap();
        let fw = firewall_file(&path).unwrap();
        assert_eq!(fw.default_in, pb::FirewallAction::Deny as i32);
        assert_eq!(fw.rules[0].name, "p2p");
        assert_eq!(fw.rules[0].ports, vec![30303]);
        std::fs::write(&path, "default_in: sometimes\n").unwrap();
        let err = firewall_file(&path).unwrap_err().to_string();
        assert!(err.contains("fw.yaml"), "{err}");
    }
}
