//! Local `bv node start|stop|restart|delete` of a node the API manages: the API owns the
//! desired state, so the request goes to the API and the command that carries it out comes
//! back on the stream. Dev nodes, unregistered hosts, and an unreachable API (or one that no
//! longer knows the node) fall back to the local operation, so a node can always be stopped
//! or removed on the host itself.

use std::sync::Arc;
use std::time::Duration;

use tonic::{Code, Status};

use bv_host::apilink::client::NodeAction;
use bv_node::node::state::Status as NodeStatus;
use bv_node::nodes::{NodeEntry, Registry};

/// How long the local call waits for the API's command to run here.
const WAIT: Duration = Duration::from_secs(60);

/// True when the API took the request (and its command ran here or is still on its way);
/// false when the caller should run the operation locally.
pub async fn forward(
    registry: &Registry,
    entry: &Arc<NodeEntry>,
    action: NodeAction,
) -> Result<bool, Status> {
    let before = entry.cached();
    if before.dev_mode {
        return Ok(false);
    }
    let Some(client) = registry.services().cloud.client() else {
        return Ok(false);
    };
    match client.node_action(&before.id.to_string(), action).await {
        Ok(()) => {}
        Err(s)
            if matches!(
                s.code(),
                Code::Unavailable | Code::NotFound | Code::DeadlineExceeded
            ) =>
        {
            tracing::warn!(node = %before.id, ?action, "API: {}; acting locally", s.message());
            return Ok(false);
        }
        Err(s) => return Err(s),
    }
    let done = || {
        let now = entry.cached();
        let idle = entry.try_lock().is_some();
        match action {
            NodeAction::Delete => registry.get(&before.id.to_string()).is_err(),
            NodeAction::Start => idle && now.expected_status == NodeStatus::Running,
            NodeAction::Stop => idle && now.expected_status == NodeStatus::Stopped,
            NodeAction::Restart => idle && now.started_at != before.started_at,
        }
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(true)
}
