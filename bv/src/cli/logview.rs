//! How log lines are shown: the job name in front when several jobs interleave, each line's
//! time (`--timestamps`), only lines from a time on (`--since`). A line's time is the RFC 3339
//! time it starts with (what babel and tracing write), else the time of the line before it,
//! else, for a followed line, when it was read.

use std::time::Duration;

use babel_api::pb::blockvisor::v1 as pb;
use chrono::{DateTime, Utc};
use eyre::{WrapErr, bail};
use futures::StreamExt;

use super::{Format, rpc_err};

/// What `print` shows of each line.
#[derive(Debug, Default, Clone)]
pub struct LogView {
    /// Put the line's source (job name) in front: several jobs share the stream.
    pub source: bool,
    pub timestamps: bool,
    pub since: Option<DateTime<Utc>>,
}

/// `--since`: a duration ago (`90s`, `10m`, `2h`, `1d`) or an RFC 3339 time.
pub fn parse_since(text: &str, now: DateTime<Utc>) -> eyre::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (n, unit) = text.split_at(split);
    let n: u64 = n
        .parse()
        .wrap_err_with(|| format!("--since `{text}`: expected 10m, 2h, 1d or an RFC 3339 time"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => bail!("--since `{text}`: unit must be s, m, h or d"),
    };
    let ago = chrono::Duration::from_std(Duration::from_secs(secs))
        .wrap_err_with(|| format!("--since `{text}`: too long ago"))?;
    Ok(now - ago)
}

/// Skips ANSI escape sequences (`ESC [ … letter`) at the start of `line`.
fn skip_escapes(mut line: &str) -> &str {
    while let Some(rest) = line.strip_prefix("\u{1b}[") {
        match rest.find(|c: char| c.is_ascii_alphabetic()) {
            Some(end) => line = &rest[end + 1..],
            None => return line,
        }
    }
    line
}

/// The RFC 3339 time a log line starts with, if any.
pub fn leading_time(line: &str) -> Option<DateTime<Utc>> {
    let word = skip_escapes(line.trim_start()).split_whitespace().next()?;
    let word = word.split('\u{1b}').next().unwrap_or(word);
    let word = word.trim_start_matches('[').trim_end_matches(']');
    DateTime::parse_from_rfc3339(word)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Tracks line times through a stream; see the module doc.
#[derive(Debug, Default)]
pub struct Clock {
    last: Option<DateTime<Utc>>,
}

impl Clock {
    /// The time of `line`; `read_at` stands in for lines without one before any dated line.
    pub fn time_of(&mut self, line: &str, read_at: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        if let Some(t) = leading_time(line) {
            self.last = Some(t);
        }
        self.last.or(read_at)
    }
}

/// The text of one line as `view` shows it, or `None` when `--since` leaves it out.
pub fn render(
    view: &LogView,
    clock: &mut Clock,
    line: &pb::LogLine,
    read_at: Option<DateTime<Utc>>,
) -> Option<String> {
    let time = clock.time_of(&line.line, read_at);
    if let Some(since) = view.since
        && time.is_none_or(|t| t < since)
    {
        return None;
    }
    let mut out = String::new();
    if view.timestamps {
        match time {
            Some(t) => out.push_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            None => out.push('-'),
        }
        out.push(' ');
    }
    if view.source {
        out.push_str(&format!("[{}] ", line.source));
    }
    out.push_str(&line.line);
    Some(out)
}

/// Prints a log stream as `view` says; JSON lines carry `source`, `line` and `time`. Ends
/// when the stream does or stdout is closed.
pub async fn print(
    mut stream: tonic::Streaming<pb::LogLine>,
    view: &LogView,
    format: Format,
) -> eyre::Result<()> {
    let mut clock = Clock::default();
    // Lines in the first batch were written before the call; later ones are live.
    let started = tokio::time::Instant::now();
    while let Some(line) = stream.next().await {
        if super::out::closed() {
            break;
        }
        let line = line.map_err(rpc_err)?;
        let live = started.elapsed() > Duration::from_millis(500);
        let read_at = live.then(Utc::now);
        match format {
            Format::Json => {
                let time = clock.time_of(&line.line, read_at);
                if view.since.is_some_and(|s| time.is_none_or(|t| t < s)) {
                    continue;
                }
                crate::outln!(
                    "{}",
                    serde_json::json!({
                        "source": line.source,
                        "line": line.line,
                        "time": time.map(|t| t.to_rfc3339()),
                    })
                )
            }
            Format::Text => {
                if let Some(text) = render(view, &mut clock, &line, read_at) {
                    crate::outln!("{text}");
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn since_takes_durations_and_times() {
        let now = at("2026-01-02T00:00:00Z");
        assert_eq!(parse_since("10m", now).unwrap(), at("2026-01-01T23:50:00Z"));
        assert_eq!(parse_since("1d", now).unwrap(), at("2026-01-01T00:00:00Z"));
        assert_eq!(parse_since("30", now).unwrap(), at("2026-01-01T23:59:30Z"));
        assert_eq!(
            parse_since("2025-05-05T01:02:03+02:00", now).unwrap(),
            at("2025-05-04T23:02:03Z")
        );
        assert!(parse_since("10x", now).is_err());
        assert!(parse_since("soon", now).is_err());
    }

    #[test]
    fn lines_carry_their_time_or_the_one_before() {
        let view = LogView {
            source: true,
            timestamps: true,
            since: Some(at("2026-01-01T00:00:01Z")),
        };
        let mut clock = Clock::default();
        let line = |l: &str| pb::LogLine {
            source: "sync".into(),
            line: l.into(),
        };
        assert_eq!(render(&view, &mut clock, &line("no time yet"), None), None);
        assert_eq!(
            render(
                &view,
                &mut clock,
                &line("2026-01-01T00:00:00Z  INFO old"),
                None
            ),
            None
        );
        assert_eq!(
            render(
                &view,
                &mut clock,
                &line("\u{1b}[2m2026-01-01T00:00:02.5Z\u{1b}[0m new"),
                None
            )
            .unwrap(),
            "2026-01-01T00:00:02.500Z [sync] \u{1b}[2m2026-01-01T00:00:02.5Z\u{1b}[0m new"
        );
        assert_eq!(
            render(&view, &mut clock, &line("  continued"), None).unwrap(),
            "2026-01-01T00:00:02.500Z [sync]   continued"
        );
    }
}
