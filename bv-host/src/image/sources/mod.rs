//! Image sources. Each resolves a URI to an image digest (the config blob digest, i.e. the
//! image ID) and fetches layer blobs to local files for the unpacker.

pub(crate) mod docker_daemon;
pub(crate) mod oci_layout;
pub(crate) mod registry;

use super::unpack::LayerBlob;

/// What a resolved image needs to be fetched.
pub(crate) enum Plan {
    Docker {
        reference: String,
        size: Option<u64>,
    },
    Registry {
        reference: oci_client::Reference,
        layers: Vec<oci_client::manifest::OciDescriptor>,
    },
    Local {
        layers: Vec<LayerBlob>,
    },
}

/// A URI resolved to an image digest.
pub(crate) struct Resolved {
    /// `sha256:<hex>` of the config blob (the image ID).
    pub(crate) digest: String,
    /// The config blob, when resolving already produced it.
    pub(crate) config: Option<Vec<u8>>,
    pub(crate) plan: Plan,
}

/// Layers fetched to local files, plus the config blob.
pub(crate) struct Fetched {
    pub(crate) config: Vec<u8>,
    pub(crate) layers: Vec<LayerBlob>,
}

/// `sha256:<hex>` of `bytes`.
pub(crate) fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}
