//! `bv node logs`.

use babel_api::pb::blockvisor::v1 as pb;
use babel_api::pb::blockvisor::v1::blockvisor_client::BlockvisorClient;
use tonic::transport::Channel;

use super::super::logview::{self, LogView};
use super::super::{Format, rpc_err};

/// Lines `bv node logs` shows by default.
const DEFAULT_LINES: u32 = 50;

/// The node's console output: the last `lines` lines (every line with `since`, unless
/// `lines` is given), then new ones while `follow`.
pub async fn logs(
    client: &mut BlockvisorClient<Channel>,
    id_or_name: String,
    lines: Option<u32>,
    follow: bool,
    since: Option<String>,
    timestamps: bool,
    format: Format,
) -> eyre::Result<()> {
    let since = since
        .map(|s| logview::parse_since(&s, chrono::Utc::now()))
        .transpose()?;
    let lines = match (lines, since) {
        (Some(n), _) => n,
        (None, Some(_)) => u32::MAX,
        (None, None) => DEFAULT_LINES,
    };
    let req = pb::NodeLogsRequest {
        id_or_name,
        lines,
        follow,
    };
    let stream = client.node_logs(req).await.map_err(rpc_err)?.into_inner();
    let view = LogView {
        source: false,
        timestamps,
        since,
    };
    logview::print(stream, &view, format).await
}
