//! `bv node info`: details and metrics of one node.

use babel_api::pb::blockvisor::v1::blockvisor_client::BlockvisorClient;
use tonic::transport::Channel;

use super::super::output::{
    image_label, job_status_text, metrics_json, node_json, print_json, status_word, uptime,
};
use super::super::update::print_health;
use super::super::{Format, rpc_err};
use super::common::noderef;

pub async fn info(
    client: &mut BlockvisorClient<Channel>,
    id: &str,
    format: Format,
) -> eyre::Result<()> {
    let node = client
        .get_node(noderef(id))
        .await
        .map_err(rpc_err)?
        .into_inner();
    let metrics = if status_word(node.status) == "Running" {
        client
            .get_node_metrics(noderef(id))
            .await
            .map(|m| m.into_inner())
            .ok()
    } else {
        None
    };
    if format == Format::Json {
        let mut v = node_json(&node);
        v["metrics"] = metrics.as_ref().map(metrics_json).unwrap_or_default();
        print_json(&v);
        return Ok(());
    }
    let spec = node.spec.clone().unwrap_or_default();
    let vm = spec.vm_config.clone().unwrap_or_default();
    let dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    crate::outln!("Name:           {}", spec.name);
    crate::outln!("Id:             {}", spec.id);
    crate::outln!(
        "Image:          {} ({})",
        image_label(&spec),
        spec.image.clone().unwrap_or_default().uri
    );
    crate::outln!("Status:         {}", status_word(node.status));
    if !node.status_reason.is_empty() {
        crate::outln!("Reason:         {}", node.status_reason);
    }
    if let Some(w) = &node.upgrade_wait {
        crate::outln!(
            "Upgrade:        {}",
            super::super::output::upgrade_wait_text(w)
        );
    }
    crate::outln!("Ip:             {}", spec.ip);
    crate::outln!("Gateway:        {}", spec.gateway);
    crate::outln!(
        "Uptime:         {}",
        dash(uptime(&node).map(|s| format!("{s}s")))
    );
    let m = metrics.unwrap_or_default();
    crate::outln!(
        "Protocol Status: {}",
        dash(
            m.protocol_status
                .as_ref()
                .map(|p| format!("{}/{}", p.state, p.health))
        )
    );
    crate::outln!("Block height:   {}", dash(m.height.map(|h| h.to_string())));
    crate::outln!(
        "Block age:      {}",
        dash(m.block_age.map(|h| h.to_string()))
    );
    crate::outln!(
        "In consensus:   {}",
        dash(m.consensus.map(|h| h.to_string()))
    );
    crate::outln!("Jobs:");
    for j in &m.jobs {
        let info = j.info.clone().unwrap_or_default();
        crate::outln!(
            "  - \"{}\"\n    Status:         {}\n    Restarts:       {}",
            j.name,
            job_status_text(info.status.as_ref()),
            info.restart_count
        );
        if let Some(p) = &info.progress {
            crate::outln!(
                "    Progress:       {}/{} {}",
                p.current,
                p.total,
                p.message
            );
        }
        for l in info.logs.iter().take(3) {
            crate::outln!("    Log:            {l}");
        }
    }
    print_health(&node, &m);
    crate::outln!(
        "Requirements:   cpu: {}, memory: {} MiB, disk: {} GB",
        vm.vcpu_count,
        vm.mem_size_mb,
        vm.disk_size_gb
    );
    crate::outln!("Tags:           {}", spec.tags.join(", "));
    Ok(())
}
