//! Progress reporting for pulls and unpacks. The daemon/CLI implement [`ProgressSink`]
//! (indicatif bars, a gRPC stream); the store reports through it.

use std::sync::Arc;

/// What the store is doing while it reports progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Fetching image bytes (docker export, registry blobs).
    Pull,
    /// Unpacking layers into the image rootfs. Bytes are compressed layer bytes consumed.
    Unpack,
}

/// Receives progress. `begin` starts a phase (total in bytes when known), `advance` adds bytes
/// done, `finish` ends the current phase. Calls come from one task at a time, in order.
pub trait ProgressSink: Send + Sync {
    fn begin(&self, phase: Phase, total_bytes: Option<u64>);
    fn advance(&self, bytes: u64);
    fn finish(&self);
}

/// A sink that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn begin(&self, _phase: Phase, _total_bytes: Option<u64>) {}
    fn advance(&self, _bytes: u64) {}
    fn finish(&self) {}
}

/// One progress event, used to carry progress from blocking threads back to the caller's sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    Begin(Phase, Option<u64>),
    Advance(u64),
    Finish,
}

impl Event {
    pub(crate) fn deliver(self, sink: &dyn ProgressSink) {
        match self {
            Event::Begin(phase, total) => sink.begin(phase, total),
            Event::Advance(n) => sink.advance(n),
            Event::Finish => sink.finish(),
        }
    }
}

/// A `'static` sink that forwards events over a channel (for `spawn_blocking` work).
#[derive(Clone)]
pub(crate) struct ChannelSink(pub(crate) tokio::sync::mpsc::UnboundedSender<Event>);

impl ProgressSink for ChannelSink {
    fn begin(&self, phase: Phase, total_bytes: Option<u64>) {
        let _ = self.0.send(Event::Begin(phase, total_bytes));
    }
    fn advance(&self, bytes: u64) {
        if bytes > 0 {
            let _ = self.0.send(Event::Advance(bytes));
        }
    }
    fn finish(&self) {
        let _ = self.0.send(Event::Finish);
    }
}

impl<T: ProgressSink + ?Sized> ProgressSink for Arc<T> {
    fn begin(&self, phase: Phase, total_bytes: Option<u64>) {
        (**self).begin(phase, total_bytes)
    }
    fn advance(&self, bytes: u64) {
        (**self).advance(bytes)
    }
    fn finish(&self) {
        (**self).finish()
    }
}

/// Run blocking `work` on the blocking pool while forwarding its progress to `sink`.
pub(crate) async fn run_blocking<T: Send + 'static>(
    sink: &dyn ProgressSink,
    work: impl FnOnce(&ChannelSink) -> T + Send + 'static,
) -> Result<T, crate::image::ImageError> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let chan = ChannelSink(tx);
    let handle = tokio::task::spawn_blocking(move || work(&chan));
    while let Some(ev) = rx.recv().await {
        ev.deliver(sink);
    }
    handle.await.map_err(crate::image::ImageError::Task)
}
