//! What the host does with an API command: acknowledge it, run it on the local node
//! manager, report the result. And which node statuses to report. Network effects are
//! behind [`ControlPlane`] and node operations behind [`NodeOps`], so this logic is tested
//! with fakes.

use std::collections::HashMap;

use babel_api::pb::api::v1 as pb;
use tonic::Status;
use uuid::Uuid;

use super::applied::Applied;
use super::convert::{self, ConfigUpdate};
use bv_host::apilink::control::ControlPlane;
use bv_node::node::state::{NodeState, Status as NodeStatus};
use bv_node::node::upgrade::UpgradeTarget;
use bv_node::node::{NodeError, NodeResult};

/// One node's actual status as the API should see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeReport {
    pub id: Uuid,
    pub status: NodeStatus,
    pub config_id: String,
    pub ip: String,
    pub gateway: String,
    /// From the last health check of a running node (plugin `protocol_status`, `address`).
    pub protocol_state: Option<String>,
    pub protocol_health: Option<String>,
    pub p2p_address: Option<String>,
    /// What a pending upgrade waits for before it stops the node.
    pub upgrade_waiting: Option<String>,
}

/// The node manager operations commands map to.
#[tonic::async_trait]
pub trait NodeOps: Send + Sync {
    /// Creates the node (idempotent by id) and starts it when `start`.
    async fn create(&self, state: NodeState, start: bool) -> NodeResult<()>;
    async fn start(&self, id: Uuid) -> NodeResult<()>;
    async fn stop(&self, id: Uuid) -> NodeResult<()>;
    async fn restart(&self, id: Uuid) -> NodeResult<()>;
    /// Deleting a node that is not here succeeds.
    async fn delete(&self, id: Uuid) -> NodeResult<()>;
    async fn upgrade(&self, id: Uuid, target: UpgradeTarget) -> NodeResult<()>;
    async fn update(&self, id: Uuid, update: ConfigUpdate) -> NodeResult<()>;
    /// Status of every node the API manages (not dev nodes).
    async fn reports(&self) -> Vec<NodeReport>;
}

/// The result of one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub code: pb::CommandExitCode,
    pub message: Option<String>,
}

impl Outcome {
    fn ok() -> Self {
        Self {
            code: pb::CommandExitCode::Ok,
            message: None,
        }
    }

    fn from_result(r: NodeResult<()>) -> Self {
        match r {
            Ok(()) => Self::ok(),
            Err(e) => {
                let code = match &e {
                    NodeError::NodeNotFound(_) => pb::CommandExitCode::NodeNotFound,
                    NodeError::UpgradeRolledBack(_) => pb::CommandExitCode::NodeUpgradeRollback,
                    NodeError::UpgradeFailed { .. } => pb::CommandExitCode::NodeUpgradeFailure,
                    NodeError::UpgradeGate(_) => pb::CommandExitCode::BlockingJobRunning,
                    _ => pb::CommandExitCode::InternalError,
                };
                Self {
                    code,
                    message: Some(e.to_string()),
                }
            }
        }
    }
}

fn missing(what: &str) -> Outcome {
    Outcome {
        code: pb::CommandExitCode::InternalError,
        message: Some(format!("command has no {what}")),
    }
}

/// When the control plane should retry a command refused for running upgrade-blocking jobs.
pub const BLOCKING_RETRY_HINT_SECS: u64 = 60;

