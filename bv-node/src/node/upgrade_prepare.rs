//! Preparing an upgrade while the old node still runs, so the downtime is only stop →
//! start: the new image is pulled and unpacked, mounted once in the node's staging dir
//! (`<node dir>/upgrade-stage`), and its plugin is loaded and linted there. The staging
//! mount is gone again before the node is stopped. Any failure leaves the running node as
//! it was.

use std::path::PathBuf;
use std::sync::Arc;

use babel_plugin::{Plugin, PluginError, PluginLimits};
use tracing::{info, warn};

use super::paths::PLUGIN_IN_ROOTFS;
use super::upgrade::UpgradeTarget;
use super::upgrade_errors::PrepareError;
use super::{Node, NodeError, NodeResult, io_err};
use bv_base::fault;

impl Node {
    /// Pulls and unpacks the new image (nothing of the node changes).
    pub async fn fetch_upgrade(&self, target: &UpgradeTarget) -> NodeResult<()> {
        self.svc.rootfs.ensure(&target.image.uri, None).await?;
        Ok(())
    }

    /// Mounts the new image in the staging dir, loads and lints its plugin, and removes the
    /// staging mount again (also when the check fails).
    pub async fn stage_upgrade(&mut self, target: &UpgradeTarget) -> NodeResult<()> {
        self.clear_upgrade_stage().await?;
        let stage = self.paths.upgrade_stage();
        let checked = async {
            let rootfs = self.svc.rootfs.mount(&target.image.uri, &stage).await?;
            fault::point("upgrade.after_stage");
            self.check_plugin(rootfs.join(PLUGIN_IN_ROOTFS)).await
        }
        .await;
        let cleared = self.clear_upgrade_stage().await;
        checked?;
        cleared?;
        info!(node = %self.state.id, image = %target.image.uri, "upgrade prepared: image unpacked, plugin loads and lints");
        Ok(())
    }

    /// Unmounts and removes the staging dir (an interrupted upgrade's too).
    pub async fn clear_upgrade_stage(&self) -> NodeResult<()> {
        let stage = self.paths.upgrade_stage();
        if !stage.exists() {
            return Ok(());
        }
        self.svc.rootfs.unmount(&stage).await?;
        if !self.svc.rootfs.mounts_under(&stage).is_empty() {
            return Err(PrepareError::StageBusy(stage).into());
        }
        std::fs::remove_dir_all(&stage).map_err(io_err(format!("removing {}", stage.display())))
    }

    /// Loads the plugin in `dir` with this node's engine, then lints it with the node's
    /// environment and properties: errors refuse the image, warnings are logged.
    async fn check_plugin(&self, dir: PathBuf) -> NodeResult<()> {
        let engine = Arc::new(self.engine());
        let (env, props) = (self.node_env(), self.state.properties.clone());
        let (report, runs_init) = tokio::task::spawn_blocking(move || {
            let plugin = Plugin::load(&dir, engine, PluginLimits::default())
                .map_err(PrepareError::PluginLoad)?;
            let report = babel_plugin::lint::lint(&dir, env, props);
            Ok::<_, PrepareError>((report, plugin.has_capability("init")))
        })
        .await
        .map_err(NodeError::PluginTask)??;
        for w in report.warnings() {
            warn!(node = %self.state.id, "new plugin: {w}");
        }
        // The lint's dry run always calls `init`; the host runs none for a plugin without
        // `init` or `plugin_config`, so that plugin's missing-config finding does not apply.
        let missing_config = PluginError::MissingConfig.to_string();
        let errors: Vec<_> = report
            .errors()
            .filter(|e| runs_init || e.message != missing_config)
            .cloned()
            .collect();
        if !errors.is_empty() {
            return Err(PrepareError::PluginLint(errors).into());
        }
        Ok(())
    }
}
