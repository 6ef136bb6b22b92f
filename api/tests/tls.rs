//! gRPC over TLS: a certificate from a CA made at run time, verified by the shared client
//! endpoint; plaintext and unknown CAs are refused; a renewed certificate (here: from
//! another CA) is served to new connections without a restart.

mod common;

use std::time::{Duration, Instant};

use babel_api::pb::api::v1 as pb;
use bv_base::api_endpoint::{ApiTls, api_endpoint};
use common::certs::TestCa;
use common::{Clients, Harness, bearer};
use tonic::transport::Channel;

async fn connect(url: &str, ca: Option<&std::path::Path>) -> Result<Channel, String> {
    let tls = ApiTls {
        ca_file: ca.map(|p| p.to_path_buf()),
        insecure: false,
    };
    let endpoint = api_endpoint(url, &tls).map_err(|e| e.to_string())?;
    endpoint
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))
}

async fn list_protocols(channel: Channel, token: &str) -> Result<(), tonic::Status> {
    let mut c = Clients::new(channel, bearer(token));
    c.protocols
        .list_protocols(pb::ListProtocolsRequest::default())
        .await
        .map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_tls_with_reload() {
    let pki = tempfile::tempdir().expect("dir");
    let first = TestCa::new(pki.path(), "first-ca");
    let (cert, key) = (pki.path().join("server.pem"), pki.path().join("server.key"));
    first.issue(&cert, &key);
    let (c, k) = (cert.clone(), key.clone());
    let h = Harness::sqlite_with(|cfg| {
        cfg.tls_cert = Some(c);
        cfg.tls_key = Some(k);
        cfg.tls_reload_secs = 1;
    })
    .await;
    let url = h.server.url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    let channel = connect(&url, Some(&first.cert))
        .await
        .expect("TLS connects");
    list_protocols(channel.clone(), &h.admin_token)
        .await
        .expect("gRPC over TLS");

    // Plaintext to the TLS port fails; so does a CA that did not sign the certificate.
    let plain = url.replace("https://", "http://");
    let plain_result = match connect(&plain, None).await {
        Ok(ch) => list_protocols(ch, &h.admin_token)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    assert!(plain_result.is_err(), "plaintext is not served");
    let other = TestCa::new(pki.path(), "second-ca");
    let wrong = match connect(&url, Some(&other.cert)).await {
        Ok(ch) => list_protocols(ch, &h.admin_token)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    assert!(
        wrong.is_err(),
        "a certificate from an unknown CA is refused"
    );

    // Renew: the second CA signs the new certificate; the server picks it up by itself.
    let (new_cert, new_key) = (pki.path().join("new.pem"), pki.path().join("new.key"));
    other.issue(&new_cert, &new_key);
    std::fs::rename(&new_key, &key).expect("replace key");
    std::fs::rename(&new_cert, &cert).expect("replace cert");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let renewed = match connect(&url, Some(&other.cert)).await {
            Ok(ch) => list_protocols(ch, &h.admin_token).await.is_ok(),
            Err(_) => false,
        };
        if renewed {
            break;
        }
        assert!(Instant::now() < deadline, "renewed certificate not served");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let old = match connect(&url, Some(&first.cert)).await {
        Ok(ch) => list_protocols(ch, &h.admin_token)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    assert!(old.is_err(), "new connections get the new certificate");
    // The connection made before the renewal still works.
    list_protocols(channel, &h.admin_token)
        .await
        .expect("an established connection survives the renewal");
    h.stop().await;
}
