//! `setup_babel`: RAM disks, the persisted config, the optional `post_setup.sh` hook.

use std::path::Path;

use babel_api::node_env::{BabelConfig, RamDisk};
use nix::mount::{MsFlags, mount};

use super::error::SetupError;
use super::state::Agent;

/// Mount points listed in `/proc/self/mountinfo` with filesystem type tmpfs.
fn tmpfs_mounts() -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let mount_point = pre.split_whitespace().nth(4)?;
            (post.split_whitespace().next()? == "tmpfs").then(|| mount_point.replace("\\040", " "))
        })
        .collect()
}

pub fn ramdisks_mounted(ramdisks: &[RamDisk]) -> bool {
    let mounted = tmpfs_mounts();
    ramdisks.iter().all(|r| {
        mounted
            .iter()
            .any(|m| Path::new(m) == Path::new(&r.ram_disk_mount_point))
    })
}

fn mount_ramdisks(ramdisks: &[RamDisk]) -> Result<(), SetupError> {
    let mounted = tmpfs_mounts();
    for r in ramdisks {
        let dir = Path::new(&r.ram_disk_mount_point);
        if mounted.iter().any(|m| Path::new(m) == dir) {
            continue;
        }
        create_dir(dir)?;
        let opts = format!("size={}M", r.ram_disk_size_mb);
        mount(
            Some("tmpfs"),
            dir,
            Some("tmpfs"),
            MsFlags::empty(),
            Some(opts.as_str()),
        )
        .map_err(|source| SetupError::Mount {
            path: dir.to_owned(),
            size_mb: r.ram_disk_size_mb,
            source,
        })?;
    }
    Ok(())
}

/// Sets the node up: RAM disks, persisted config, `post_setup.sh`, then the jobs manager.
pub async fn setup_babel(agent: &Agent, config: BabelConfig) -> Result<(), SetupError> {
    mount_ramdisks(&config.ramdisks)?;
    let path = &agent.config.runner.config;
    if let Some(dir) = path.parent() {
        create_dir(dir)?;
    }
    bv_base::json_file::write(path, &config, None).map_err(SetupError::SaveConfig)?;
    let hook = agent.config.runner.post_setup_script();
    if hook.exists() {
        let out = tokio::process::Command::new("sh")
            .arg(&hook)
            .envs(config.node_env.env_vars())
            .output()
            .await
            .map_err(|source| SetupError::RunHook {
                path: hook.clone(),
                source,
            })?;
        if !out.status.success() {
            return Err(SetupError::HookFailed {
                path: hook,
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
    }
    agent
        .manager
        .startup(config.node_env)
        .map_err(SetupError::Startup)
}

fn create_dir(dir: &Path) -> Result<(), SetupError> {
    std::fs::create_dir_all(dir).map_err(|source| SetupError::CreateDir {
        path: dir.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_ramdisks_means_mounted() {
        assert!(ramdisks_mounted(&[]));
        assert!(!ramdisks_mounted(&[RamDisk {
            ram_disk_mount_point: "/definitely/not/mounted".into(),
            ram_disk_size_mb: 1
        }]));
    }
}
