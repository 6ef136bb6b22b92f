//! Tailing a host-side log file (a node's console), optionally following it.

use std::io::SeekFrom;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use babel_api::pb::blockvisor::v1 as pb;
use futures::Stream;
use tokio::io::{AsyncBufReadExt, AsyncSeekExt, BufReader};
use tonic::Status;

use super::error::ApiError;

/// Log lines as the local API streams them.
pub type LogStream = Pin<Box<dyn Stream<Item = Result<pb::LogLine, Status>> + Send>>;

/// Last `lines` lines (0: 100) of `path`, then new lines while `follow`.
pub async fn tail(
    path: PathBuf,
    source: &str,
    lines: u32,
    follow: bool,
) -> Result<LogStream, Status> {
    let lines = if lines == 0 { 100 } else { lines as usize };
    let text = tokio::fs::read(&path).await.unwrap_or_default();
    let offset = text.len() as u64;
    let text = String::from_utf8_lossy(&text);
    let all: Vec<&str> = text.lines().collect();
    let first: Vec<pb::LogLine> = all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|l| pb::LogLine {
            source: source.into(),
            line: (*l).to_string(),
        })
        .collect();
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let source = source.to_string();
    tokio::spawn(async move {
        for line in first {
            if tx.send(Ok(line)).await.is_err() {
                return;
            }
        }
        if !follow {
            return;
        }
        let Ok(mut file) = tokio::fs::File::open(&path).await else {
            return;
        };
        if file.seek(SeekFrom::Start(offset)).await.is_err() {
            return;
        }
        let mut reader = BufReader::new(file);
        let mut buf = String::new();
        loop {
            buf.clear();
            match reader.read_line(&mut buf).await {
                Ok(0) => {
                    if tx.is_closed() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Ok(_) => {
                    let line = pb::LogLine {
                        source: source.clone(),
                        line: buf.trim_end_matches('\n').to_string(),
                    };
                    if tx.send(Ok(line)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(ApiError::LogRead(e).into())).await;
                    return;
                }
            }
        }
    });
    Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
}
