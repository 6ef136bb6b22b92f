//! How every client (host daemon, `bv`, `nib`) reaches the control-plane API: `https://`
//! verified against the system roots or a given CA file; plaintext `http://` only to a
//! loopback address unless the caller explicitly allows it (`--insecure`), so tokens and
//! passwords never cross a network in the clear by accident.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Uri};

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("invalid API URL `{url}`: {reason}")]
    BadUrl { url: String, reason: String },
    #[error(
        "refusing plaintext {url}: `{host}` is not a loopback address; use https:// (or --insecure to send tokens unencrypted)"
    )]
    Plaintext { url: String, host: String },
    #[error("reading CA file {path}: {source}")]
    CaFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS setup for {url}: {source}")]
    Tls {
        url: String,
        #[source]
        source: tonic::transport::Error,
    },
}

/// Transport security options of an API client.
#[derive(Debug, Clone, Default)]
pub struct ApiTls {
    /// PEM file of the CA(s) to trust instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// Allow plaintext `http://` to non-loopback addresses.
    pub insecure: bool,
}

/// True when `host` (a URL host, IPv6 possibly in brackets) is a loopback name or address.
pub fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Checks `url` against the plaintext rule without building anything.
pub fn check_url(url: &str, insecure: bool) -> Result<(), EndpointError> {
    let uri: Uri =
        url.parse().map_err(
            |e: tonic::codegen::http::uri::InvalidUri| EndpointError::BadUrl {
                url: url.to_string(),
                reason: e.to_string(),
            },
        )?;
    match uri.scheme_str() {
        Some("https") | Some("unix") => Ok(()),
        Some("http") => {
            let host = uri.host().unwrap_or_default();
            if insecure || is_loopback(host) {
                Ok(())
            } else {
                Err(EndpointError::Plaintext {
                    url: url.to_string(),
                    host: host.to_string(),
                })
            }
        }
        other => Err(EndpointError::BadUrl {
            url: url.to_string(),
            reason: format!("scheme {other:?} is not http, https or unix"),
        }),
    }
}

fn read_ca(path: &Path) -> Result<Certificate, EndpointError> {
    std::fs::read(path)
        .map(Certificate::from_pem)
        .map_err(|source| EndpointError::CaFile {
            path: path.to_path_buf(),
            source,
        })
}

/// An endpoint for `url` following the rules above (not yet connected).
pub fn api_endpoint(url: &str, tls: &ApiTls) -> Result<Endpoint, EndpointError> {
    check_url(url, tls.insecure)?;
    let endpoint = Endpoint::from_shared(url.to_string()).map_err(|e| EndpointError::BadUrl {
        url: url.to_string(),
        reason: e.to_string(),
    })?;
    if !url.starts_with("https://") {
        return Ok(endpoint);
    }
    let config = match &tls.ca_file {
        Some(path) => ClientTlsConfig::new().ca_certificate(read_ca(path)?),
        None => ClientTlsConfig::new().with_native_roots(),
    };
    endpoint
        .tls_config(config)
        .map_err(|source| EndpointError::Tls {
            url: url.to_string(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_only_to_loopback_unless_insecure() {
        for ok in [
            "http://127.0.0.1:8770",
            "http://127.3.4.5",
            "http://localhost:1",
            "http://[::1]:8770",
            "https://api.example.com",
            "https://10.0.0.1:8770",
        ] {
            assert!(check_url(ok, false).is_ok(), "{ok}");
        }
        for refused in [
            "http://10.0.0.1:8770",
            "http://api.example.com",
            "http://[2001:db8::1]:1",
        ] {
            assert!(
                matches!(
                    check_url(refused, false),
                    Err(EndpointError::Plaintext { .. })
                ),
                "{refused}"
            );
            assert!(
                check_url(refused, true).is_ok(),
                "{refused} with --insecure"
            );
        }
        assert!(matches!(
            check_url("ftp://x", true),
            Err(EndpointError::BadUrl { .. })
        ));
    }

    #[test]
    fn https_needs_a_readable_ca_file() {
        let tls = ApiTls {
            ca_file: Some("/nonexistent/ca.pem".into()),
            insecure: false,
        };
        assert!(matches!(
            api_endpoint("https://127.0.0.1:1", &tls),
            Err(EndpointError::CaFile { .. })
        ));
        assert!(api_endpoint("http://127.0.0.1:1", &tls).is_ok());
    }
}
