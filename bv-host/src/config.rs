//! Daemon configuration: embedded defaults, optionally overridden by a TOML file and then by
//! command-line flags / environment variables. Every path, socket and bridge name lives here
//! so several daemons (tests) can run side by side.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Default state root.
pub const DEFAULT_ROOT: &str = "/var/lib/blockvisor";
/// Default local API socket (also the default of `bv --socket` and `BV_SOCKET`).
pub const DEFAULT_SOCKET: &str = "/run/blockvisor.sock";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("config: network.bridge `{0}` must be 1..=15 characters")]
    BridgeName(String),
    #[error("config: network.veth_prefix must be 1..=6 characters")]
    VethPrefix,
    #[error("config: socket path {} is too long for a Unix socket", .0.display())]
    SocketPathTooLong(PathBuf),
    #[error("config: locating the daemon executable: {0}")]
    OwnExecutable(std::io::Error),
    #[error(
        "config: babel binaries not found in {} or {} (set babel_dir or run \
         scripts/build-babel-static)",
        .0[0].display(),
        .0[1].display()
    )]
    BabelNotFound([PathBuf; 2]),
    #[error("config: babel_dir {}: `{bin}` is missing", dir.display())]
    BabelBinaryMissing { dir: PathBuf, bin: &'static str },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// State root: `nodes/`, `images/`, the runc state dir.
    pub root: PathBuf,
    /// Local API socket (mode 0660).
    pub socket: PathBuf,
    /// Directory holding the static `babel` and `babel-job-runner`; default: next to the
    /// daemon executable (`<exe dir>/../babel-static`, then `<exe dir>`).
    pub babel_dir: Option<PathBuf>,
    /// The runc executable.
    pub runc: PathBuf,
    /// runc `--root` (container state); default `<root>/runc`.
    pub runc_root: Option<PathBuf>,
    /// cgroup parent of node containers.
    pub cgroup_parent: String,
    /// Dev mode: every node is local (no control-plane API), host network by default.
    pub dev_mode: bool,
    /// Docker daemon socket for `docker-daemon://` images (default: the Docker default).
    pub docker_host: Option<String>,
    /// Default control-plane API URL for `bv host register` (the URL the host registered
    /// with is kept in `<root>/host.json` with the host credentials).
    pub api_url: Option<String>,
    /// Seconds between node status reports to the API (changes are also sent right after
    /// every command).
    pub status_interval_secs: u64,
    pub host_id: String,
    pub host_name: String,
    pub network: NetworkConfig,
    /// Seconds between failure-recovery passes.
    pub recovery_interval_secs: u64,
    /// Base of the recovery backoff (doubled after every failed attempt).
    pub recovery_backoff_ms: u64,
    /// Failed recovery attempts before a node is marked Failed for good.
    pub recovery_max_tries: u32,
    /// Seconds a node's processes get to exit after SIGTERM before SIGKILL.
    pub stop_grace_secs: u64,
    /// Health checks and the Prometheus endpoint.
    pub metrics: MetricsConfig,
    /// Automatic upgrade policy (host default; nodes may override it).
    pub upgrade: UpgradeConfig,
}

/// Health checks of nodes and the Prometheus endpoint (see docs/operations.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// `host:port` of the Prometheus endpoint (`GET /metrics`); unset: off. Port 0 picks a
    /// free port (shown by `bv status`).
    pub listen: Option<std::net::SocketAddr>,
    /// Seconds between two health checks of every node.
    pub interval_secs: u64,
    /// Minimum seconds between two walks of a node's data dir (disk use).
    pub disk_interval_secs: u64,
}

impl MetricsConfig {
    pub fn cadence(&self) -> Cadence {
        Cadence {
            every: std::time::Duration::from_secs(self.interval_secs.max(1)),
            disk_every: std::time::Duration::from_secs(self.disk_interval_secs),
        }
    }
}

/// How the health check paces itself.
#[derive(Debug, Clone, Copy)]
pub struct Cadence {
    pub every: std::time::Duration,
    /// Minimum time between two walks of a node's data dir.
    pub disk_every: std::time::Duration,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            listen: None,
            interval_secs: 15,
            disk_interval_secs: 300,
        }
    }
}

