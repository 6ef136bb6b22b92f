//! HTTP clients that work in any image: `https://` is verified against the image's CA
//! bundle when it has one, else against the bundled web-PKI roots; `http://` needs neither,
//! so an image without any CA certificates (FROM scratch) still reaches plain-http services.

use std::sync::Arc;

use tokio_rustls::rustls;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("failed to build HTTP client: {0}")]
    Build(#[from] reqwest::Error),
    #[error("failed to set up TLS: {0}")]
    Tls(#[from] rustls::Error),
}

/// Builds a client from `builder` (called once or twice): with the platform verifier when
/// the image has usable CA certificates, else with the web-PKI roots.
pub fn build(builder: impl Fn() -> reqwest::ClientBuilder) -> Result<reqwest::Client, ClientError> {
    match builder().build() {
        Ok(client) => Ok(client),
        Err(err) => {
            tracing::info!("no usable CA bundle in the image ({err}); using web-PKI roots");
            Ok(builder()
                .tls_backend_preconfigured(webpki_tls_config()?)
                .build()?)
        }
    }
}

/// TLS settings that trust the bundled web-PKI roots.
fn webpki_tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    #[test]
    fn web_pki_config_has_roots() {
        let config = super::webpki_tls_config();
        assert!(config.is_ok());
        assert!(webpki_roots::TLS_SERVER_ROOTS.len() > 50);
    }
}
