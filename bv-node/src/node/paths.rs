//! Where a node lives on the host.

use std::path::{Path, PathBuf};

use uuid::Uuid;

/// Where an image's rootfs holds the node's plugin (`main.rhai` and its modules).
pub const PLUGIN_IN_ROOTFS: &str = "var/lib/babel/plugin";

/// A node dir's staging area for the next image while an upgrade is prepared.
pub const UPGRADE_STAGE_DIR: &str = "upgrade-stage";

/// Host paths of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePaths {
    pub dir: PathBuf,
}

impl NodePaths {
    pub fn new(nodes_dir: &Path, id: Uuid) -> Self {
        Self {
            dir: nodes_dir.join(id.to_string()),
        }
    }
    /// Persistent data, `/blockjoy` in the node; survives upgrades.
    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }
    /// Bound at `/run/babel` in the node: babel and engine sockets.
    pub fn run(&self) -> PathBuf {
        self.dir.join("run")
    }
    pub fn babel_socket(&self) -> PathBuf {
        self.run().join("babel.socket")
    }
    pub fn engine_socket(&self) -> PathBuf {
        self.run().join("engine.socket")
    }
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }
    /// Where an upgrade mounts the new image once to check its plugin (see `upgrade_prepare`).
    pub fn upgrade_stage(&self) -> PathBuf {
        self.dir.join(UPGRADE_STAGE_DIR)
    }
    pub fn plugin_dir(&self) -> PathBuf {
        self.rootfs().join(PLUGIN_IN_ROOTFS)
    }
    pub fn console_log(&self) -> PathBuf {
        self.dir.join("console.log")
    }
    pub fn plugin_data(&self) -> PathBuf {
        self.dir.join("plugin.data")
    }
    pub fn plugin_config(&self) -> PathBuf {
        self.dir.join("plugin_config.json")
    }
    pub fn tasks(&self) -> PathBuf {
        self.dir.join("tasks.json")
    }
}

/// Creates `path` (and missing parents) readable by the owner only, and tightens it when it
/// already exists: node dirs and data hold command lines, keys and chain data.
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
}