/// Node networking. Nodes with `host_network` (always in dev mode unless a node asks for
/// bridge mode) share the host's network; others get a veth into `bridge` with a fixed IP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    pub host_network: bool,
    pub bridge: String,
    /// Bridge address = node gateway.
    pub gateway: Ipv4Addr,
    pub prefix: u8,
    /// First and last address handed to nodes.
    pub first_ip: Ipv4Addr,
    pub last_ip: Ipv4Addr,
    /// Prefix of host-side veth names (`<prefix><8 hex of the node id>`), 1..=6 chars.
    pub veth_prefix: String,
    /// Masquerade traffic from the node subnet leaving through other interfaces (nftables
    /// table `ip bv_nat_<bridge>`), so bridged nodes reach beyond the host.
    pub masquerade: bool,
    /// Accept forwarded traffic of the bridge in iptables' `FORWARD` chain (needed where
    /// Docker set its policy to DROP); per-node firewalls do the filtering.
    pub accept_forward: bool,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            host_network: false,
            bridge: "bvbr0".into(),
            gateway: Ipv4Addr::new(10, 77, 0, 1),
            prefix: 16,
            first_ip: Ipv4Addr::new(10, 77, 0, 10),
            last_ip: Ipv4Addr::new(10, 77, 255, 254),
            veth_prefix: "bvv".into(),
            masquerade: true,
            accept_forward: true,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            root: DEFAULT_ROOT.into(),
            socket: DEFAULT_SOCKET.into(),
            babel_dir: None,
            runc: "runc".into(),
            runc_root: None,
            cgroup_parent: "blockvisor".into(),
            dev_mode: true,
            docker_host: None,
            api_url: None,
            status_interval_secs: 30,
            host_id: String::new(),
            host_name: String::new(),
            network: NetworkConfig::default(),
            recovery_interval_secs: 15,
            recovery_backoff_ms: 1000,
            recovery_max_tries: 3,
            stop_grace_secs: 10,
            metrics: MetricsConfig::default(),
            upgrade: UpgradeConfig::default(),
        }
    }
}

impl Config {
    /// Embedded defaults, or the file's values when a file is given.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let Some(path) = file else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.network.bridge.is_empty() || self.network.bridge.len() > 15 {
            return Err(ConfigError::BridgeName(self.network.bridge.clone()));
        }
        if self.network.veth_prefix.is_empty() || self.network.veth_prefix.len() > 6 {
            return Err(ConfigError::VethPrefix);
        }
        if self.socket.as_os_str().len() > 100 {
            return Err(ConfigError::SocketPathTooLong(self.socket.clone()));
        }
        Ok(())
    }

    pub fn nodes_dir(&self) -> PathBuf {
        self.root.join("nodes")
    }

    pub fn images_dir(&self) -> PathBuf {
        self.root.join("images")
    }

    pub fn runc_root(&self) -> PathBuf {
        self.runc_root
            .clone()
            .unwrap_or_else(|| self.root.join("runc"))
    }

    /// Where the daemon keeps files it bind-mounts into nodes (bv-init).
    pub fn bin_dir(&self) -> PathBuf {
        self.root.join("bin")
    }

    /// The configured babel dir, else the first default candidate holding `babel`.
    pub fn resolve_babel_dir(&self) -> Result<PathBuf, ConfigError> {
        if let Some(dir) = &self.babel_dir {
            return check_babel_dir(dir);
        }
        let exe = std::env::current_exe().map_err(ConfigError::OwnExecutable)?;
        let exe_dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
        let candidates = [exe_dir.join("../babel-static"), exe_dir.clone()];
        for dir in &candidates {
            if dir.join("babel").is_file() && dir.join("babel-job-runner").is_file() {
                return Ok(dir.canonicalize().unwrap_or_else(|_| dir.clone()));
            }
        }
        Err(ConfigError::BabelNotFound(candidates))
    }
}

fn check_babel_dir(dir: &Path) -> Result<PathBuf, ConfigError> {
    for bin in ["babel", "babel-job-runner"] {
        if !dir.join(bin).is_file() {
            return Err(ConfigError::BabelBinaryMissing {
                dir: dir.to_owned(),
                bin,
            });
        }
    }
    Ok(dir.to_owned())
}

/// Upgrade policy of a node: who moves it to newer images.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Only `bv node upgrade` upgrades the node.
    #[default]
    Manual,
    /// Newer catalog versions are applied after the delay.
    Automatic,
}

/// Host default of the upgrade policy, and how the engine runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpgradeConfig {
    pub mode: Mode,
    /// Seconds a newer version must have been available before nodes move to it.
    pub delay_secs: u64,
    /// Seconds an upgraded node gets to become healthy before it is rolled back.
    pub health_deadline_secs: u64,
    /// Seconds between two passes of the engine.
    pub check_interval_secs: u64,
    /// Catalog file (TOML, see docs/operations.md); default `<root>/catalog.toml`.
    pub catalog: Option<PathBuf>,
}

impl Default for UpgradeConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Manual,
            delay_secs: 14 * 86_400,
            health_deadline_secs: 600,
            check_interval_secs: 300,
            catalog: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_file() {
        let c = Config::load(None).unwrap();
        assert_eq!(c.root, PathBuf::from(DEFAULT_ROOT));
        assert_eq!(c.socket, PathBuf::from(DEFAULT_SOCKET));
        assert_eq!(c.runc_root(), PathBuf::from("/var/lib/blockvisor/runc"));
        c.validate().unwrap();
    }

    #[test]
    fn file_overrides_and_unknown_keys_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bv.toml");
        std::fs::write(&path, "root = \"/x\"\n[network]\nbridge = \"tbr1\"\n").unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.root, PathBuf::from("/x"));
        assert_eq!(c.network.bridge, "tbr1");
        assert_eq!(c.network.prefix, 16);

        std::fs::write(&path, "roots = \"/x\"\n").unwrap();
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("bv.toml") && err.contains("roots"), "{err}");
    }

    #[test]
    fn long_bridge_name_rejected() {
        let mut c = Config::default();
        c.network.bridge = "a-very-long-bridge-name".into();
        assert!(c.validate().is_err());
    }
}
