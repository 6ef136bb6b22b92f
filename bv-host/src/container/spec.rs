//! Builds a node container's OCI runtime `config.json` with `oci-spec`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxNamespace,
    LinuxNamespaceType, LinuxResourcesBuilder, Mount, MountBuilder, PosixRlimitBuilder,
    PosixRlimitType, ProcessBuilder, RootBuilder, Spec, get_default_mounts, get_default_namespaces,
};

use super::{RuntimeError, RuntimeResult, SpecError};

/// A bind mount from the host into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub source: PathBuf,
    pub destination: String,
    pub readonly: bool,
}

/// A tmpfs (RAM disk) inside the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tmpfs {
    pub destination: String,
    pub size_mb: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Network {
    /// Share the host's network namespace.
    Host,
    /// Join an existing network namespace (`/var/run/netns/<name>`).
    Namespace(PathBuf),
}

/// Everything that varies between node containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerConfig {
    pub hostname: String,
    pub rootfs: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub binds: Vec<Bind>,
    pub tmpfs: Vec<Tmpfs>,
    pub network: Network,
    /// CPU limit in whole CPUs (CFS quota); `None`: unlimited.
    pub cpus: Option<u32>,
    /// Memory limit in MiB; `None`: unlimited.
    pub memory_mb: Option<u64>,
    /// cgroup path relative to the hierarchy root, e.g. `blockvisor/<id>`.
    pub cgroups_path: String,
}

const CFS_PERIOD_US: u64 = 100_000;

/// The capabilities Docker grants by default: enough for ordinary daemons running as root in
/// the node, without mount or admin rights.
const CAPABILITIES: &[Capability] = &[
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fowner,
    Capability::Fsetid,
    Capability::Kill,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::NetRaw,
    Capability::SysChroot,
    Capability::Mknod,
    Capability::AuditWrite,
    Capability::Setfcap,
];

/// Open-file limit of node processes: generous, but never above what the host allows us.
fn nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and touches nothing else.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0;
    if ok {
        lim.rlim_max.min(1_048_576)
    } else {
        1024
    }
}

fn err(e: impl Into<SpecError>) -> RuntimeError {
    RuntimeError::Spec(e.into())
}

pub fn build(config: &ContainerConfig) -> RuntimeResult<Spec> {
    let caps: HashSet<Capability> = CAPABILITIES.iter().copied().collect();
    let mut capabilities = oci_spec::runtime::LinuxCapabilities::default();
    capabilities
        .set_bounding(Some(caps.clone()))
        .set_effective(Some(caps.clone()))
        .set_permitted(Some(caps))
        .set_inheritable(None)
        .set_ambient(None);
    let process = ProcessBuilder::default()
        .terminal(false)
        .args(config.args.clone())
        .env(config.env.clone())
        .cwd("/")
        .no_new_privileges(true)
        .capabilities(capabilities)
        .rlimits(vec![
            PosixRlimitBuilder::default()
                .typ(PosixRlimitType::RlimitNofile)
                .hard(nofile_limit())
                .soft(nofile_limit())
                .build()
                .map_err(err)?,
        ])
        .build()
        .map_err(err)?;

    let mut mounts: Vec<Mount> = get_default_mounts()
        .into_iter()
        // cgroup v1 mounts of the host hierarchy are not needed by nodes.
        .filter(|m| m.destination() != Path::new("/sys/fs/cgroup"))
        .collect();
    for bind in &config.binds {
        let mut options = vec!["rbind".to_string(), "nosuid".into(), "nodev".into()];
        options.push(if bind.readonly { "ro" } else { "rw" }.into());
        mounts.push(
            MountBuilder::default()
                .destination(&bind.destination)
                .typ("bind")
                .source(&bind.source)
                .options(options)
                .build()
                .map_err(err)?,
        );
    }
    for tmpfs in &config.tmpfs {
        mounts.push(
            MountBuilder::default()
                .destination(&tmpfs.destination)
                .typ("tmpfs")
                .source("tmpfs")
                .options(vec![
                    "nosuid".to_string(),
                    "nodev".into(),
                    "mode=755".into(),
                    format!("size={}m", tmpfs.size_mb),
                ])
                .build()
                .map_err(err)?,
        );
    }

    let namespaces: Vec<LinuxNamespace> = get_default_namespaces()
        .into_iter()
        .filter_map(|mut ns| match ns.typ() {
            LinuxNamespaceType::Network => match &config.network {
                Network::Host => None,
                Network::Namespace(path) => {
                    ns.set_path(Some(path.clone()));
                    Some(ns)
                }
            },
            // Keep the host cgroup namespace: cgroup v1 here, nothing in the node uses it.
            LinuxNamespaceType::Cgroup => None,
            _ => Some(ns),
        })
        .collect();

    let mut resources = LinuxResourcesBuilder::default();
    if let Some(mb) = config.memory_mb {
        let bytes = i64::try_from(mb.saturating_mul(1024 * 1024)).map_err(err)?;
        resources = resources.memory(
            LinuxMemoryBuilder::default()
                .limit(bytes)
                .build()
                .map_err(err)?,
        );
    }
    if let Some(cpus) = config.cpus.filter(|c| *c > 0) {
        let quota = i64::try_from(u64::from(cpus) * CFS_PERIOD_US).map_err(err)?;
        resources = resources.cpu(
            LinuxCpuBuilder::default()
                .quota(quota)
                .period(CFS_PERIOD_US)
                .build()
                .map_err(err)?,
        );
    }

    let linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .resources(resources.build().map_err(err)?)
        .cgroups_path(PathBuf::from(format!(
            "/{}",
            config.cgroups_path.trim_start_matches('/')
        )))
        .masked_paths(oci_spec::runtime::get_default_maskedpaths())
        .readonly_paths(oci_spec::runtime::get_default_readonly_paths())
        .build()
        .map_err(err)?;

    let mut spec = Spec::default();
    spec.set_hostname(Some(config.hostname.clone()))
        .set_root(Some(
            RootBuilder::default()
                .path(&config.rootfs)
                .readonly(false)
                .build()
                .map_err(err)?,
        ))
        .set_process(Some(process))
        .set_mounts(Some(mounts))
        .set_linux(Some(linux))
        .set_annotations(None);
    Ok(spec)
}

