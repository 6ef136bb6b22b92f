//! start / stop / restart / delete and the actual-status computation.

use std::net::Ipv4Addr;
use std::time::Duration;

use babel_api::node_env::BabelConfig;
use chrono::Utc;
use tracing::{info, warn};

use super::state::{PREV_STATE_FILE, STATE_FILE, Status};
use super::{Node, NodeError, NodeResult, container, env, io_err};
use crate::journal::{Journal, Op};
use bv_base::fault;
use bv_host::container::{ContainerState, stop_and_delete};
use bv_host::net::NodeNet;

/// How long a started container gets until babel answers.
pub const BABEL_READY_TIMEOUT: Duration = Duration::from_secs(30);

impl Node {
    pub async fn container_state(&self) -> ContainerState {
        match self.svc.runtime.state(&self.container_id()).await {
            Ok(s) => s,
            Err(e) => {
                warn!(node = %self.state.id, "container state: {e}");
                ContainerState::Created { pid: 0 }
            }
        }
    }

    /// Actual status: what runs, compared with what should run.
    pub async fn status(&self) -> Status {
        if self.broken.is_some() {
            return Status::Broken;
        }
        self.status_in(&self.container_state().await)
    }

    /// [`Node::status`] from a container state read by the caller (who needs it too).
    pub fn status_in(&self, container: &ContainerState) -> Status {
        if self.broken.is_some() {
            return Status::Broken;
        }
        let actual = match container {
            ContainerState::Running { .. } => Status::Running,
            ContainerState::Absent | ContainerState::Stopped => Status::Stopped,
            ContainerState::Created { .. } => Status::Failed,
        };
        if self.state.expected_status == Status::Failed {
            return Status::Failed;
        }
        if actual != self.state.expected_status {
            return Status::Failed;
        }
        if actual == Status::Running && (!self.state.initialized || self.agent.is_none()) {
            return Status::Failed;
        }
        actual
    }

    fn node_net(&self) -> NodeNet {
        let parse = |s: &str| s.parse::<Ipv4Addr>().unwrap_or(Ipv4Addr::UNSPECIFIED);
        NodeNet {
            ip: parse(&self.state.ip),
            gateway: parse(&self.state.gateway),
            prefix: self.svc.config.network.prefix,
        }
    }

    /// Starts the container (if it is not running) and babel, sets babel up and runs the
    /// plugin's `init` on first start. A failure is kept as the reason of the Failed node.
    pub async fn start(&mut self) -> NodeResult<()> {
        let result = self.start_steps().await;
        match &result {
            Ok(()) => self.clear_failure(),
            Err(e) => self.record_failure(&e.to_string()),
        }
        result
    }

    async fn start_steps(&mut self) -> NodeResult<()> {
        if self.state.expected_status != Status::Running {
            self.state.expected_status = Status::Running;
            self.save()?;
        }
        let id = self.container_id();
        std::fs::create_dir_all(self.paths.run())
            .map_err(io_err(format!("creating {}", self.paths.run().display())))?;
        self.serve_engine()?;
        match self.container_state().await {
            ContainerState::Running { .. } => {}
            other => {
                if other != ContainerState::Absent {
                    // A dead or half-created container: remove it first.
                    stop_and_delete(
                        &*self.svc.runtime,
                        &id,
                        libc::SIGKILL,
                        Duration::from_secs(5),
                    )
                    .await?;
                }
                self.launch_container().await?;
            }
        }
        let agent = self
            .svc
            .agents
            .connect(&self.paths.babel_socket(), BABEL_READY_TIMEOUT)
            .await?;
        agent
            .setup(BabelConfig {
                node_env: self.node_env(),
                ramdisks: vec![],
            })
            .await?;
        self.agent = Some(agent);
        if !self.state.initialized {
            self.plugin_init().await?;
            self.state.initialized = true;
        }
        self.state.started_at = Some(Utc::now());
        self.state.restarting = false;
        self.save()?;
        info!(node = %self.state.id, name = %self.state.name, "started");
        Ok(())
    }

    /// Mounts the rootfs, writes config.json and runs the container (babel starts inside).
    pub async fn launch_container(&mut self) -> NodeResult<()> {
        let paths = self.paths.clone();
        let run = paths.run();
        std::fs::create_dir_all(&run).map_err(io_err(format!("creating {}", run.display())))?;
        let _ = std::fs::remove_file(paths.babel_socket());
        let data = paths.data();
        super::paths::create_private_dir(&paths.dir)
            .map_err(io_err(format!("creating {}", paths.dir.display())))?;
        super::paths::create_private_dir(&data)
            .map_err(io_err(format!("creating {}", data.display())))?;
        let rootfs = self
            .svc
            .rootfs
            .mount(&self.state.image.uri, &paths.dir)
            .await?;
        let node_env = self.node_env();
        let babel_lib = rootfs.join("var/lib/babel");
        std::fs::create_dir_all(&babel_lib)
            .map_err(io_err(format!("creating {}", babel_lib.display())))?;
        std::fs::write(babel_lib.join("node_env"), node_env.to_env_file())
            .map_err(io_err("writing node_env"))?;
        self.install_api_ca(&rootfs)?;
        let network = if self.state.host_network {
            bv_host::container::spec::Network::Host
        } else {
            let network = self
                .svc
                .network
                .setup(&self.container_id(), &self.node_net())
                .await?;
            // Before the container runs: a node never runs without its rules.
            self.apply_firewall().await?;
            network
        };
        let config = container::container_config(
            &self.svc,
            &self.state,
            &paths,
            &rootfs,
            network,
            env::env_list(&node_env),
        );
        bv_host::container::spec::write(&paths.dir, &config)?;
        self.svc
            .runtime
            .run(&self.container_id(), &paths.dir, &paths.console_log())
            .await?;
        Ok(())
    }

