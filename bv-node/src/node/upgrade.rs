//! Upgrade to a new image: the data dir is kept, the rootfs is rebuilt from the new image,
//! `init` runs again; if the new image fails to start, the old one is restored.

use tracing::{info, warn};

use super::state::{ImageKey, NodeImage, Status, UpgradeState, VmConfig};
use super::upgrade_gate::UpgradeGate;
use super::{Node, NodeError, NodeResult, Refused, create::check_min_babel_version};
use crate::journal::{Journal, Op};
use bv_base::fault;

/// What an upgrade changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeTarget {
    pub image: NodeImage,
    pub image_key: ImageKey,
    pub vm_config: VmConfig,
    /// How long the new version gets to report a healthy protocol status (the operator's
    /// choice); `None`: the image's declaration, else the default.
    pub health_timeout: Option<std::time::Duration>,
}

impl Node {
    /// Upgrades with the default gate: waits for blocking jobs and the upgrade window.
    pub async fn upgrade(&mut self, target: UpgradeTarget) -> NodeResult<()> {
        self.upgrade_with(target, &UpgradeGate::default()).await
    }

    pub async fn upgrade_with(
        &mut self,
        target: UpgradeTarget,
        gate: &UpgradeGate,
    ) -> NodeResult<()> {
        if self.state.expected_status == Status::Failed {
            return Err(NodeError::NodeFailed(Refused::Upgrade));
        }
        if target.image == self.state.image && target.vm_config == self.state.vm_config {
            return Ok(());
        }
        check_min_babel_version(&target.image.min_babel_version)?;
        // Fetch first: a missing image must not stop the node.
        self.fetch_upgrade(&target).await?;

        // Before the first side effect: a crash from here on is rolled back at start.
        let journal = Journal::new(&self.svc.config.root);
        journal.record(Op::Upgrade, self.state.id, &self.state.name, &self.state.ip)?;
        fault::point("upgrade.after_intent");
        // Prepared and at a safe moment while the old node runs; else it is left as it was.
        let mut result = self.stage_upgrade(&target).await;
        if result.is_ok() {
            result = self.gate_upgrade(gate, &target.image.version).await;
        }
        if result.is_ok() {
            result = self.upgrade_recorded(target).await;
        }
        journal.done(Op::Upgrade, self.state.id)?;
        result
    }

    async fn upgrade_recorded(&mut self, target: UpgradeTarget) -> NodeResult<()> {
        let health_timeout = target.health_timeout;
        let was_running = self.state.expected_status == Status::Running;
        self.state.upgrade = Some(UpgradeState {
            previous_image: self.state.image.clone(),
            previous_image_key: self.state.image_key.clone(),
            previous_vm_config: self.state.vm_config.clone(),
            previous_initialized: self.state.initialized,
            was_running,
            discard_data_on_rollback: false,
        });
        self.save()?;
        if was_running {
            self.state.restarting = true;
            self.stop(false).await?;
        }
        fault::point("upgrade.after_stop");
        self.svc.rootfs.set_aside(&self.paths.dir).await?;
        fault::point("upgrade.after_set_aside");
        self.drop_plugin();
        self.state.image = target.image;
        self.state.image_key = target.image_key;
        self.state.vm_config = target.vm_config;
        self.state.initialized = false;
        self.save()?;

        let brought_up = async {
            self.svc
                .rootfs
                .mount(&self.state.image.uri, &self.paths.dir)
                .await?;
            fault::point("upgrade.after_mount");
            if was_running {
                self.start().await?;
            }
            fault::point("upgrade.after_start");
            if was_running {
                self.await_upgrade_health(health_timeout).await?;
            }
            Ok::<_, NodeError>(())
        }
        .await;
        match brought_up {
            Ok(()) => {
                self.state.upgrade = None;
                self.save()?;
                self.svc.rootfs.discard(&self.paths.dir).await?;
                self.clear_rollback_note();
                info!(node = %self.state.id, image = %self.state.image.uri, "upgraded");
                Ok(())
            }
            Err(error) => {
                warn!(node = %self.state.id, "upgrade failed, rolling back: {error}");
                let given_up = self.state.image.version.clone();
                let discarded = self
                    .state
                    .upgrade
                    .as_ref()
                    .is_some_and(|u| u.discard_data_on_rollback);
                match self.rollback().await {
                    Ok(()) => {
                        let reason = error.to_string();
                        self.note_rollback(&given_up, &reason, discarded);
                        Err(match error {
                            NodeError::UpgradeUnhealthy {
                                version,
                                timeout_secs,
                                ..
                            } => NodeError::UpgradeRolledBackUnhealthy {
                                version,
                                timeout_secs,
                                reason,
                            },
                            error => NodeError::UpgradeRolledBack(Box::new(error)),
                        })
                    }
                    Err(rollback) => {
                        self.record_failure(&format!(
                            "upgrade failed ({error}) and rollback failed too ({rollback})"
                        ));
                        self.state.expected_status = Status::Failed;
                        let _ = self.save();
                        Err(NodeError::UpgradeFailed {
                            error: Box::new(error),
                            rollback: Box::new(rollback),
                        })
                    }
                }
            }
        }
    }

    async fn bring_up(&mut self, start: bool) -> NodeResult<()> {
        self.svc
            .rootfs
            .mount(&self.state.image.uri, &self.paths.dir)
            .await?;
        if start {
            self.start().await?;
        }
        Ok(())
    }

    /// Finishes an upgrade a crash interrupted: rolled back to the recorded old image when it
    /// was under way; only the set-aside layer is dropped when it had already succeeded.
    pub async fn finish_interrupted_upgrade(&mut self) -> NodeResult<()> {
        self.clear_upgrade_stage().await?;
        if let Some(upgrade) = self.state.upgrade.clone() {
            let given_up = self.state.image.version.clone();
            self.rollback().await?;
            if given_up != self.state.image.version {
                self.note_rollback(
                    &given_up,
                    "the upgrade was interrupted (daemon restart) before it was confirmed",
                    upgrade.discard_data_on_rollback,
                );
            }
        } else {
            self.svc.rootfs.discard(&self.paths.dir).await?;
        }
        Ok(())
    }

    /// Restores the pre-upgrade image and state (also used to finish an interrupted upgrade).
    pub async fn rollback(&mut self) -> NodeResult<()> {
        let Some(prev) = self.state.upgrade.clone() else {
            return Ok(());
        };
        self.agent = None;
        self.drop_plugin();
        self.kill_container(libc::SIGKILL).await?;
        self.svc.rootfs.restore(&self.paths.dir).await?;
        self.state.image = prev.previous_image;
        self.state.image_key = prev.previous_image_key;
        self.state.vm_config = prev.previous_vm_config;
        self.state.initialized = prev.previous_initialized;
        if prev.discard_data_on_rollback {
            self.discard_data()?;
        }
        self.state.expected_status = if prev.was_running {
            Status::Running
        } else {
            Status::Stopped
        };
        self.save()?;
        self.bring_up(prev.was_running).await?;
        self.state.upgrade = None;
        self.save()?;
        info!(node = %self.state.id, image = %self.state.image.uri, "rolled back");
        Ok(())
    }
}
