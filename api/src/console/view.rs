//! The JSON the console reads: the fleet (hosts and nodes from the database, joined with
//! the latest figures of each host) and a node's detail.

use babel_api::pb::api::v1 as pb;
use serde::Serialize;

use std::collections::HashMap;

use crate::db::{self, Db, DbResult};
use crate::figures::{self, Alert, HostUsage, Job, Latest, Point};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HostView {
    pub id: String,
    pub name: String,
    pub network_name: String,
    pub online: bool,
    pub last_seen_ms: Option<i64>,
    pub bv_version: String,
    pub os: String,
    pub os_version: String,
    pub cpu_cores: u32,
    pub memory_bytes: u64,
    pub disk_bytes: u64,
    pub region: Option<String>,
    pub tags: Vec<String>,
    pub node_count: u64,
    /// From the host's own reports (or a scrape); none before the first.
    pub usage: Option<HostUsage>,
    /// When the figures were taken.
    pub figures_ms: Option<i64>,
    pub scrape_error: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeView {
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub host_id: String,
    pub host_name: String,
    pub protocol: String,
    pub variant: String,
    pub version: String,
    pub build: u64,
    pub image_id: String,
    pub tags: Vec<String>,
    /// Last state the host reported (`running`, `stopped`, …).
    pub state: String,
    /// State the API wants.
    pub next_state: String,
    pub protocol_state: Option<String>,
    pub protocol_health: Option<String>,
    pub height: Option<u64>,
    pub block_age_secs: Option<u64>,
    pub jobs: Vec<Job>,
    pub alerts: Vec<Alert>,
    pub updated_at_ms: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Fleet {
    pub hosts: Vec<HostView>,
    pub nodes: Vec<NodeView>,
}

/// `NODE_STATE_RUNNING` → `running`.
pub fn state_word(state: i32) -> String {
    pb::NodeState::try_from(state)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("NODE_STATE_")
                .to_ascii_lowercase()
        })
        .unwrap_or_else(|_| "unspecified".to_string())
}

const PAGE: i64 = 1000;

fn host_view(row: &db::hosts::HostRow, node_count: u64, latest: Option<&Latest>) -> HostView {
    HostView {
        id: row.host_id.clone(),
        name: row
            .display_name
            .clone()
            .unwrap_or_else(|| row.network_name.clone()),
        network_name: row.network_name.clone(),
        online: row.online != 0,
        last_seen_ms: row.last_seen_at,
        bv_version: row.bv_version.clone(),
        os: row.os.clone(),
        os_version: row.os_version.clone(),
        cpu_cores: row.cpu_cores as u32,
        memory_bytes: row.memory_bytes as u64,
        disk_bytes: row.disk_bytes as u64,
        region: row.region.clone(),
        tags: serde_json::from_str(&row.tags_json).unwrap_or_default(),
        node_count,
        usage: latest.and_then(|l| l.telemetry.as_ref().map(|t| t.usage.clone())),
        figures_ms: latest.map(|l| l.at_ms),
        scrape_error: latest.and_then(|l| l.error.clone()),
    }
}

pub fn node_view(node: &pb::Node, host_name: &str, latest: Option<&Latest>) -> NodeView {
    let status = node.status.clone().unwrap_or_default();
    let t = latest.and_then(|l| l.node(&node.node_id)).cloned();
    let key = node.version_key.clone().unwrap_or_default();
    NodeView {
        id: node.node_id.clone(),
        name: node.node_name.clone(),
        display_name: node.display_name.clone(),
        host_id: node.host_id.clone(),
        host_name: host_name.to_string(),
        protocol: key.protocol_key,
        variant: key.variant_key,
        version: node.semantic_version.clone(),
        build: node.build_version,
        image_id: node.image_id.clone(),
        tags: node.tags.clone(),
        state: state_word(status.state),
        next_state: state_word(node.next_state),
        // The figures are fresher than the host's last status report.
        protocol_state: t
            .as_ref()
            .and_then(|t| t.protocol_state.clone())
            .or(status.protocol_state),
        protocol_health: t
            .as_ref()
            .and_then(|t| t.protocol_health.clone())
            .or(status.protocol_health),
        height: t.as_ref().and_then(|t| t.height),
        block_age_secs: t.as_ref().and_then(|t| t.block_age_secs),
        jobs: t.as_ref().map(|t| t.jobs.clone()).unwrap_or_default(),
        alerts: t.map(|t| t.alerts).unwrap_or_default(),
        updated_at_ms: node.updated_at.map_or(0, |ts| ts.seconds * 1000),
    }
}

/// Every live host and node.
pub async fn fleet(db: &Db) -> DbResult<Fleet> {
    let latest: HashMap<String, Latest> = figures::all_latest(db).await?;
    let (host_rows, _) = db::hosts::list(db, None, 0, PAGE).await?;
    let (node_rows, _) = db::nodes::list(db, &Default::default(), 0, PAGE * 10).await?;
    let mut nodes = Vec::with_capacity(node_rows.len());
    for row in &node_rows {
        let node = row.to_proto()?;
        let host_name = host_rows
            .iter()
            .find(|h| h.host_id == node.host_id)
            .map(|h| h.display_name.clone().unwrap_or(h.network_name.clone()))
            .unwrap_or_default();
        nodes.push(node_view(&node, &host_name, latest.get(&node.host_id)));
    }
    let hosts = host_rows
        .iter()
        .map(|h| {
            let count = nodes.iter().filter(|n| n.host_id == h.host_id).count() as u64;
            host_view(h, count, latest.get(&h.host_id))
        })
        .collect();
    Ok(Fleet { hosts, nodes })
}

/// A command the API recorded for a node and what the host answered.
#[derive(Debug, Clone, Serialize)]
pub struct CommandView {
    pub kind: String,
    pub created_ms: i64,
    pub completed_ms: Option<i64>,
    pub exit_code: Option<String>,
    pub message: Option<String>,
}

fn millis(ts: Option<prost_types::Timestamp>) -> Option<i64> {
    ts.map(|t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000)
}

pub fn command_view(c: &pb::Command) -> CommandView {
    use pb::node_command::Command as N;
    let kind = match &c.command {
        Some(pb::command::Command::Node(n)) => match &n.command {
            Some(N::Create(_)) => "create",
            Some(N::Start(_)) => "start",
            Some(N::Stop(_)) => "stop",
            Some(N::Restart(_)) => "restart",
            Some(N::Delete(_)) => "delete",
            Some(N::Upgrade(_)) => "upgrade",
            Some(N::Update(_)) => "update",
            None => "node",
        },
        Some(pb::command::Command::Host(_)) => "host",
        None => "unknown",
    };
    CommandView {
        kind: kind.to_string(),
        created_ms: millis(c.created_at).unwrap_or(0),
        completed_ms: millis(c.completed_at),
        exit_code: c.exit_code.and_then(|code| {
            pb::CommandExitCode::try_from(code).ok().map(|e| {
                e.as_str_name()
                    .trim_start_matches("COMMAND_EXIT_CODE_")
                    .to_ascii_lowercase()
            })
        }),
        message: c.exit_message.clone(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeDetail {
    pub node: NodeView,
    pub history: Vec<Point>,
    pub commands: Vec<CommandView>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_words() {
        assert_eq!(state_word(pb::NodeState::Running as i32), "running");
        assert_eq!(state_word(pb::NodeState::Upgrading as i32), "upgrading");
        assert_eq!(state_word(99), "unspecified");
    }
}
