//! Progress of long operations on stderr: a bar on a terminal, plain lines otherwise (a pipe
//! or a log file), nothing with `--format json`. Fed by the daemon's `PullImage` stream and by
//! the set and archive commands.

use babel_api::pb::blockvisor::v1 as pb;
use babel_api::pb::blockvisor::v1::blockvisor_client::BlockvisorClient;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tonic::transport::Channel;

use super::output::human_bytes;
use super::{Format, rpc_err};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// Redrawn bars (stderr is a terminal).
    Bar,
    /// One line per step (stderr is a pipe or a file).
    Lines,
    /// Nothing (`--format json`: stdout is for the result, stderr for errors).
    Quiet,
}

impl Display {
    pub fn for_format(format: Format) -> Self {
        match format {
            Format::Json => Self::Quiet,
            Format::Text if std::io::IsTerminal::is_terminal(&std::io::stderr()) => Self::Bar,
            Format::Text => Self::Lines,
        }
    }

    /// A progress line (plain on a pipe, above the bars on a terminal).
    pub fn line(self, text: &str) {
        if self != Self::Quiet {
            eprintln!("{text}");
        }
    }
}

fn bar(phase: &str, total: Option<u64>) -> ProgressBar {
    let pb = match total {
        Some(t) => ProgressBar::new(t),
        None => ProgressBar::new_spinner(),
    };
    pb.set_draw_target(ProgressDrawTarget::stderr());
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

/// One phase of a pull (`pull`, `unpack`) as the display shows it.
struct Phase {
    name: String,
    total: Option<u64>,
    done: u64,
    bar: Option<ProgressBar>,
}

impl Phase {
    fn begin(display: Display, name: &str, total: Option<u64>) -> Self {
        let bar = (display == Display::Bar).then(|| bar(name, total));
        if display == Display::Lines {
            let size = total.map(|t| format!(" ({})", human_bytes(t)));
            display.line(&format!("{name}: started{}", size.unwrap_or_default()));
        }
        Self {
            name: name.into(),
            total,
            done: 0,
            bar,
        }
    }

    fn advance(&mut self, bytes: u64) {
        self.done += bytes;
        if let Some(b) = &self.bar {
            b.inc(bytes);
        }
    }

    fn finish(self, display: Display) {
        match self.bar {
            Some(b) => b.finish(),
            None => display.line(&format!(
                "{}: done, {}{}",
                self.name,
                human_bytes(self.done),
                self.total
                    .map(|t| format!(" of {}", human_bytes(t)))
                    .unwrap_or_default()
            )),
        }
    }
}

/// Makes `uri` local on the daemon, showing each phase (pull, unpack) as `format` and the
/// terminal allow. Returns the image digest.
pub async fn pull(
    client: &mut BlockvisorClient<Channel>,
    uri: &str,
    format: Format,
) -> eyre::Result<String> {
    let req = pb::PullImageRequest {
        uri: uri.into(),
        catalog: None,
    };
    pull_request(client, req, uri, format).await
}

/// Makes the image a catalog create of `catalog` would run local on the daemon (the daemon
/// asks the API which one), with the same display as [`pull`].
pub async fn pull_catalog(
    client: &mut BlockvisorClient<Channel>,
    catalog: &pb::CatalogNodeRequest,
    format: Format,
) -> eyre::Result<String> {
    let req = pb::PullImageRequest {
        uri: String::new(),
        catalog: Some(catalog.clone()),
    };
    let what = format!("{}/{}", catalog.protocol_key, catalog.variant_key);
    pull_request(client, req, &what, format).await
}

async fn pull_request(
    client: &mut BlockvisorClient<Channel>,
    req: pb::PullImageRequest,
    uri: &str,
    format: Format,
) -> eyre::Result<String> {
    let display = Display::for_format(format);
    let mut stream = client.pull_image(req).await.map_err(rpc_err)?.into_inner();
    let mut current: Option<Phase> = None;
    while let Some(msg) = stream.message().await.map_err(rpc_err)? {
        if !msg.digest.is_empty() {
            if let Some(p) = current.take() {
                p.finish(display);
            }
            return Ok(msg.digest);
        }
        if !msg.phase.is_empty() {
            if let Some(p) = current.take() {
                p.finish(display);
            }
            current = Some(Phase::begin(display, &msg.phase, msg.total_bytes));
        }
        if let Some(p) = current.as_mut() {
            p.advance(msg.advance_bytes);
        }
        if msg.phase_done
            && let Some(p) = current.take()
        {
            p.finish(display);
        }
    }
    eyre::bail!("the daemon ended the pull of `{uri}` without a result")
}
