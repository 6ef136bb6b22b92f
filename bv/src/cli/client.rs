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

/// Turns a gRPC error into a readable one; see [`readable`].
pub fn rpc_err(s: tonic::Status) -> eyre::Report {
    eyre::eyre!("{}", readable(s.message()))
}

/// A daemon message as the user reads it: paths inside a node's root filesystem are shown
/// from that root (`<rootfs>/var/lib/babel/plugin/main.rhai`), not as the host's absolute
/// path under the daemon's state directory.
pub fn readable(message: &str) -> String {
    const ROOTFS: &str = "/rootfs/";
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(ROOTFS) {
        // The path starts at the last separator before it (space, quote, colon, bracket).
        let start = rest[..at]
            .rfind(|c: char| c.is_whitespace() || "'\"`:([".contains(c))
            .map_or(0, |i| i + 1);
        if rest[start..at].starts_with('/') {
            out.push_str(&rest[..start]);
            out.push_str("<rootfs>/");
        } else {
            out.push_str(&rest[..at + ROOTFS.len()]);
        }
        rest = &rest[at + ROOTFS.len()..];
    }
    out.push_str(rest);
    out
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

#[cfg(test)]
mod tests {
    use super::readable;

    #[test]
    fn rootfs_paths_are_shown_from_the_node_root() {
        assert_eq!(
            readable(
                "Rhai function 'height' returned error: connecting to \
                 /var/lib/blockvisor/nodes/4f0c/rootfs/var/lib/babel/babel.sock: refused \
                 (in '/var/lib/blockvisor/nodes/4f0c/rootfs/var/lib/babel/plugin/main.rhai')"
            ),
            "Rhai function 'height' returned error: connecting to \
             <rootfs>/var/lib/babel/babel.sock: refused \
             (in '<rootfs>/var/lib/babel/plugin/main.rhai')"
        );
        assert_eq!(readable("no path here"), "no path here");
        assert_eq!(readable("relative x/rootfs/y"), "relative x/rootfs/y");
    }
}