/// Runs one command on the local node manager.
pub async fn execute(ops: &dyn NodeOps, host_network: bool, cmd: &pb::Command) -> Outcome {
    use pb::node_command::Command as N;
    match &cmd.command {
        Some(pb::command::Command::Host(h)) => match h.command {
            Some(pb::host_command::Command::Pending(_)) => Outcome::ok(),
            _ => Outcome {
                code: pb::CommandExitCode::NotSupported,
                message: Some("host start/stop/restart are not supported".into()),
            },
        },
        Some(pb::command::Command::Node(n)) => {
            let id = match Uuid::parse_str(&n.node_id) {
                Ok(id) => id,
                Err(e) => {
                    return Outcome {
                        code: pb::CommandExitCode::NodeNotFound,
                        message: Some(format!("node id `{}`: {e}", n.node_id)),
                    };
                }
            };
            let result = match &n.command {
                Some(N::Create(c)) => {
                    let Some(node) = &c.node else {
                        return missing("node");
                    };
                    let start = node.next_state != pb::NodeState::Stopped as i32;
                    match convert::state_from_api(node, host_network) {
                        Ok(state) if state.id == id => ops.create(state, start).await,
                        Ok(state) => Err(NodeError::CreateIdMismatch {
                            command: id,
                            node: state.id,
                        }),
                        Err(e) => Err(e),
                    }
                }
                Some(N::Start(_)) => ops.start(id).await,
                Some(N::Stop(_)) => ops.stop(id).await,
                Some(N::Restart(_)) => ops.restart(id).await,
                Some(N::Delete(_)) => ops.delete(id).await,
                Some(N::Upgrade(u)) => match &u.node {
                    Some(node) => ops.upgrade(id, convert::upgrade_target(node)).await,
                    None => return missing("node"),
                },
                Some(N::Update(u)) => match &u.node {
                    Some(node) => ops.update(id, convert::config_update(node)).await,
                    None => return missing("node"),
                },
                None => return missing("node command"),
            };
            Outcome::from_result(result)
        }
        None => missing("command"),
    }
}

/// Acknowledges, executes and reports one command. A command already in `applied` (it came
/// again because its result did not reach the API) is not executed again: its recorded
/// outcome is reported. An error means the API could not be told (the command comes again
/// after reconnecting).
pub async fn process(
    api: &dyn ControlPlane,
    ops: &dyn NodeOps,
    host_network: bool,
    applied: &mut Applied,
    cmd: &pb::Command,
) -> Result<Outcome, Status> {
    api.ack(&cmd.command_id).await?;
    let outcome = match applied.outcome(&cmd.command_id) {
        Some((code, message)) => {
            tracing::info!(command = %cmd.command_id, "command already applied; reporting its outcome again");
            Outcome { code, message }
        }
        None => {
            let outcome = execute(ops, host_network, cmd).await;
            if outcome.code != pb::CommandExitCode::Ok {
                tracing::warn!(command = %cmd.command_id, code = ?outcome.code, "command failed: {}",
                    outcome.message.as_deref().unwrap_or(""));
            } else {
                tracing::info!(command = %cmd.command_id, "command done");
            }
            if let Err(e) = applied.record(&cmd.command_id, outcome.code, outcome.message.clone()) {
                tracing::warn!(command = %cmd.command_id, "recording the applied command: {e}");
            }
            outcome
        }
    };
    api.update(pb::UpdateCommandRequest {
        command_id: cmd.command_id.clone(),
        exit_code: outcome.code.into(),
        exit_message: outcome.message.clone(),
        retry_hint_seconds: (outcome.code == pb::CommandExitCode::BlockingJobRunning)
            .then_some(BLOCKING_RETRY_HINT_SECS),
    })
    .await?;
    Ok(outcome)
}

/// Sends node statuses, each only when it differs from what was last sent successfully.
#[derive(Debug, Default)]
pub struct StatusReporter {
    last: HashMap<Uuid, pb::ReportNodeStatusRequest>,
}

impl StatusReporter {
    /// Forgets what was sent (after a reconnect the API may have restarted).
    pub fn reset(&mut self) {
        self.last.clear();
    }

