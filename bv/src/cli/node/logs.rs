//! `bv node logs`.

use babel_api::pb::blockvisor::v1 as pb;
use babel_api::pb::blockvisor::v1::blockvisor_client::BlockvisorClient;
use tonic::transport::Channel;

use super::super::job::print_log_stream;
use super::super::{Format, rpc_err};

/// The node's console output: the last `lines` lines, then new ones while `follow`.
pub async fn logs(
    client: &mut BlockvisorClient<Channel>,
    id_or_name: String,
    lines: u32,
    follow: bool,
    format: Format,
) -> eyre::Result<()> {
    let req = pb::NodeLogsRequest {
        id_or_name,
        lines,
        follow,
    };
    let stream = client.node_logs(req).await.map_err(rpc_err)?.into_inner();
    print_log_stream(stream, format).await
}
