//! The `bv node` subcommands and their arguments.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::super::job::JobCommand;
use super::super::update::UpdateArgs;

/// Node names or `--all`, exactly one of them: a verb given neither acts on nothing and says
/// so, naming both.
fn names_or_all() -> clap::ArgGroup {
    clap::ArgGroup::new("targets")
        .args(["id_or_names", "all"])
        .required(true)
}

#[derive(Subcommand, Debug)]
pub enum NodeCommand {
    /// List nodes.
    #[command(visible_alias = "ls")]
    List {
        /// Only running nodes.
        #[arg(short, long)]
        running: bool,
        /// Only nodes with any of these tags.
        #[arg(long, visible_alias = "tags")]
        tag: Vec<String>,
        /// Only nodes on this host: every node bv lists is (Blockvisor's spelling).
        #[arg(long)]
        local: bool,
        /// Print node ids only, one per line.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Create a node (stopped).
    #[command(visible_alias = "c")]
    Create(Box<CreateArgs>),
    /// Start nodes (every node with --all).
    #[command(group = names_or_all())]
    Start {
        id_or_names: Vec<String>,
        /// Start every node of the host.
        #[arg(short, long)]
        all: bool,
        /// Return only once each node answers its protocol status.
        #[arg(long)]
        wait: bool,
        /// Seconds `--wait` waits for each node.
        #[arg(long, default_value_t = 180, requires = "wait")]
        wait_timeout: u64,
    },
    /// Stop nodes (every node with --all); babel stops the jobs first.
    #[command(group = names_or_all())]
    Stop {
        id_or_names: Vec<String>,
        /// Stop every node of the host.
        #[arg(short, long)]
        all: bool,
        /// Stop even when babel does not answer.
        #[arg(long)]
        force: bool,
    },
    /// Stop then start nodes (every node with --all).
    #[command(group = names_or_all())]
    Restart {
        id_or_names: Vec<String>,
        /// Restart every node of the host.
        #[arg(short, long)]
        all: bool,
        #[arg(long)]
        force: bool,
    },
    /// Delete nodes and everything they stored.
    #[command(visible_aliases = ["d", "rm"])]
    Delete {
        id_or_names: Vec<String>,
        /// Delete nodes with any of these tags.
        #[arg(long, visible_alias = "tags")]
        tag: Vec<String>,
        /// Delete every node.
        #[arg(short, long)]
        all: bool,
        /// Do not ask for confirmation.
        #[arg(short, long)]
        yes: bool,
    },
    /// Upgrade nodes to a new image (data dir kept; rolled back if the new image fails).
    Upgrade(UpgradeArgs),
    /// Change properties, firewall, display name or upgrade policy of a node in place.
    Update(Box<UpdateArgs>),
    /// Status word of nodes (and the reasons of Failed/unhealthy ones).
    Status {
        #[arg(required = true)]
        id_or_names: Vec<String>,
    },
    /// Details and metrics of a node.
    #[command(visible_alias = "inspect")]
    Info { id_or_name: String },
    /// Methods the node's plugin offers.
    #[command(visible_alias = "caps")]
    Capabilities { id_or_name: String },
    /// Run a plugin method: `run <NODE> <METHOD>` (`run <METHOD> <NODE>` works too).
    Run {
        /// The node (or, in the older order, the method).
        #[arg(value_name = "NODE")]
        first: String,
        /// The method (or, in the older order, the node).
        #[arg(value_name = "METHOD")]
        second: String,
        #[arg(long, conflicts_with = "param_file")]
        param: Option<String>,
        #[arg(long)]
        param_file: Option<PathBuf>,
    },
    /// The node's console output (babel and init).
    Logs {
        id_or_name: String,
        /// Last lines to show (default 50; every line with --since).
        #[arg(short = 'n', long)]
        lines: Option<u32>,
        #[arg(short, long)]
        follow: bool,
        /// Only lines from this time on: a duration ago (`90s`, `10m`, `2h`, `1d`) or an
        /// RFC 3339 time. A line without its own time has the time of the line before it.
        #[arg(long)]
        since: Option<String>,
        /// Prefix each line with its time (the time it carries, or when it was read).
        #[arg(short, long)]
        timestamps: bool,
    },
    /// Interactive shell inside the node.
    Shell {
        id_or_name: String,
        /// Command to run instead of a shell.
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Re-read the node's plugin from its rootfs.
    ReloadPlugin { id_or_name: String },
    /// Jobs of a node.
    #[command(visible_alias = "j")]
    Job {
        id_or_name: String,
        #[command(subcommand)]
        command: JobCommand,
    },
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Protocol key (catalog create through the control-plane API).
    pub protocol: Option<String>,
    /// Variant key (catalog create).
    pub variant: Option<String>,
    pub version: Option<String>,
    pub build: Option<u64>,
    /// Dev node straight from an image: docker-daemon://name:tag, docker://ref, oci:dir:tag,
    /// dir:/path/to/rootfs.
    #[arg(long, conflicts_with_all = ["protocol", "babel_yaml"])]
    pub image: Option<String>,
    /// Dev node from a node image definition (`babel.yaml`), like `nib image play`.
    #[arg(long, conflicts_with_all = ["protocol"])]
    pub babel_yaml: Option<PathBuf>,
    /// Variant of the `babel.yaml` (default: the only one).
    #[arg(long = "variant", requires = "babel_yaml")]
    pub yaml_variant: Option<String>,
    #[arg(long)]
    pub name: Option<String>,
    /// Properties as a JSON object of strings.
    #[arg(long)]
    pub props: Option<String>,
    #[arg(long)]
    pub tag: Vec<String>,
    /// Fixed IP (bridge network); without it dev nodes share the host network.
    #[arg(long)]
    pub ip: Option<String>,
    #[arg(long)]
    pub gateway: Option<String>,
    /// Bridge network with a daemon-assigned IP (dev nodes default to the host network).
    #[arg(long, conflicts_with = "ip")]
    pub bridge: bool,
    #[arg(long, default_value = "dev")]
    pub protocol_key: String,
    #[arg(long, default_value = "dev")]
    pub variant_key: String,
    #[arg(long, default_value = "0.0.0")]
    pub image_version: String,
    /// CPU limit (whole CPUs; 0: none).
    #[arg(long, default_value_t = 0)]
    pub cpus: u32,
    /// Memory limit in MiB (0: none).
    #[arg(long, default_value_t = 0)]
    pub memory_mb: u64,
    /// RAM disk as MOUNT:SIZE_MB (repeatable).
    #[arg(long)]
    pub ramdisk: Vec<String>,
}

#[derive(Args, Debug)]
pub struct UpgradeArgs {
    pub id_or_names: Vec<String>,
    #[arg(short, long)]
    pub all: bool,
    /// New image for dev nodes.
    #[arg(long)]
    pub image: Option<String>,
    #[arg(long)]
    pub image_version: Option<String>,
    /// Catalog version (needs the control-plane API).
    #[arg(long)]
    pub version: Option<String>,
    #[arg(long)]
    pub build: Option<u64>,
    /// Wait for running upgrade-blocking jobs (download, upload, init…) to finish instead
    /// of refusing; `bv node status` shows the wait.
    #[arg(long, conflicts_with = "force")]
    pub wait: bool,
    /// Upgrade even while upgrade-blocking jobs run: they are killed (and named first).
    #[arg(long)]
    pub force: bool,
    /// Longest wait for blocking jobs (with --wait) and the plugin's upgrade_window().
    #[arg(long, value_name = "SECS")]
    pub max_wait: Option<u64>,
    /// Time the new version gets to report a healthy protocol status before it is rolled
    /// back, e.g. `90s`, `10m` (default: the image's, else 10 minutes).
    #[arg(long)]
    pub health_timeout: Option<String>,
}
