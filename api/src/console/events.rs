//! Live updates. Hosts report their figures themselves; the optional scraper reads every
//! `--console-scrape` metrics endpoint each interval and stores what it read the same way;
//! the refresher rebuilds the fleet view every second (and at once after an action) and
//! publishes it when it changed; `GET /api/events` streams each published view as a
//! server-sent `fleet` event.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use futures::StreamExt;
use tokio_stream::wrappers::WatchStream;

use super::exposition;
use super::session::Caller;
use super::state::Shared;
use super::telemetry::from_samples;
use super::view;
use crate::db::{self, now_ms};
use crate::figures::{self, HostTelemetry};

const REFRESH_EVERY: Duration = Duration::from_secs(1);
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(4);

pub async fn stream(
    State(c): State<Shared>,
    _caller: Caller,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let events = WatchStream::new(c.fleet.subscribe())
        .filter(|json| futures::future::ready(!json.is_empty()))
        .map(|json| Ok(Event::default().event("fleet").data(json.as_ref())));
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// Rebuilds and publishes the fleet view until the console stops.
pub async fn refresher(c: Shared) {
    loop {
        match view::fleet(&c.app.db).await {
            Ok(fleet) => match serde_json::to_string(&fleet) {
                Ok(json) => {
                    c.fleet.send_if_modified(|current| {
                        if current.as_ref() == json {
                            false
                        } else {
                            *current = Arc::from(json);
                            true
                        }
                    });
                }
                Err(e) => tracing::error!("console: encoding the fleet view: {e}"),
            },
            Err(e) => tracing::warn!("console: reading the fleet: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(REFRESH_EVERY) => {}
            _ = c.refresh.notified() => {}
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum ScrapeError {
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    #[error("HTTP {0}")]
    Status(reqwest::StatusCode),
    #[error(transparent)]
    Parse(#[from] exposition::ParseError),
}

async fn scrape(c: &Shared, url: &str) -> Result<HostTelemetry, ScrapeError> {
    let resp = c.http.get(url).timeout(SCRAPE_TIMEOUT).send().await?;
    if !resp.status().is_success() {
        return Err(ScrapeError::Status(resp.status()));
    }
    let text = resp.text().await?;
    Ok(from_samples(&exposition::parse(&text)?))
}

/// The host a `--console-scrape` name means (id or network name).
async fn host_id_of(c: &Shared, name: &str) -> Option<String> {
    if let Ok(Some(h)) = db::hosts::by_id(&c.app.db, name).await {
        return Some(h.host_id);
    }
    let (hosts, _) = db::hosts::list(&c.app.db, None, 0, 10_000).await.ok()?;
    hosts
        .into_iter()
        .find(|h| h.network_name == name || h.display_name.as_deref() == Some(name))
        .map(|h| h.host_id)
}

/// Scrapes every target each interval until the console stops.
pub async fn scraper(c: Shared) {
    if c.targets.is_empty() {
        return;
    }
    loop {
        for t in &c.targets {
            let Some(host_id) = host_id_of(&c, &t.host).await else {
                tracing::debug!("console: no host `{}` registered yet", t.host);
                continue;
            };
            let stored = match scrape(&c, &t.url).await {
                Ok(telemetry) => figures::record(&c.app.db, &host_id, now_ms(), &telemetry).await,
                Err(e) => {
                    tracing::warn!("console: scraping {}: {e}", t.url);
                    figures::record_error(&c.app.db, &host_id, now_ms(), &e.to_string()).await
                }
            };
            if let Err(e) = stored {
                tracing::warn!("console: storing the figures of {}: {e}", t.host);
            }
        }
        c.refresh.notify_one();
        tokio::time::sleep(c.interval).await;
    }
}
