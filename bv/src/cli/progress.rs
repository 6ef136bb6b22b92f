//! Image pull/unpack progress bars (indicatif), fed by the daemon's `PullImage` stream.

use babel_api::pb::blockvisor::v1 as pb;
use babel_api::pb::blockvisor::v1::blockvisor_client::BlockvisorClient;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tonic::transport::Channel;

use super::{Format, rpc_err};

fn bar(phase: &str, total: Option<u64>, visible: bool) -> ProgressBar {
    let pb = match total {
        Some(t) => ProgressBar::new(t),
        None => ProgressBar::new_spinner(),
    };
    if !visible {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    let template = if total.is_some() {
        "{prefix:>7} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}"
    } else {
        "{prefix:>7} {spinner} {bytes} {bytes_per_sec}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_prefix(phase.to_string());
    pb
}

/// Makes `uri` local on the daemon, drawing a bar per phase (on stderr, text mode only).
/// Returns the image digest.
pub async fn pull(
    client: &mut BlockvisorClient<Channel>,
    uri: &str,
    format: Format,
) -> eyre::Result<String> {
    let visible = format == Format::Text;
    let mut stream = client
        .pull_image(pb::PullImageRequest { uri: uri.into() })
        .await
        .map_err(rpc_err)?
        .into_inner();
    let mut current: Option<ProgressBar> = None;
    while let Some(msg) = stream.message().await.map_err(rpc_err)? {
        if !msg.digest.is_empty() {
            if let Some(b) = current.take() {
                b.finish();
            }
            return Ok(msg.digest);
        }
        if !msg.phase.is_empty() {
            if let Some(b) = current.take() {
                b.finish();
            }
            current = Some(bar(&msg.phase, msg.total_bytes, visible));
        }
        if let Some(b) = &current {
            b.inc(msg.advance_bytes);
            if msg.phase_done {
                b.finish();
            }
        }
    }
    eyre::bail!("the daemon ended the pull of `{uri}` without a result")
}
