//! Console flags (each also settable from the environment).

use std::net::SocketAddr;
use std::path::PathBuf;

/// Where the front end is built (`web/dist` of this repository).
pub const DEFAULT_ASSETS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../web/dist");

#[derive(Debug, Clone, clap::Args)]
pub struct ConsoleConfig {
    /// Address of the web console (its own port); unset: no console.
    #[arg(long, env = "BV_API_CONSOLE_LISTEN")]
    pub console_listen: Option<SocketAddr>,
    /// Directory with the built front end (`npm run build` in `web/`).
    #[arg(long, env = "BV_API_CONSOLE_ASSETS", default_value = DEFAULT_ASSETS)]
    pub console_assets: PathBuf,
    /// `HOST=URL`: scrape this metrics URL of a host daemon (HOST is its id or network name)
    /// for usage, height, block age, jobs and alerts. Repeat, or comma-separate in the env.
    #[arg(long, env = "BV_API_CONSOLE_SCRAPE", value_delimiter = ',')]
    pub console_scrape: Vec<String>,
    /// Seconds between two scrapes of every host, and between two fleet refreshes.
    #[arg(long, env = "BV_API_CONSOLE_INTERVAL_SECS", default_value_t = 5)]
    pub console_interval_secs: u64,
    /// PEM certificate chain: the console speaks HTTPS (with `--console-tls-key`).
    #[arg(long, env = "BV_API_CONSOLE_TLS_CERT", requires = "console_tls_key")]
    pub console_tls_cert: Option<PathBuf>,
    /// PEM private key of `--console-tls-cert`.
    #[arg(long, env = "BV_API_CONSOLE_TLS_KEY", requires = "console_tls_cert")]
    pub console_tls_key: Option<PathBuf>,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            console_listen: None,
            console_assets: PathBuf::from(DEFAULT_ASSETS),
            console_scrape: Vec::new(),
            console_interval_secs: 5,
            console_tls_cert: None,
            console_tls_key: None,
        }
    }
}

/// A `HOST=URL` pair of `--console-scrape`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeTarget {
    pub host: String,
    pub url: String,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("--console-scrape `{0}` is not HOST=URL")]
pub struct BadTarget(pub String);

impl ConsoleConfig {
    pub fn targets(&self) -> Result<Vec<ScrapeTarget>, BadTarget> {
        self.console_scrape
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| match s.split_once('=') {
                Some((host, url)) if !host.trim().is_empty() && url.starts_with("http") => {
                    Ok(ScrapeTarget {
                        host: host.trim().to_string(),
                        url: url.trim().to_string(),
                    })
                }
                _ => Err(BadTarget(s.clone())),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_host_equals_url() {
        let c = ConsoleConfig {
            console_scrape: vec!["h1=http://10.0.0.1:9100/metrics".into(), String::new()],
            ..Default::default()
        };
        assert_eq!(
            c.targets().unwrap(),
            vec![ScrapeTarget {
                host: "h1".into(),
                url: "http://10.0.0.1:9100/metrics".into()
            }]
        );
        let bad = ConsoleConfig {
            console_scrape: vec!["h1:http://x".into()],
            ..Default::default()
        };
        assert!(bad.targets().is_err());
    }
}