/// Writes `<bundle>/config.json`.
pub fn write(bundle: &Path, config: &ContainerConfig) -> RuntimeResult<()> {
    let spec = build(config)?;
    let json = serde_json::to_vec_pretty(&spec).map_err(err)?;
    bv_base::write_atomic(&bundle.join("config.json"), &json).map_err(|source| RuntimeError::Io {
        context: format!("writing {}/config.json", bundle.display()),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ContainerConfig {
        ContainerConfig {
            hostname: "node-a".into(),
            rootfs: "/n/rootfs".into(),
            args: vec!["/usr/sbin/bv-init".into(), "/usr/bin/babel".into()],
            env: vec!["NODE_ID=1".into()],
            binds: vec![Bind {
                source: "/n/data".into(),
                destination: "/blockjoy".into(),
                readonly: false,
            }],
            tmpfs: vec![Tmpfs {
                destination: "/mnt/ram".into(),
                size_mb: 64,
            }],
            network: Network::Host,
            cpus: Some(2),
            memory_mb: Some(512),
            cgroups_path: "blockvisor/n1".into(),
        }
    }

    #[test]
    fn host_network_has_no_net_namespace_and_limits_are_set() {
        let json = serde_json::to_value(build(&config()).unwrap()).unwrap();
        let ns: Vec<&str> = json["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert!(!ns.contains(&"network"), "{ns:?}");
        assert!(ns.contains(&"pid") && ns.contains(&"mount"));
        assert_eq!(
            json["linux"]["resources"]["memory"]["limit"],
            512 * 1024 * 1024
        );
        assert_eq!(json["linux"]["resources"]["cpu"]["quota"], 200_000);
        assert_eq!(json["linux"]["cgroupsPath"], "/blockvisor/n1");
        assert_eq!(json["hostname"], "node-a");
        assert_eq!(json["root"]["path"], "/n/rootfs");
        let mounts = json["mounts"].as_array().unwrap();
        let data = mounts
            .iter()
            .find(|m| m["destination"] == "/blockjoy")
            .unwrap();
        assert_eq!(data["source"], "/n/data");
        let ram = mounts
            .iter()
            .find(|m| m["destination"] == "/mnt/ram")
            .unwrap();
        assert_eq!(ram["type"], "tmpfs");
        assert!(
            ram["options"]
                .as_array()
                .unwrap()
                .contains(&"size=64m".into())
        );
    }

    #[test]
    fn netns_is_joined_by_path() {
        let mut c = config();
        c.network = Network::Namespace("/var/run/netns/bv-x".into());
        c.cpus = None;
        c.memory_mb = None;
        let json = serde_json::to_value(build(&c).unwrap()).unwrap();
        let net = json["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["type"] == "network")
            .unwrap()
            .clone();
        assert_eq!(net["path"], "/var/run/netns/bv-x");
        assert!(json["linux"]["resources"].get("memory").is_none());
    }
}
