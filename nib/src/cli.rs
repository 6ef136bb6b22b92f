//! Command line of `nib`. Subcommand names are the kebab-case of the variant names.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Default control-plane API address used by `nib login`.
pub const DEFAULT_API: &str = "http://127.0.0.1:8770";

/// Node image builder: scaffold, lint, check, play and publish node images.
#[derive(Parser, Debug)]
#[command(name = "nib", version = babel_api::VERSION)]
pub struct Cli {
    /// More log output (repeat for more).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Output format. With `json`, stdout carries one JSON document (the result, or
    /// `{"ok": false, "error": ...}` with the failed checks) and progress goes to stderr.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Log in to the control-plane API and store an API key in ~/.nib.json (mode 0600).
    Login(LoginArgs),
    /// Manage protocols in the API.
    #[command(alias = "p", subcommand)]
    Protocol(ProtocolCommand),
    /// Build, check, run and publish node images.
    #[command(alias = "i", subcommand)]
    Image(ImageCommand),
    /// Print the shell completion script of `nib`.
    Completions { shell: bv_base::cli_docs::Shell },
    /// Write the man pages of `nib` and its subcommands into a directory.
    Man { dir: PathBuf },
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Expected user id (as in `nib login <USER_ID>`); login fails when the email and
    /// password belong to another user. The API key is always made for the logged-in user.
    pub user_id: Option<String>,
    /// Email of the user (prompted when missing).
    #[arg(long, env = "NIB_EMAIL")]
    pub email: Option<String>,
    /// Password (prompted without echo when missing; prefer the prompt or NIB_PASSWORD).
    #[arg(long, env = "NIB_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Control-plane API URL (https://host:port, http://127.0.0.1:port, or
    /// unix:///path/to/socket). Plaintext http:// to other addresses needs `--insecure`.
    #[arg(long, env = "NIB_API_URL", default_value = DEFAULT_API)]
    pub api: String,
    /// PEM file of the CA to verify the API's certificate with, instead of the system roots.
    #[arg(long, env = "NIB_API_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Allow plaintext http:// to a non-loopback API address (the password and key then
    /// cross the network unencrypted).
    #[arg(long)]
    pub insecure: bool,
}

#[derive(Subcommand, Debug)]
pub enum ProtocolCommand {
    /// Add or update every protocol of a protocols.yaml file.
    Push {
        #[arg(short = 'u', long, default_value = "protocols.yaml")]
        path: PathBuf,
    },
    /// List protocols and their versions.
    #[command(alias = "ls")]
    List {
        /// Only protocols whose name contains this text.
        #[arg(long)]
        name: Option<String>,
        /// How many protocols to show.
        #[arg(short = 'n', long, default_value_t = 50)]
        number: u64,
    },
}

/// Where `babel.yaml` is.
#[derive(Args, Debug, Clone)]
pub struct PathArg {
    #[arg(short = 'u', long, default_value = "babel.yaml")]
    pub path: PathBuf,
}

/// How to reach the local blockvisord.
#[derive(Args, Debug, Clone)]
pub struct DaemonArgs {
    /// The daemon's Unix socket.
    #[arg(long, env = "BV_SOCKET", default_value = crate::daemon_client::DEFAULT_SOCKET)]
    pub socket: PathBuf,
}

