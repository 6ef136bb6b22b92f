//! The connection to blockvisord's local API and the helpers every command shares.

use std::time::Duration;

use babel_api::pb::blockvisor::v1::blockvisor_client::BlockvisorClient;
use eyre::WrapErr;
use tonic::transport::Channel;

pub async fn connect(socket: &std::path::Path) -> eyre::Result<BlockvisorClient<Channel>> {
    let channel = bv_base::uds::connect(socket, None)
        .await
        .wrap_err_with(|| {
            format!(
                "blockvisord is not reachable on {} (is it running? try `bv start`)",
                socket.display()
            )
        })?;
    Ok(BlockvisorClient::new(channel))
}

/// Turns a gRPC error into a readable one.
pub fn rpc_err(s: tonic::Status) -> eyre::Report {
    eyre::eyre!("{}", s.message())
}

/// Polls `check` every 50 ms until it is true or `timeout` passes.
pub async fn wait_until<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
