//! The seam between node lifecycle and the image store: fetch an image once, give each node
//! a writable rootfs on top of it (`<node_dir>/rootfs`, changes in `<node_dir>/overlay`).

#[cfg(any(test, feature = "fakes"))]
pub mod fake;
pub mod overlay;
pub mod provider;
pub mod router;
pub mod store;

pub use provider::{
    ImageInfo, LAYER_BACKUP_DIR, LAYER_DIR, Progress, ProgressFn, RootfsError, RootfsProvider,
};
pub use router::{Router, default_provider};
