//! `bv node …`.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use babel_api::pb::blockvisor::v1 as pb;
use babel_api::pb::blockvisor::v1::blockvisor_client::BlockvisorClient;
use clap::{Args, Subcommand};
use eyre::{WrapErr, bail};
use tonic::transport::Channel;

use super::job::{self, JobCommand};
use super::output::{
    image_label, metrics_json, node_json, node_table, print_json, status_word, uptime,
};
use super::{Format, connect, rpc_err};

#[derive(Subcommand, Debug)]
pub enum NodeCommand {
    /// List nodes.
    #[command(visible_alias = "ls")]
    List {
        /// Only running nodes.
        #[arg(short, long)]
        running: bool,
        /// Only nodes with any of these tags.
        #[arg(long)]
        tag: Vec<String>,
    },
    /// Create a node (stopped).
    #[command(visible_alias = "c")]
    Create(Box<CreateArgs>),
    /// Start nodes (all when none given).
    Start { id_or_names: Vec<String> },
    /// Stop nodes (all when none given); babel stops the jobs first.
    Stop {
        id_or_names: Vec<String>,
        /// Stop even when babel does not answer.
        #[arg(long)]
        force: bool,
    },
    /// Stop then start nodes.
    Restart {
        #[arg(required = true)]
        id_or_names: Vec<String>,
        #[arg(long)]
        force: bool,
    },
    /// Delete nodes and everything they stored.
    #[command(visible_aliases = ["d", "rm"])]
    Delete {
        id_or_names: Vec<String>,
        /// Delete nodes with any of these tags.
        #[arg(long)]
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
    Update(Box<super::update::UpdateArgs>),
    /// Status word of nodes (and the reasons of Failed/unhealthy ones).
    Status {
        #[arg(required = true)]
        id_or_names: Vec<String>,
    },
    /// Details and metrics of a node.
    Info { id_or_name: String },
    /// Methods the node's plugin offers.
    #[command(visible_alias = "caps")]
    Capabilities { id_or_name: String },
    /// Run a plugin method.
    Run {
        method: String,
        id_or_name: String,
        #[arg(long, conflicts_with = "param_file")]
        param: Option<String>,
        #[arg(long)]
        param_file: Option<PathBuf>,
    },
    /// The node's console output (babel and init).
    Logs {
        id_or_name: String,
        #[arg(short = 'n', long, default_value_t = 50)]
        lines: u32,
        #[arg(short, long)]
        follow: bool,
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
}

fn parse_props(props: Option<&str>) -> eyre::Result<HashMap<String, String>> {
    let Some(text) = props else {
        return Ok(HashMap::new());
    };
    serde_json::from_str(text).wrap_err("--props must be a JSON object of strings")
}

fn parse_ramdisks(list: &[String]) -> eyre::Result<Vec<pb::RamDiskConfig>> {
    list.iter()
        .map(|r| {
            let (mount, size) = r
                .rsplit_once(':')
                .ok_or_else(|| eyre::eyre!("--ramdisk `{r}`: expected MOUNT:SIZE_MB"))?;
            Ok(pb::RamDiskConfig {
                mount: mount.into(),
                size_mb: size
                    .parse()
                    .wrap_err_with(|| format!("--ramdisk `{r}`: bad size"))?,
            })
        })
        .collect()
}

pub(super) fn create_request(args: CreateArgs) -> eyre::Result<pb::CreateNodeRequest> {
    let properties = parse_props(args.props.as_deref())?;
    let source = if let Some(path) = &args.babel_yaml {
        pb::create_node_request::Source::Spec(spec_from_babel_yaml(path, &args)?)
    } else if let Some(uri) = args.image {
        pb::create_node_request::Source::Spec(pb::NodeSpec {
            name: args.name.unwrap_or_default(),
            image_key: Some(pb::ImageKey {
                protocol_key: args.protocol_key,
                variant_key: args.variant_key,
            }),
            image: Some(pb::NodeImage {
                uri,
                version: args.image_version,
                ..Default::default()
            }),
            dev_mode: true,
            bridge: args.bridge,
            ip: args.ip.unwrap_or_default(),
            gateway: args.gateway.unwrap_or_default(),
            vm_config: Some(pb::VmConfig {
                vcpu_count: args.cpus,
                mem_size_mb: args.memory_mb,
                disk_size_gb: 0,
                ramdisks: parse_ramdisks(&args.ramdisk)?,
            }),
            ..Default::default()
        })
    } else {
        let (Some(protocol_key), Some(variant_key)) = (args.protocol, args.variant) else {
            bail!("give <PROTOCOL> <VARIANT> (catalog) or --image URI (dev node)");
        };
        pb::create_node_request::Source::Catalog(pb::CatalogNodeRequest {
            protocol_key,
            variant_key,
            version: args.version,
            build: args.build,
        })
    };
    Ok(pb::CreateNodeRequest {
        source: Some(source),
        properties,
        tags: args.tag,
    })
}

fn spec_from_babel_yaml(path: &Path, args: &CreateArgs) -> eyre::Result<pb::NodeSpec> {
    use babel_plugin::babel_yaml::{DevNodeOptions, Image};
    let (image, warnings) = Image::load_validated(path).map_err(|e| eyre::eyre!("{e}"))?;
    for w in warnings {
        eprintln!("warning: {}: {w:?}", path.display());
    }
    let variant = image
        .pick_variant(args.yaml_variant.as_deref())
        .map_err(|e| eyre::eyre!("{}: {e}", path.display()))?;
    let props: std::collections::BTreeMap<String, String> =
        parse_props(args.props.as_deref())?.into_iter().collect();
    let properties = variant
        .node_properties(&props)
        .map_err(|e| eyre::eyre!("{}: {e}", path.display()))?;
    let mut spec = variant.dev_node_spec(
        properties,
        &DevNodeOptions {
            ip: args.ip.clone(),
            gateway: args.gateway.clone(),
            tags: args.tag.clone(),
            min_babel_version: String::new(),
        },
    );
    spec.name = args.name.clone().unwrap_or_default();
    spec.bridge = args.bridge;
    Ok(spec)
}

async fn all_nodes(client: &mut BlockvisorClient<Channel>) -> eyre::Result<Vec<pb::Node>> {
    Ok(client
        .list_nodes(pb::ListNodesRequest {})
        .await
        .map_err(rpc_err)?
        .into_inner()
        .nodes)
}

fn id_of(n: &pb::Node) -> String {
    n.spec.as_ref().map(|s| s.id.clone()).unwrap_or_default()
}

/// The given nodes, or every node when none are given.
async fn targets(
    client: &mut BlockvisorClient<Channel>,
    given: Vec<String>,
) -> eyre::Result<Vec<String>> {
    if !given.is_empty() {
        return Ok(given);
    }
    Ok(all_nodes(client).await?.iter().map(id_of).collect())
}

fn noderef(id: &str) -> pb::NodeRef {
    pb::NodeRef {
        id_or_name: id.into(),
    }
}

fn report(format: Format, verb: &str, node: &pb::Node) {
    match format {
        Format::Json => print_json(&node_json(node)),
        Format::Text => println!("{verb} node `{}`", id_of(node)),
    }
}

pub async fn run(socket: &Path, cmd: NodeCommand, format: Format) -> eyre::Result<()> {
    let mut client = connect(socket).await?;
    match cmd {
        NodeCommand::List { running, tag } => {
            let nodes: Vec<pb::Node> = all_nodes(&mut client)
                .await?
                .into_iter()
                .filter(|n| !running || status_word(n.status) == "Running")
                .filter(|n| {
                    tag.is_empty()
                        || n.spec
                            .as_ref()
                            .is_some_and(|s| s.tags.iter().any(|t| tag.contains(t)))
                })
                .collect();
            match format {
                Format::Json => print_json(&serde_json::Value::Array(
                    nodes.iter().map(node_json).collect(),
                )),
                Format::Text => println!("{}", node_table(&nodes)),
            }
        }
        NodeCommand::Create(args) => {
            let req = create_request(*args)?;
            if let Some(pb::create_node_request::Source::Spec(spec)) = &req.source {
                let uri = spec
                    .image
                    .as_ref()
                    .map(|i| i.uri.clone())
                    .unwrap_or_default();
                super::progress::pull(&mut client, &uri, format).await?;
            }
            let node = client.create_node(req).await.map_err(rpc_err)?.into_inner();
            match format {
                Format::Json => print_json(&node_json(&node)),
                Format::Text => {
                    let spec = node.spec.clone().unwrap_or_default();
                    println!(
                        "Created new node with ID `{}` and name `{}`",
                        spec.id, spec.name
                    );
                }
            }
        }
        NodeCommand::Start { id_or_names } => {
            for id in targets(&mut client, id_or_names).await? {
                let node = client.start_node(noderef(&id)).await.map_err(rpc_err)?;
                report(format, "Started", node.get_ref());
            }
        }
        NodeCommand::Stop { id_or_names, force } => {
            for id in targets(&mut client, id_or_names).await? {
                let req = pb::StopNodeRequest {
                    id_or_name: id,
                    force,
                };
                let node = client.stop_node(req).await.map_err(rpc_err)?;
                report(format, "Stopped", node.get_ref());
            }
        }
        NodeCommand::Restart { id_or_names, force } => {
            for id in id_or_names {
                let req = pb::StopNodeRequest {
                    id_or_name: id,
                    force,
                };
                let node = client.restart_node(req).await.map_err(rpc_err)?;
                report(format, "Restarted", node.get_ref());
            }
        }
        NodeCommand::Delete {
            id_or_names,
            tag,
            all,
            yes,
        } => delete(&mut client, id_or_names, tag, all, yes, format).await?,
        NodeCommand::Upgrade(args) => upgrade(&mut client, args, format).await?,
        NodeCommand::Update(args) => super::update::run(&mut client, *args, format).await?,
        NodeCommand::Status { id_or_names } => {
            let mut out = vec![];
            for id in id_or_names {
                let node = client
                    .get_node(noderef(&id))
                    .await
                    .map_err(rpc_err)?
                    .into_inner();
                match format {
                    Format::Json => out.push(serde_json::json!({
                        "id": id_of(&node),
                        "status": status_word(node.status),
                        "alerts": super::output::alerts_json(&node.alerts),
                    })),
                    Format::Text if node.alerts.is_empty() => {
                        println!("{}", status_word(node.status))
                    }
                    Format::Text => {
                        let why: Vec<&str> =
                            node.alerts.iter().map(|a| a.message.as_str()).collect();
                        println!("{} ({})", status_word(node.status), why.join("; "));
                    }
                }
            }
            if format == Format::Json {
                print_json(&serde_json::Value::Array(out));
            }
        }
        NodeCommand::Info { id_or_name } => info(&mut client, &id_or_name, format).await?,
        NodeCommand::Capabilities { id_or_name } => {
            let caps = client
                .list_capabilities(noderef(&id_or_name))
                .await
                .map_err(rpc_err)?
                .into_inner()
                .capabilities;
            match format {
                Format::Json => print_json(&serde_json::json!(caps)),
                Format::Text => caps.iter().for_each(|c| println!("{c}")),
            }
        }
        NodeCommand::Run {
            method,
            id_or_name,
            param,
            param_file,
        } => {
            let param = match (param, param_file) {
                (Some(p), _) => p,
                (None, Some(f)) => std::fs::read_to_string(&f)
                    .wrap_err_with(|| format!("reading --param-file {}", f.display()))?,
                (None, None) => String::new(),
            };
            let req = pb::RunMethodRequest {
                id_or_name: id_or_name.clone(),
                method,
                param,
            };
            match client.run_method(req).await {
                Ok(r) => match format {
                    Format::Json => {
                        print_json(&serde_json::json!({"result": r.into_inner().result}))
                    }
                    Format::Text => println!("{}", r.into_inner().result),
                },
                Err(s) if s.code() == tonic::Code::NotFound => {
                    let caps = client
                        .list_capabilities(noderef(&id_or_name))
                        .await
                        .map(|c| c.into_inner().capabilities.join("\n"))
                        .unwrap_or_default();
                    bail!("{}\nMethod not found. Options are:\n{caps}", s.message());
                }
                Err(s) => return Err(rpc_err(s)),
            }
        }
        NodeCommand::Logs {
            id_or_name,
            lines,
            follow,
        } => {
            let req = pb::NodeLogsRequest {
                id_or_name,
                lines,
                follow,
            };
            let stream = client.node_logs(req).await.map_err(rpc_err)?.into_inner();
            job::print_log_stream(stream, format).await?;
        }
        NodeCommand::Shell {
            id_or_name,
            command,
        } => shell(&mut client, &id_or_name, command).await?,
        NodeCommand::ReloadPlugin { id_or_name } => {
            let node = client
                .reload_plugin(noderef(&id_or_name))
                .await
                .map_err(rpc_err)?;
            report(format, "Reloaded plugin of", node.get_ref());
        }
        NodeCommand::Job {
            id_or_name,
            command,
        } => job::run(&mut client, &id_or_name, command, format).await?,
    }
    Ok(())
}

async fn delete(
    client: &mut BlockvisorClient<Channel>,
    ids: Vec<String>,
    tags: Vec<String>,
    all: bool,
    yes: bool,
    format: Format,
) -> eyre::Result<()> {
    let groups = [!ids.is_empty(), !tags.is_empty(), all];
    if groups.iter().filter(|g| **g).count() != 1 {
        bail!("give exactly one of: node ids/names, --tag, --all");
    }
    let targets: Vec<String> = if !ids.is_empty() {
        ids
    } else {
        all_nodes(client)
            .await?
            .iter()
            .filter(|n| {
                all || n
                    .spec
                    .as_ref()
                    .is_some_and(|s| s.tags.iter().any(|t| tags.contains(t)))
            })
            .map(id_of)
            .collect()
    };
    if targets.is_empty() {
        if format == Format::Json {
            print_json(&serde_json::json!([]));
        } else {
            println!("No nodes to delete.");
        }
        return Ok(());
    }
    if !yes {
        print!("Delete {}? [y/N]: ", targets.join(", "));
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            bail!("aborted");
        }
    }
    let mut deleted = vec![];
    for id in targets {
        let r = client.delete_node(noderef(&id)).await.map_err(rpc_err)?;
        if format == Format::Text {
            println!("Deleted node `{id}`");
        }
        deleted.push(r.into_inner().id);
    }
    if format == Format::Json {
        print_json(&serde_json::json!(deleted));
    }
    Ok(())
}

async fn upgrade(
    client: &mut BlockvisorClient<Channel>,
    args: UpgradeArgs,
    format: Format,
) -> eyre::Result<()> {
    if args.id_or_names.is_empty() && !args.all {
        bail!("give node ids/names or --all");
    }
    let ids = targets(client, args.id_or_names).await?;
    if let Some(uri) = &args.image {
        super::progress::pull(client, uri, format).await?;
    }
    let target = match args.image {
        Some(uri) => pb::upgrade_node_request::Target::Spec(pb::NodeSpec {
            image: Some(pb::NodeImage {
                uri,
                version: args.image_version.unwrap_or_default(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        None => pb::upgrade_node_request::Target::Catalog(pb::CatalogNodeRequest {
            version: args.version,
            build: args.build,
            ..Default::default()
        }),
    };
    let mut failed = false;
    for id in ids {
        let req = pb::UpgradeNodeRequest {
            id_or_name: id.clone(),
            target: Some(target.clone()),
        };
        match client.upgrade_node(req).await {
            Ok(n) => report(format, "Upgraded", n.get_ref()),
            Err(s) => {
                failed = true;
                eprintln!("Failed to upgrade node `{id}`: {}", s.message());
            }
        }
    }
    if failed {
        bail!("some upgrades failed");
    }
    Ok(())
}

async fn info(
    client: &mut BlockvisorClient<Channel>,
    id: &str,
    format: Format,
) -> eyre::Result<()> {
    let node = client
        .get_node(noderef(id))
        .await
        .map_err(rpc_err)?
        .into_inner();
    let metrics = if status_word(node.status) == "Running" {
        client
            .get_node_metrics(noderef(id))
            .await
            .map(|m| m.into_inner())
            .ok()
    } else {
        None
    };
    if format == Format::Json {
        let mut v = node_json(&node);
        v["metrics"] = metrics.as_ref().map(metrics_json).unwrap_or_default();
        print_json(&v);
        return Ok(());
    }
    let spec = node.spec.clone().unwrap_or_default();
    let vm = spec.vm_config.clone().unwrap_or_default();
    let dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    println!("Name:           {}", spec.name);
    println!("Id:             {}", spec.id);
    println!(
        "Image:          {} ({})",
        image_label(&spec),
        spec.image.clone().unwrap_or_default().uri
    );
    println!("Status:         {}", status_word(node.status));
    if !node.status_reason.is_empty() {
        println!("Reason:         {}", node.status_reason);
    }
    println!("Ip:             {}", spec.ip);
    println!("Gateway:        {}", spec.gateway);
    println!(
        "Uptime:         {}",
        dash(uptime(&node).map(|s| format!("{s}s")))
    );
    let m = metrics.unwrap_or_default();
    println!(
        "Protocol Status: {}",
        dash(
            m.protocol_status
                .as_ref()
                .map(|p| format!("{}/{}", p.state, p.health))
        )
    );
    println!("Block height:   {}", dash(m.height.map(|h| h.to_string())));
    println!(
        "Block age:      {}",
        dash(m.block_age.map(|h| h.to_string()))
    );
    println!(
        "In consensus:   {}",
        dash(m.consensus.map(|h| h.to_string()))
    );
    println!("Jobs:");
    for j in &m.jobs {
        let info = j.info.clone().unwrap_or_default();
        println!(
            "  - \"{}\"\n    Status:         {}\n    Restarts:       {}",
            j.name,
            super::output::job_status_text(info.status.as_ref()),
            info.restart_count
        );
        if let Some(p) = &info.progress {
            println!(
                "    Progress:       {}/{} {}",
                p.current, p.total, p.message
            );
        }
        for l in info.logs.iter().take(3) {
            println!("    Log:            {l}");
        }
    }
    super::update::print_health(&node, &m);
    println!(
        "Requirements:   cpu: {}, memory: {} MiB, disk: {} GB",
        vm.vcpu_count, vm.mem_size_mb, vm.disk_size_gb
    );
    println!("Tags:           {}", spec.tags.join(", "));
    Ok(())
}

async fn shell(
    client: &mut BlockvisorClient<Channel>,
    id: &str,
    command: Vec<String>,
) -> eyre::Result<()> {
    let node = client
        .get_node(noderef(id))
        .await
        .map_err(rpc_err)?
        .into_inner();
    if status_word(node.status) != "Running" && status_word(node.status) != "Failed" {
        bail!("node `{id}` is not running");
    }
    let env_file = Path::new(&node.rootfs).join("var/lib/babel/node_env");
    let env: Vec<String> = std::fs::read_to_string(&env_file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| format!("{k}={}", v.trim_matches('"')))
        .collect();
    let tty = nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
    let mut cmd = std::process::Command::new("runc");
    cmd.arg("--root").arg(&node.runtime_root).arg("exec");
    if tty {
        cmd.arg("--tty");
    }
    for e in env {
        cmd.arg("--env").arg(e);
    }
    cmd.arg(&node.container_id);
    if command.is_empty() {
        cmd.arg("/bin/sh");
    } else {
        cmd.args(&command);
    }
    let status = cmd
        .status()
        .wrap_err("running runc exec (is runc installed?)")?;
    if !status.success() {
        std::process::exit(status.code().unwrap_or(1));
    }
    Ok(())
}
