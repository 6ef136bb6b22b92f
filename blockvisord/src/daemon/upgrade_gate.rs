//! The local API's side of what happens before an upgrade stops a node: the caller's
//! choice about upgrade-blocking jobs and the maximum wait, and the visible wait.

use std::time::Duration;

use babel_api::pb::blockvisor::v1 as pb;
use bv_node::node::upgrade_gate::{DEFAULT_MAX_WAIT, OnBlocking, UpgradeGate};
use bv_node::node::upgrade_wait::UpgradeWait;

/// The gate an `UpgradeNode` request asks for (host default maximum wait if unset).
pub fn gate_from_pb(on_blocking: pb::UpgradeBlocking, max_wait_secs: Option<u64>) -> UpgradeGate {
    UpgradeGate {
        on_blocking: match on_blocking {
            pb::UpgradeBlocking::Refuse => OnBlocking::Refuse,
            pb::UpgradeBlocking::Wait => OnBlocking::Wait,
            pb::UpgradeBlocking::Force => OnBlocking::Force,
        },
        max_wait: max_wait_secs.map_or(DEFAULT_MAX_WAIT, Duration::from_secs),
        ..Default::default()
    }
}

fn timestamp(t: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

pub fn wait_to_pb(w: UpgradeWait) -> pb::UpgradeWait {
    pb::UpgradeWait {
        reason: w.reason,
        to_version: w.to_version,
        since: Some(timestamp(w.since)),
        deadline: Some(timestamp(w.deadline)),
    }
}
