//! Ranged HTTP GET of one stored chunk, streamed into a channel.
//!
//! The chunk is fetched in parts of at most `part_size` bytes with `Range` requests. A part
//! that fails (connection error, bad status, short body) is retried from the first byte not
//! yet delivered, so the consumer sees each stored byte exactly once, in order.

use bytes::Bytes;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::{ArchiveError, HttpFailure, TransferOptions};

/// How a fetch ended when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    /// Every byte was delivered.
    Complete,
    /// The consumer hung up (it failed and reports its own error).
    ConsumerGone,
}

/// Streams bytes `0..size` of `url` into `tx`.
pub async fn fetch_chunk(
    client: &reqwest::Client,
    url: &str,
    size: u64,
    opts: &TransferOptions,
    connections: &Semaphore,
    tx: &mpsc::Sender<Bytes>,
    cancel: &CancellationToken,
) -> Result<Fetched, ArchiveError> {
    let mut pos = 0u64;
    while pos < size {
        let part_end = size.min(pos + opts.part_size.max(1));
        let mut attempt = 0;
        while pos < part_end {
            if cancel.is_cancelled() {
                return Err(ArchiveError::Interrupted("download"));
            }
            match get_range(client, url, pos, part_end, connections, tx, cancel).await {
                Ok(Some(next)) => pos = next,
                Ok(None) => return Ok(Fetched::ConsumerGone),
                Err(Progressed { at, error }) => {
                    if at > pos {
                        // Bytes got through: this is a new failure, not a repeated one.
                        pos = at;
                        attempt = 0;
                    }
                    if matches!(error, ArchiveError::Interrupted(_)) || attempt >= opts.retries {
                        return Err(error);
                    }
                    warn!(
                        "GET bytes {pos}-{} failed (attempt {attempt}): {error}",
                        part_end - 1
                    );
                    tokio::select! {
                        () = tokio::time::sleep(opts.retry_delay(attempt)) => {}
                        () = cancel.cancelled() => return Err(ArchiveError::Interrupted("download")),
                    }
                    attempt += 1;
                }
            }
        }
    }
    Ok(Fetched::Complete)
}

/// A failed request and how far it got.
struct Progressed {
    at: u64,
    error: ArchiveError,
}

/// One GET of `pos..end`; `Ok(Some(end))` when delivered, `Ok(None)` when the consumer is gone.
async fn get_range(
    client: &reqwest::Client,
    url: &str,
    mut pos: u64,
    end: u64,
    connections: &Semaphore,
    tx: &mpsc::Sender<Bytes>,
    cancel: &CancellationToken,
) -> Result<Option<u64>, Progressed> {
    let fail = |at, error| Progressed { at, error };
    let mut resp = {
        let _conn = connections
            .acquire()
            .await
            .map_err(|_| fail(pos, ArchiveError::Interrupted("download")))?;
        let req = client
            .get(url)
            .header(reqwest::header::RANGE, format!("bytes={pos}-{}", end - 1));
        tokio::select! {
            r = req.send() => r.map_err(|e| fail(pos, HttpFailure::Get(e).into()))?,
            () = cancel.cancelled() => return Err(fail(pos, ArchiveError::Interrupted("download"))),
        }
    };
    let status = resp.status();
    if !status.is_success() {
        return Err(fail(pos, HttpFailure::GetStatus(status).into()));
    }
    if status != reqwest::StatusCode::PARTIAL_CONTENT && pos != 0 {
        return Err(fail(pos, HttpFailure::RangeIgnored(status).into()));
    }
    loop {
        let next = tokio::select! {
            n = resp.chunk() => n,
            () = cancel.cancelled() => return Err(fail(pos, ArchiveError::Interrupted("download"))),
        };
        match next {
            Ok(Some(bytes)) => {
                let n = bytes.len() as u64;
                if pos + n > end {
                    return Err(fail(pos, HttpFailure::TooManyBytes.into()));
                }
                if tx.send(bytes).await.is_err() {
                    return Ok(None);
                }
                pos += n;
            }
            Ok(None) if pos == end => return Ok(Some(end)),
            Ok(None) => {
                return Err(fail(pos, HttpFailure::TooFewBytes.into()));
            }
            Err(e) => {
                return Err(fail(pos, HttpFailure::Body(e).into()));
            }
        }
    }
}
