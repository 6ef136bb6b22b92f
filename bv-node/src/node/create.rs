//! Creating a node: validation, node dir, image, rootfs, first state save.

use std::sync::Arc;

use tracing::info;

use super::state::NodeState;
use super::{Node, NodeError, NodeResult, Services, io_err};
use crate::journal::{Journal, Op};
use bv_base::fault;

/// Refuses images that need a newer agent than ours (patch level ignored).
pub fn check_min_babel_version(required: &str) -> NodeResult<()> {
    if required.trim().is_empty() {
        return Ok(());
    }
    let mut req = semver::Version::parse(required.trim()).map_err(|source| {
        NodeError::BadMinBabelVersion {
            required: required.into(),
            source,
        }
    })?;
    req.patch = 0;
    req.pre = semver::Prerelease::EMPTY;
    let ours = semver::Version::parse(babel_api::VERSION).map_err(NodeError::OwnVersion)?;
    if ours < req {
        return Err(NodeError::BabelTooOld {
            required: required.into(),
            ours,
        });
    }
    Ok(())
}

impl Node {
    /// Creates the node on disk (stopped). On failure nothing is left behind.
    pub async fn create(svc: Arc<Services>, state: NodeState) -> NodeResult<Node> {
        check_min_babel_version(&state.image.min_babel_version)?;
        if state.image.uri.trim().is_empty() {
            return Err(NodeError::EmptyImageUri);
        }
        bv_host::net::firewall::validate(&state.firewall)?;
        let node = Node::new(svc.clone(), state);
        let dir = node.paths.dir.clone();
        if dir.exists() {
            return Err(NodeError::DirExists(dir));
        }
        // Before the first side effect: a crash from here on is rolled back at start.
        let journal = Journal::new(&svc.config.root);
        let id = node.state.id;
        journal.record(Op::Create, id, &node.state.name, &node.state.ip)?;
        fault::point("create.after_intent");
        let result = async {
            super::paths::create_private_dir(&dir)
                .map_err(io_err(format!("creating {}", dir.display())))?;
            super::paths::create_private_dir(&node.paths.data())
                .map_err(io_err(format!("creating {}", node.paths.data().display())))?;
            std::fs::create_dir_all(node.paths.run())
                .map_err(io_err(format!("creating {}", node.paths.run().display())))?;
            fault::point("create.after_dirs");
            svc.rootfs.ensure(&node.state.image.uri, None).await?;
            svc.rootfs.mount(&node.state.image.uri, &dir).await?;
            fault::point("create.after_mount");
            node.save()?;
            fault::point("create.after_save");
            journal.done(Op::Create, id)?;
            Ok(())
        }
        .await;
        if let Err(e) = result {
            let _ = svc.rootfs.unmount(&dir).await;
            let _ = std::fs::remove_dir_all(&dir);
            let _ = journal.done(Op::Create, id);
            return Err(e);
        }
        info!(node = %node.state.id, name = %node.state.name, uri = %node.state.image.uri, "created");
        Ok(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_babel_version_ignores_patch() {
        check_min_babel_version("").unwrap();
        check_min_babel_version("0.1.99").unwrap();
        assert!(check_min_babel_version("99.0.0").is_err());
        assert!(
            check_min_babel_version("nope")
                .unwrap_err()
                .to_string()
                .contains("nope")
        );
    }
}
