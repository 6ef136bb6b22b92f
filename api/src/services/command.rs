//! CommandService: the stream hosts hold open to receive their commands, plus ack/result
//! reporting. Commands are persisted, so a host that reconnects gets every command that has
//! no result yet (at-least-once); acks and results are idempotent (the first result stands).
//! Streams wake through [`crate::wake`], so a command recorded on any replica reaches the
//! stream held by another.

use std::collections::HashSet;
use std::pin::Pin;

use babel_api::pb::api::v1 as pb;
use futures::Stream;
use pb::command_service_server::CommandService;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::error::{ApiError, ApiResult, Denied, grpc};
use super::{State, not_found};
use crate::auth::{Principal, Scope, principal};
use crate::db::commands::CommandRow;
use crate::db::{self, Db, now_ms};

/// An open stream renews its host's `online` mark this often; the janitor clears marks not
/// renewed for [`crate::janitor::ONLINE_STALE_MS`] (the stream's replica died).
pub const HEARTBEAT_MS: i64 = 30_000;

#[derive(Debug, Clone)]
pub struct Commands(pub State);

/// The host whose commands the caller may see: its own (hosts) or any (host:read).
fn host_of(p: &Principal, asked: Option<&str>) -> ApiResult<String> {
    match (p.host_id(), asked) {
        (Some(own), Some(asked)) if own != asked => Err(Denied::ForeignCommands.into()),
        (Some(own), _) => Ok(own.to_string()),
        (None, Some(asked)) => {
            p.require(Scope::HostRead)?;
            Ok(asked.to_string())
        }
        (None, None) => Err(ApiError::Required { field: "host_id" }),
    }
}

async fn load_for(db: &Db, p: &Principal, command_id: &str) -> ApiResult<CommandRow> {
    let row = db::commands::by_id(db, command_id)
        .await?
        .ok_or_else(|| not_found("command", command_id))?;
    match p.host_id() {
        Some(own) if own != row.host_id => Err(not_found("command", command_id)),
        Some(_) => Ok(row),
        None => {
            p.require(Scope::HostWrite)?;
            Ok(row)
        }
    }
}

async fn pump(state: State, host_id: String, tx: mpsc::Sender<Result<pb::Command, Status>>) {
    let mut beat = now_ms();
    let _ = db::hosts::heartbeat(&state.db, &host_id, beat).await;
    let notify = state.wake.subscribe(&host_id);
    let poll = state.wake.fallback_poll();
    let mut sent: HashSet<String> = HashSet::new();
    'outer: loop {
        // Register interest before reading, so a command recorded meanwhile is not missed.
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        match db::commands::pending(&state.db, &host_id).await {
            Ok(rows) => {
                sent.retain(|id| rows.iter().any(|r| &r.command_id == id));
                for row in rows {
                    if sent.contains(&row.command_id) {
                        continue;
                    }
                    let item = row.to_proto().map_err(|e| ApiError::from(e).into());
                    if tx.send(item).await.is_err() {
                        break 'outer;
                    }
                    sent.insert(row.command_id);
                }
            }
            Err(e) => {
                let _ = tx.send(Err(ApiError::from(e).into())).await;
                break;
            }
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep(poll) => {}
            _ = tx.closed() => break,
        }
        if now_ms() - beat >= HEARTBEAT_MS {
            beat = now_ms();
            let _ = db::hosts::heartbeat(&state.db, &host_id, beat).await;
        }
    }
    let _ = db::hosts::stream_closed(&state.db, &host_id, beat).await;
    tracing::info!(%host_id, "command stream closed");
}

type CommandStream = Pin<Box<dyn Stream<Item = Result<pb::Command, Status>> + Send>>;

#[tonic::async_trait]
impl CommandService for Commands {
    type StreamStream = CommandStream;

    async fn stream(
        &self,
        req: Request<pb::StreamCommandsRequest>,
    ) -> Result<Response<CommandStream>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            let host_id = host_of(&p, req.get_ref().host_id.as_deref())?;
            db::hosts::by_id(&self.0.db, &host_id)
                .await?
                .ok_or_else(|| not_found("host", &host_id))?;
            tracing::info!(%host_id, "command stream opened");
            let (tx, rx) = mpsc::channel(64);
            tokio::spawn(pump(self.0.clone(), host_id, tx));
            let stream: CommandStream = Box::pin(ReceiverStream::new(rx));
            Ok(stream)
        })
        .await
    }

    async fn pending(
        &self,
        req: Request<pb::PendingCommandsRequest>,
    ) -> Result<Response<pb::PendingCommandsResponse>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            let host_id = host_of(&p, req.get_ref().host_id.as_deref())?;
            let rows = db::commands::pending(&self.0.db, &host_id).await?;
            let commands = rows
                .iter()
                .map(|r| r.to_proto())
                .collect::<Result<_, _>>()?;
            Ok(pb::PendingCommandsResponse { commands })
        })
        .await
    }

    async fn ack(
        &self,
        req: Request<pb::AckCommandRequest>,
    ) -> Result<Response<pb::AckCommandResponse>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            let row = load_for(&self.0.db, &p, &req.get_ref().command_id).await?;
            db::commands::ack(&self.0.db, &row.command_id).await?;
            Ok(pb::AckCommandResponse {})
        })
        .await
    }

    async fn update(
        &self,
        req: Request<pb::UpdateCommandRequest>,
    ) -> Result<Response<pb::Command>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            let req = req.into_inner();
            let row = load_for(&self.0.db, &p, &req.command_id).await?;
            if pb::CommandExitCode::try_from(req.exit_code)
                .map(|c| c == pb::CommandExitCode::Unspecified)
                .unwrap_or(true)
            {
                return Err(ApiError::InvalidExitCode(req.exit_code));
            }
            if !db::commands::complete(&self.0.db, &req).await? {
                tracing::debug!(command_id = %req.command_id, "result already recorded");
            }
            let row = db::commands::by_id(&self.0.db, &row.command_id)
                .await?
                .ok_or_else(|| not_found("command", &req.command_id))?;
            let command = row.to_proto()?;
            // A confirmed delete settles the node's state.
            if req.exit_code == pb::CommandExitCode::Ok as i32
                && let Some(pb::command::Command::Node(nc)) = &command.command
                && matches!(nc.command, Some(pb::node_command::Command::Delete(_)))
                && let Some(node_row) = db::nodes::by_id(&self.0.db, &nc.node_id).await?
            {
                let mut node = node_row.to_proto()?;
                node.status = Some(pb::NodeStatus {
                    state: pb::NodeState::Deleted as i32,
                    ..Default::default()
                });
                db::nodes::save(&self.0.db, &node, true).await?;
            }
            Ok(command)
        })
        .await
    }

    async fn list(
        &self,
        req: Request<pb::ListCommandsRequest>,
    ) -> Result<Response<pb::ListCommandsResponse>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            let req = req.into_inner();
            let host_id = match p.host_id() {
                Some(_) => Some(host_of(&p, req.host_id.as_deref())?),
                None => {
                    p.require(Scope::HostRead)?;
                    req.host_id
                }
            };
            let rows = db::commands::list(
                &self.0.db,
                host_id.as_deref(),
                req.node_id.as_deref(),
                req.pending_only,
            )
            .await?;
            let commands = rows
                .iter()
                .map(|r| r.to_proto())
                .collect::<Result<_, _>>()?;
            Ok(pb::ListCommandsResponse { commands })
        })
        .await
    }
}
