//! Why a local API call that goes through the control-plane API failed (registration,
//! catalog creates and upgrades). The local API maps these to statuses with its other
//! errors.

use bv_host::apilink::NotRegistered;
use bv_host::apilink::client::ClientError;
use bv_host::apilink::creds::CredsError;
use tonic::Status;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    #[error(transparent)]
    NotRegistered(#[from] NotRegistered),
    #[error("no API url given (and api_url is not set in the config)")]
    NoApiUrl,
    /// The saved registration cannot be read.
    #[error(transparent)]
    Credentials(CredsError),
    #[error("this host is already registered as {host_id} with {api_url} (use --force to replace)")]
    AlreadyRegistered { host_id: String, api_url: String },
    /// The new registration could not be saved.
    #[error(transparent)]
    SaveCredentials(CredsError),
    /// Registering or connecting with the API client failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(
        "a dev node is upgraded from an image or babel.yaml (`--image URI` or `nib image upgrade`)"
    )]
    DevNodeFromCatalog,
    #[error("node {node} already runs image {version}/{build}")]
    AlreadyRuns {
        node: Uuid,
        version: String,
        build: u64,
    },
    /// The API answered with this status; it is passed on.
    #[error("{}", .0.message())]
    Api(#[from] Status),
}
