//! gRPC channels over Unix sockets (used by runners, tests and benches; the host daemon may
//! use it too).

use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint};

/// A lazily connecting channel to the gRPC server on `socket`.
pub fn uds_channel(socket: &Path, timeout: Option<Duration>) -> Channel {
    let socket: PathBuf = socket.to_path_buf();
    // The URI is ignored by the connector; it only has to parse.
    let mut endpoint =
        Endpoint::from_static("http://babel.local").connect_timeout(Duration::from_secs(3));
    if let Some(t) = timeout {
        endpoint = endpoint.timeout(t);
    }
    endpoint.connect_with_connector_lazy(tower::service_fn(move |_| {
        let socket = socket.clone();
        async move {
            let stream = tokio::net::UnixStream::connect(socket).await?;
            Ok::<_, std::io::Error>(TokioIo::new(stream))
        }
    }))
}
