//! gRPC over Unix sockets: client channels (bv → blockvisord, blockvisord → babel) and
//! server listeners with restrictive permissions.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::{UnixListener, UnixStream};
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

/// Connects on first use (and reconnects after failures).
pub fn connect_lazy(path: &Path, timeout: Option<Duration>) -> Channel {
    endpoint(timeout).connect_with_connector_lazy(connector(path.to_owned()))
}

/// Binds a Unix socket, replacing a stale one, with the given mode (e.g. 0o660).
pub fn bind(path: &Path, mode: u32) -> std::io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(listener)
}
