//! Turns a node into a container: mounts, agent command line, limits.

use std::path::Path;

use bv_host::container::spec::{Bind, ContainerConfig, Network, Tmpfs};

use super::state::NodeState;
use super::{NodePaths, Services};

/// Paths inside the node.
pub const INIT_PATH: &str = "/usr/sbin/bv-init";
pub const BABEL_PATH: &str = "/usr/bin/babel";
pub const JOB_RUNNER_PATH: &str = "/usr/bin/babel-job-runner";
pub const BABEL_RUN_DIR: &str = "/run/babel";

pub fn container_config(
    svc: &Services,
    state: &NodeState,
    paths: &NodePaths,
    rootfs: &Path,
    network: Network,
    env: Vec<String>,
) -> ContainerConfig {
    let mut binds = vec![
        Bind {
            source: paths.data(),
            destination: babel_api::node_env::DATA_MOUNT_POINT.into(),
            readonly: false,
        },
        Bind {
            source: paths.run(),
            destination: BABEL_RUN_DIR.into(),
            readonly: false,
        },
        Bind {
            source: svc.init_binary.clone(),
            destination: INIT_PATH.into(),
            readonly: true,
        },
        Bind {
            source: svc.babel_dir.join("babel"),
            destination: BABEL_PATH.into(),
            readonly: true,
        },
        Bind {
            source: svc.babel_dir.join("babel-job-runner"),
            destination: JOB_RUNNER_PATH.into(),
            readonly: true,
        },
    ];
    if Path::new("/etc/resolv.conf").is_file() {
        binds.push(Bind {
            source: "/etc/resolv.conf".into(),
            destination: "/etc/resolv.conf".into(),
            readonly: true,
        });
    }
    let tmpfs = state
        .vm_config
        .ramdisks
        .iter()
        .map(|r| Tmpfs {
            destination: r.mount.clone(),
            size_mb: r.size_mb,
        })
        .collect();
    let mut env = env;
    env.insert(
        0,
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
    );
    env.push(format!(
        "BV_INIT_GRACE={}",
        svc.config.stop_grace_secs.max(1)
    ));
    ContainerConfig {
        hostname: state.name.replace('_', "-"),
        rootfs: rootfs.to_owned(),
        args: vec![
            INIT_PATH.into(),
            BABEL_PATH.into(),
            "--socket".into(),
            format!("{BABEL_RUN_DIR}/babel.socket"),
            "--engine-socket".into(),
            format!("{BABEL_RUN_DIR}/engine.socket"),
            "--job-runner".into(),
            JOB_RUNNER_PATH.into(),
        ],
        env,
        binds,
        tmpfs,
        network,
        cpus: Some(state.vm_config.vcpu_count).filter(|c| *c > 0),
        memory_mb: Some(state.vm_config.mem_size_mb).filter(|m| *m > 0),
        cgroups_path: format!("{}/{}", svc.config.cgroup_parent, state.id),
    }
}
