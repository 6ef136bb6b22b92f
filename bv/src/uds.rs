//! gRPC over a Unix socket, client side: `bv` → blockvisord.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

fn endpoint(timeout: Option<Duration>) -> Endpoint {
    // The authority is ignored: the connector below always dials the socket.
    let ep = Endpoint::from_static("http://localhost").connect_timeout(Duration::from_secs(3));
    match timeout {
        Some(t) => ep.timeout(t),
        None => ep,
    }
}

fn connector(
    path: PathBuf,
) -> impl tower::Service<
    Uri,
    Response = TokioIo<UnixStream>,
    Error = std::io::Error,
    Future = impl Send + 'static,
> + Clone
+ Send
+ 'static {
    tower::service_fn(move |_: Uri| {
        let path = path.clone();
        async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
    })
}

/// Connects now (fails fast when nobody listens).
pub async fn connect(
    path: &Path,
    timeout: Option<Duration>,
) -> Result<Channel, tonic::transport::Error> {
    endpoint(timeout)
        .connect_with_connector(connector(path.to_owned()))
        .await
}
