//! HTTP clients that work in any image: `https://` is verified against the image's CA
//! bundle when it has one, else against the bundled web-PKI roots; `http://` needs neither,
//! so an image without any CA certificates (FROM scratch) still reaches plain-http services.
//! The control plane's own CA, when the host registered with one, is trusted in addition.

use std::path::Path;
use std::sync::Arc;

use babel_api::node_env::API_CA_FILE_IN_ROOTFS;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;

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
    let api_ca = std::fs::read(Path::new("/").join(API_CA_FILE_IN_ROOTFS)).ok();
    build_with(builder, api_ca.as_deref())
}

/// [`build`] trusting the PEM certificates in `extra_ca` too.
fn build_with(
    builder: impl Fn() -> reqwest::ClientBuilder,
    extra_ca: Option<&[u8]>,
) -> Result<reqwest::Client, ClientError> {
    let extra: Vec<CertificateDer<'static>> = extra_ca
        .map(|pem| {
            CertificateDer::pem_slice_iter(pem)
                .filter_map(Result::ok)
                .collect()
        })
        .unwrap_or_default();
    let with_extra = || {
        extra.iter().fold(builder(), |b, der| {
            match reqwest::Certificate::from_der(der.as_ref()) {
                Ok(cert) => b.add_root_certificate(cert),
                Err(e) => {
                    tracing::warn!("API CA certificate ignored: {e}");
                    b
                }
            }
        })
    };
    match with_extra().build() {
        Ok(client) => Ok(client),
        Err(err) => {
            tracing::info!("no usable CA bundle in the image ({err}); using web-PKI roots");
            Ok(builder()
                .tls_backend_preconfigured(webpki_tls_config(&extra)?)
                .build()?)
        }
    }
}

/// TLS settings that trust the bundled web-PKI roots and `extra`.
fn webpki_tls_config(
    extra: &[CertificateDer<'static>],
) -> Result<rustls::ClientConfig, rustls::Error> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let (added, ignored) = roots.add_parsable_certificates(extra.iter().cloned());
    if ignored > 0 {
        tracing::warn!("{ignored} API CA certificate(s) ignored ({added} trusted)");
    }
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
        let config = super::webpki_tls_config(&[]);
        assert!(config.is_ok());
        assert!(webpki_roots::TLS_SERVER_ROOTS.len() > 50);
    }
}