/// A dev node made from babel.yaml.
#[derive(Args, Debug, Clone)]
pub struct DevNodeArgs {
    #[command(flatten)]
    pub path: PathArg,
    /// Variant key (required when babel.yaml has more than one variant).
    #[arg(long)]
    pub variant: Option<String>,
    /// Property values as a JSON or YAML mapping, e.g. '{"network": "test"}'.
    #[arg(long)]
    pub props: Option<String>,
    /// Node IP (default: assigned by the daemon).
    #[arg(long)]
    pub ip: Option<String>,
    /// Node gateway (default: assigned by the daemon).
    #[arg(long)]
    pub gateway: Option<String>,
    /// Node tag (repeatable).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Run `nib image build` first, so the node runs the local plugin.
    #[arg(long)]
    pub build: bool,
    #[command(flatten)]
    pub daemon: DaemonArgs,
}

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Scaffold ./<PROTOCOL>_<VARIANT>/ with babel.yaml, main.rhai, Dockerfile and VS Code
    /// settings; the result passes `nib image check plugin` as is.
    Create {
        protocol: String,
        variant: String,
        /// Parent directory of the new image directory.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Replace scaffold files that already exist (without it, create refuses and lists
        /// them).
        #[arg(long)]
        force: bool,
    },
    /// Build the Dockerfile next to babel.yaml into the local Docker daemon, tagged from
    /// `container_uri` (docker-daemon://<name>:<tag>). Offline; streams the build output.
    Build {
        #[command(flatten)]
        path: PathArg,
    },
    /// Run the plugin unit tests (`fn test_*()` in tests/*.rhai next to babel.yaml) against a
    /// mocked engine: no node, no daemon. Exits non-zero when a test fails.
    Test {
        /// Only tests whose `<file>::<function>` name contains this text.
        filter: Option<String>,
        /// Variant whose node env the plugin sees (default: the only one).
        #[arg(long)]
        variant: Option<String>,
        #[command(flatten)]
        path: PathArg,
    },
    /// Bump `version` in babel.yaml and the tag of `container_uri` together.
    Bump {
        /// Which part of the version to increase.
        #[arg(value_enum, default_value_t = BumpPart::Patch)]
        part: BumpPart,
        #[command(flatten)]
        path: PathArg,
    },
    /// Print the container_uri of babel.yaml.
    ContainerUri {
        #[command(flatten)]
        path: PathArg,
    },
    /// Create (not start) a dev node on the local daemon from babel.yaml.
    Play {
        #[command(flatten)]
        node: DevNodeArgs,
    },
    /// Upgrade a dev node to the image described by babel.yaml (bump `version`).
    Upgrade {
        id_or_name: String,
        #[command(flatten)]
        path: PathArg,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Validate babel.yaml, lint the plugin and optionally smoke-test a throw-away dev node.
    Check(CheckArgs),
    /// Register protocol versions and images of every variant in the API.
    Push {
        /// Lowest babel version the image works with (default: this nib's version).
        #[arg(long)]
        min_babel_version: Option<String>,
        #[command(flatten)]
        path: PathArg,
    },
}

#[derive(Args, Debug, Clone)]
pub struct CheckArgs {
    /// Checks to run (default: plugin jobs-status). Without `--variant` the plugin is
    /// linted for every variant.
    #[arg(value_enum)]
    pub checks: Vec<Check>,
    #[command(flatten)]
    pub node: DevNodeArgs,
    /// Seconds to wait for the node to reach Running.
    #[arg(long, default_value_t = 30)]
    pub start_timeout: u64,
    /// Seconds to let jobs run before inspecting them.
    #[arg(long, default_value_t = 5)]
    pub jobs_wait: u64,
    /// Delete the node when every check passed.
    #[arg(long)]
    pub cleanup: bool,
    /// Always delete the node.
    #[arg(long)]
    pub force_cleanup: bool,
    /// Lint this plugin directory instead of the one next to babel.yaml / in the image.
    #[arg(long)]
    pub plugin_dir: Option<PathBuf>,
    /// Always lint the plugin from the image, even if main.rhai is next to babel.yaml.
    #[arg(long)]
    pub from_image: bool,
    /// Fail on lint warnings too (errors always fail).
    #[arg(long)]
    pub deny_warnings: bool,
    /// Run the runtime checks on a dev node of every variant (one after the other).
    #[arg(long, conflicts_with = "variant")]
    pub all_variants: bool,
    /// Only validate babel.yaml and lint the plugin (same as the `plugin` check).
    #[arg(long, conflicts_with = "checks")]
    pub lint_only: bool,
}

/// Part of a semantic version.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum BumpPart {
    Major,
    Minor,
    Patch,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Validate babel.yaml and lint the Rhai plugin (no node needed).
    Plugin,
    /// Fail if a job finished with a non-zero exit code.
    JobsStatus,
    /// Fail if a job was restarted.
    JobsRestarts,
    /// Fail if the plugin reports no protocol status or an unhealthy one.
    ProtocolStatus,
}