    /// Returns how many reports were sent.
    pub async fn report(&mut self, api: &dyn ControlPlane, nodes: Vec<NodeReport>) -> usize {
        let mut sent = 0;
        self.last.retain(|id, _| nodes.iter().any(|n| &n.id == id));
        for n in nodes {
            let req = pb::ReportNodeStatusRequest {
                node_id: n.id.to_string(),
                config_id: (!n.config_id.is_empty()).then(|| n.config_id.clone()),
                status: Some(pb::NodeStatus {
                    state: convert::state_to_api(n.status).into(),
                    protocol_state: n.protocol_state.clone(),
                    protocol_health: n.protocol_health.clone(),
                }),
                p2p_address: n.p2p_address.clone(),
                ip_address: (!n.ip.is_empty()).then(|| n.ip.clone()),
                ip_gateway: (!n.gateway.is_empty()).then(|| n.gateway.clone()),
                upgrade_waiting: n.upgrade_waiting.clone(),
            };
            if self.last.get(&n.id) == Some(&req) {
                continue;
            }
            match api.report_status(req.clone()).await {
                Ok(()) => {
                    self.last.insert(n.id, req);
                    sent += 1;
                }
                Err(e) => tracing::debug!(node = %n.id, "status report failed: {}", e.message()),
            }
        }
        sent
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::cloud::convert::sample_node;
    use bv_host::apilink::control::CommandStream;

    #[derive(Default)]
    struct FakeApi {
        calls: Mutex<Vec<String>>,
        updates: Mutex<Vec<pb::UpdateCommandRequest>>,
        reports: Mutex<Vec<pb::ReportNodeStatusRequest>>,
        fail_ack: bool,
    }

    #[tonic::async_trait]
    impl ControlPlane for FakeApi {
        async fn command_stream(&self) -> Result<CommandStream, Status> {
            Err(Status::unavailable("fake"))
        }
        async fn ack(&self, id: &str) -> Result<(), Status> {
            if self.fail_ack {
                return Err(Status::unavailable("down"));
            }
            self.calls.lock().unwrap().push(format!("ack {id}"));
            Ok(())
        }
        async fn update(&self, u: pb::UpdateCommandRequest) -> Result<(), Status> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("update {}", u.command_id));
            self.updates.lock().unwrap().push(u);
            Ok(())
        }
        async fn report_status(&self, r: pb::ReportNodeStatusRequest) -> Result<(), Status> {
            self.reports.lock().unwrap().push(r);
            Ok(())
        }
        async fn report_figures(
            &self,
            _r: pb::ReportHostFiguresRequest,
        ) -> Result<pb::ReportHostFiguresResponse, Status> {
            Err(Status::unimplemented("not used by these tests"))
        }
    }

    #[derive(Default)]
    struct FakeOps {
        calls: Mutex<Vec<String>>,
        created: Mutex<Vec<(NodeState, bool)>>,
        missing: bool,
        /// Upgrades are refused for a running upgrade-blocking job.
        blocked: bool,
        reports: Mutex<Vec<NodeReport>>,
    }

    impl FakeOps {
        fn log(&self, what: &str, id: Uuid) -> NodeResult<()> {
            self.calls.lock().unwrap().push(format!("{what} {id}"));
            if self.missing {
                return Err(NodeError::NodeNotFound(id.to_string()));
            }
            Ok(())
        }
    }

    #[tonic::async_trait]
    impl NodeOps for FakeOps {
        async fn create(&self, state: NodeState, start: bool) -> NodeResult<()> {
            self.created.lock().unwrap().push((state, start));
            Ok(())
        }
        async fn start(&self, id: Uuid) -> NodeResult<()> {
            self.log("start", id)
        }
        async fn stop(&self, id: Uuid) -> NodeResult<()> {
            self.log("stop", id)
        }
        async fn restart(&self, id: Uuid) -> NodeResult<()> {
            self.log("restart", id)
        }
        async fn delete(&self, id: Uuid) -> NodeResult<()> {
            self.log("delete", id)
        }
        async fn upgrade(&self, id: Uuid, t: UpgradeTarget) -> NodeResult<()> {
            self.log(&format!("upgrade {}", t.image.uri), id)?;
            if self.blocked {
                let jobs = "download".to_string();
                return Err(bv_node::node::upgrade_errors::GateError::BlockingJobs { jobs }.into());
            }
            Ok(())
        }
        async fn update(&self, id: Uuid, u: ConfigUpdate) -> NodeResult<()> {
            self.log(&format!("update {}", u.display_name), id)
        }
        async fn reports(&self) -> Vec<NodeReport> {
            self.reports.lock().unwrap().clone()
        }
    }

    fn node_cmd(id: &str, node_id: &str, c: pb::node_command::Command) -> pb::Command {
        pb::Command {
            command_id: id.into(),
            host_id: "h1".into(),
            command: Some(pb::command::Command::Node(pb::NodeCommand {
                node_id: node_id.into(),
                host_id: "h1".into(),
                command: Some(c),
            })),
            ..Default::default()
        }
    }

    /// An empty applied-command record in a directory of its own.
    fn applied() -> (tempfile::TempDir, Applied) {
        let dir = tempfile::tempdir().unwrap();
        let applied = Applied::load(dir.path());
        (dir, applied)
    }

    #[tokio::test]
    async fn create_is_acked_executed_and_reported_in_order() {
        let (_dir, mut applied) = applied();
        let api = FakeApi::default();
        let ops = FakeOps::default();
        let node = sample_node();
        let cmd = node_cmd(
            "c1",
            &node.node_id,
            pb::node_command::Command::Create(pb::NodeCreate {
                node: Some(node.clone()),
            }),
        );
        let out = process(&api, &ops, true, &mut applied, &cmd).await.unwrap();
        assert_eq!(out.code, pb::CommandExitCode::Ok);
        assert_eq!(*api.calls.lock().unwrap(), vec!["ack c1", "update c1"]);
        let created = ops.created.lock().unwrap();
        assert_eq!(created.len(), 1);
        assert_eq!(created[0].0.id.to_string(), node.node_id);
        assert!(created[0].1, "next_state Running starts the node");
        assert_eq!(
            api.updates.lock().unwrap()[0].exit_code,
            pb::CommandExitCode::Ok as i32
        );
    }

    #[tokio::test]
    async fn upgrade_refused_for_a_blocking_job_says_so_with_a_retry_hint() {
        let (_dir, mut applied) = applied();
        let api = FakeApi::default();
        let ops = FakeOps {
            blocked: true,
            ..Default::default()
        };
        let node = sample_node();
        let cmd = node_cmd(
            "c1",
            &node.node_id.clone(),
            pb::node_command::Command::Upgrade(pb::NodeUpgrade { node: Some(node) }),
        );
        let out = process(&api, &ops, true, &mut applied, &cmd).await.unwrap();
        assert_eq!(out.code, pb::CommandExitCode::BlockingJobRunning);
        let update = api.updates.lock().unwrap()[0].clone();
        assert_eq!(
            update.exit_code,
            pb::CommandExitCode::BlockingJobRunning as i32
        );
        assert_eq!(update.retry_hint_seconds, Some(BLOCKING_RETRY_HINT_SECS));
        assert!(update.exit_message.unwrap().contains("download"));
    }

    #[tokio::test]
    async fn stopped_next_state_creates_without_start() {
        let ops = FakeOps::default();
        let mut node = sample_node();
        node.next_state = pb::NodeState::Stopped.into();
        let cmd = node_cmd(
            "c1",
            &node.node_id.clone(),
            pb::node_command::Command::Create(pb::NodeCreate { node: Some(node) }),
        );
        execute(&ops, true, &cmd).await;
        assert!(!ops.created.lock().unwrap()[0].1);
    }

    #[tokio::test]
    async fn node_commands_map_to_operations() {
        let ops = FakeOps::default();
        let node = sample_node();
        let id = node.node_id.clone();
        use pb::node_command::Command as N;
        for c in [
            N::Start(pb::NodeStart {}),
            N::Stop(pb::NodeStop {}),
            N::Restart(pb::NodeRestart {}),
            N::Delete(pb::NodeDelete {}),
            N::Upgrade(pb::NodeUpgrade {
                node: Some(node.clone()),
            }),
            N::Update(pb::NodeUpdate {
                node: Some(node.clone()),
            }),
        ] {
            let out = execute(&ops, true, &node_cmd("c", &id, c)).await;
            assert_eq!(out.code, pb::CommandExitCode::Ok);
        }
        let calls = ops.calls.lock().unwrap();
        assert_eq!(
            *calls,
            vec![
                format!("start {id}"),
                format!("stop {id}"),
                format!("restart {id}"),
                format!("delete {id}"),
                format!("upgrade docker-daemon://proto:1 {id}"),
                format!("update fox {id}"),
            ]
        );
    }

    #[tokio::test]
    async fn failures_carry_code_and_message() {
        let ops = FakeOps {
            missing: true,
            ..Default::default()
        };
        let id = Uuid::new_v4().to_string();
        let out = execute(
            &ops,
            true,
            &node_cmd("c", &id, pb::node_command::Command::Start(pb::NodeStart {})),
        )
        .await;
        assert_eq!(out.code, pb::CommandExitCode::NodeNotFound);
        assert!(out.message.unwrap().contains(&id));

        let out = execute(
            &ops,
            true,
            &node_cmd(
                "c",
                "not-a-uuid",
                pb::node_command::Command::Stop(pb::NodeStop {}),
            ),
        )
        .await;
        assert_eq!(out.code, pb::CommandExitCode::NodeNotFound);

        let mut bad = sample_node();
        if let Some(i) = bad.config.as_mut().and_then(|c| c.image.as_mut()) {
            i.image_uri.clear();
        }
        let out = execute(
            &ops,
            true,
            &node_cmd(
                "c",
                &bad.node_id.clone(),
                pb::node_command::Command::Create(pb::NodeCreate { node: Some(bad) }),
            ),
        )
        .await;
        assert_eq!(out.code, pb::CommandExitCode::InternalError);
        assert!(out.message.unwrap().contains("image_uri"));
    }

    #[tokio::test]
    async fn host_commands() {
        let ops = FakeOps::default();
        let host = |c| pb::Command {
            command_id: "h".into(),
            command: Some(pb::command::Command::Host(pb::HostCommand {
                host_id: "h1".into(),
                command: Some(c),
            })),
            ..Default::default()
        };
        use pb::host_command::Command as H;
        let out = execute(&ops, true, &host(H::Pending(pb::HostPending {}))).await;
        assert_eq!(out.code, pb::CommandExitCode::Ok);
        let out = execute(&ops, true, &host(H::Restart(pb::HostRestart {}))).await;
        assert_eq!(out.code, pb::CommandExitCode::NotSupported);
    }

    #[tokio::test]
    async fn a_redelivered_command_is_reported_again_not_applied_again() {
        let (dir, mut applied) = applied();
        let api = FakeApi::default();
        let ops = FakeOps::default();
        let id = Uuid::new_v4().to_string();
        let cmd = node_cmd(
            "c9",
            &id,
            pb::node_command::Command::Start(pb::NodeStart {}),
        );
        process(&api, &ops, true, &mut applied, &cmd).await.unwrap();
        // The daemon restarts: the record is read back from disk.
        let mut reloaded = Applied::load(dir.path());
        let again = process(&api, &ops, true, &mut reloaded, &cmd)
            .await
            .unwrap();
        assert_eq!(again.code, pb::CommandExitCode::Ok);
        assert_eq!(ops.calls.lock().unwrap().len(), 1, "applied once");
        assert_eq!(
            *api.calls.lock().unwrap(),
            vec!["ack c9", "update c9", "ack c9", "update c9"]
        );
    }

    #[tokio::test]
    async fn failed_ack_does_not_execute() {
        let (_dir, mut applied) = applied();
        let api = FakeApi {
            fail_ack: true,
            ..Default::default()
        };
        let ops = FakeOps::default();
        let id = Uuid::new_v4().to_string();
        let cmd = node_cmd("c", &id, pb::node_command::Command::Start(pb::NodeStart {}));
        assert!(process(&api, &ops, true, &mut applied, &cmd).await.is_err());
        assert!(ops.calls.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn statuses_are_sent_only_when_changed() {
        let api = FakeApi::default();
        let mut reporter = StatusReporter::default();
        let id = Uuid::new_v4();
        let mut report = NodeReport {
            id,
            status: NodeStatus::Stopped,
            config_id: "cfg".into(),
            ip: "127.0.0.1".into(),
            gateway: String::new(),
            protocol_state: None,
            protocol_health: None,
            p2p_address: None,
            upgrade_waiting: None,
        };
        assert_eq!(reporter.report(&api, vec![report.clone()]).await, 1);
        assert_eq!(reporter.report(&api, vec![report.clone()]).await, 0);
        report.status = NodeStatus::Running;
        assert_eq!(reporter.report(&api, vec![report.clone()]).await, 1);
        report.protocol_state = Some("broadcasting".into());
        report.protocol_health = Some("healthy".into());
        assert_eq!(reporter.report(&api, vec![report.clone()]).await, 1);
        let sent = api.reports.lock().unwrap().clone();
        assert_eq!(sent.len(), 3);
        let last = sent[2].status.clone().unwrap();
        assert_eq!(last.protocol_state.as_deref(), Some("broadcasting"));
        assert_eq!(last.protocol_health.as_deref(), Some("healthy"));
        assert_eq!(
            sent[1].status.as_ref().unwrap().state,
            pb::NodeState::Running as i32
        );
        assert_eq!(sent[1].ip_address.as_deref(), Some("127.0.0.1"));
        assert_eq!(sent[1].ip_gateway, None);
        reporter.reset();
        assert_eq!(reporter.report(&api, vec![report]).await, 1);
    }
}