    /// Graceful stop: babel stops every job, then the container's processes get SIGTERM
    /// (SIGKILL after the grace period) and the container is removed. `force` ignores a
    /// babel that cannot be reached.
    pub async fn stop(&mut self, force: bool) -> NodeResult<()> {
        self.drop_plugin();
        if self.state.expected_status != Status::Stopped {
            self.state.expected_status = Status::Stopped;
            self.save()?;
        }
        self.stop_container(force).await?;
        self.stop_engine();
        self.state.started_at = None;
        self.save()?;
        info!(node = %self.state.id, name = %self.state.name, "stopped");
        Ok(())
    }

    pub(crate) async fn stop_container(&mut self, force: bool) -> NodeResult<()> {
        let state = self.container_state().await;
        if state.is_running() {
            let agent = match self.agent.clone() {
                Some(a) => Some(a),
                None => self
                    .svc
                    .agents
                    .connect(&self.paths.babel_socket(), Duration::from_secs(2))
                    .await
                    .ok(),
            };
            match agent {
                Some(agent) => {
                    if let Err(e) = agent.shutdown(force).await {
                        if !force {
                            return Err(e.into());
                        }
                        warn!(node = %self.state.id, "babel shutdown failed, forcing: {e}");
                    }
                }
                None if !force => {
                    return Err(NodeError::BabelUnreachable);
                }
                None => {}
            }
        }
        self.agent = None;
        self.kill_container(libc::SIGTERM).await
    }

    /// Signals the container, waits, escalates to SIGKILL, removes it.
    pub(crate) async fn kill_container(&mut self, signal: i32) -> NodeResult<()> {
        let grace = Duration::from_secs(self.svc.config.stop_grace_secs.max(1) + 5);
        stop_and_delete(&*self.svc.runtime, &self.container_id(), signal, grace).await?;
        Ok(())
    }

    pub async fn restart(&mut self, force: bool) -> NodeResult<()> {
        self.state.restarting = true;
        self.save()?;
        self.stop(force).await?;
        self.start().await
    }

    /// Kills the container, unmounts the rootfs and removes everything the node left.
    /// Recorded in the journal first: a delete a crash interrupts is completed at start, and
    /// so is one that failed part way (the node stays listed until then).
    pub async fn delete(&mut self) -> NodeResult<()> {
        let journal = Journal::new(&self.svc.config.root);
        journal.record(Op::Delete, self.state.id, &self.state.name, &self.state.ip)?;
        fault::point("delete.after_intent");
        self.state.expected_status = Status::Stopped;
        self.agent = None;
        self.drop_plugin();
        self.stop_engine();
        self.svc.scheduler.remove_node(self.state.id);
        self.kill_container(libc::SIGKILL).await?;
        fault::point("delete.after_kill");
        if !self.state.host_network {
            self.svc.network.teardown(&self.container_id()).await?;
        }
        fault::point("delete.after_network");
        self.svc.rootfs.unmount(&self.paths.dir).await?;
        fault::point("delete.after_unmount");
        for file in [STATE_FILE, PREV_STATE_FILE] {
            let path = self.paths.dir.join(file);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(format!("removing {}", path.display()))(e)),
            }
        }
        fault::point("delete.after_state_removed");
        match std::fs::remove_dir_all(&self.paths.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(NodeError::Io {
                    context: format!("removing {}", self.paths.dir.display()),
                    source: e,
                });
            }
        }
        journal.done(Op::Delete, self.state.id)?;
        info!(node = %self.state.id, name = %self.state.name, "deleted");
        Ok(())
    }

    /// Why a Failed node is failed, for `bv node status` and the health check.
    pub async fn failure_reason(&self) -> String {
        if let Some(error) = &self.broken {
            return format!("state cannot be read: {error}");
        }
        let last = self.last_failure();
        let with_last = |what: &str| match &last {
            Some(error) => format!("{what}: {error}"),
            None => what.to_string(),
        };
        if self.state.expected_status == Status::Failed {
            return with_last("recovery gave up");
        }
        let cs = self.container_state().await;
        match (self.state.expected_status, cs.is_running()) {
            (Status::Running, false) => with_last("container is not running"),
            (Status::Stopped, true) => "container runs but the node should be stopped".into(),
            (Status::Running, true) if self.agent.is_none() => with_last("babel is not connected"),
            (Status::Running, true) => with_last("plugin init has not completed"),
            _ => String::new(),
        }
    }
}
