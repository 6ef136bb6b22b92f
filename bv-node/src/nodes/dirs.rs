//! Node dirs under `<root>/nodes/`: named for the node id, holding its state.

use uuid::Uuid;

/// The node id a node dir is named for.
pub fn node_dir_id(path: &std::path::Path) -> Option<Uuid> {
    path.file_name()?.to_str()?.parse().ok()
}

/// Whether a node dir holds a state file (good or not) or its previous copy.
pub fn has_state(dir: &std::path::Path) -> bool {
    use crate::node::state::{PREV_STATE_FILE, STATE_FILE};
    dir.join(STATE_FILE).exists() || dir.join(PREV_STATE_FILE).exists()
}
