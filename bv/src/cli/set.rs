//! `bv set …`: node sets (N peered nodes of one image) driven through blockvisord's node
//! API. The sequencing lives in `crate::nodeset`; this file is its gRPC side.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use babel_api::pb::blockvisor::v1 as pb;
use babel_api::pb::blockvisor::v1::blockvisor_client::BlockvisorClient;
use clap::{Args, Subcommand};
use eyre::bail;
use tonic::transport::Channel;

use super::node::start::wait_answering;
use super::node::{CreateArgs, create_request};
use super::output::{print_json, status_word};
use super::progress::Display;
use super::{Format, connect};
use crate::nodeset::{self, Member, PEERS_PROPERTY, SetError, SetHost, SetResult};

#[derive(Subcommand, Debug)]
pub enum SetCommand {
    /// Create a set of nodes of one image that peer with each other (started).
    Create(Box<CreateSetArgs>),
    /// Change the number of members; the others get the new peer list one at a time.
    Scale {
        name: String,
        #[arg(long)]
        count: usize,
        /// Seconds a member gets to become healthy before the command gives up.
        #[arg(long, default_value_t = 180)]
        ready_timeout: u64,
    },
    /// Rolling upgrade to a new image: one member at a time, each healthy before the next;
    /// every member keeps its data.
    Upgrade {
        name: String,
        #[arg(long)]
        image: String,
        #[arg(long)]
        image_version: Option<String>,
        #[arg(long, default_value_t = 180)]
        ready_timeout: u64,
    },
    /// Sets on this host and their members.
    #[command(visible_alias = "ls")]
    List {
        /// Print set names only, one per line.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Delete every member of a set and its data.
    #[command(visible_alias = "rm")]
    Delete {
        name: String,
        #[arg(short, long)]
        yes: bool,
    },
}

#[derive(Args, Debug)]
pub struct CreateSetArgs {
    pub name: String,
    #[arg(long, default_value_t = 3)]
    pub count: usize,
    /// Image of every member: docker-daemon://name:tag, docker://ref, oci:dir:tag.
    #[arg(
        long,
        conflicts_with = "babel_yaml",
        required_unless_present = "babel_yaml"
    )]
    pub image: Option<String>,
    /// Take image, properties, firewall and requirements from a `babel.yaml`.
    #[arg(long)]
    pub babel_yaml: Option<PathBuf>,
    #[arg(long = "variant", requires = "babel_yaml")]
    pub yaml_variant: Option<String>,
    /// Properties of every member, as a JSON object of strings (`peers` is the set's).
    #[arg(long)]
    pub props: Option<String>,
    #[arg(long, default_value = "0.0.0")]
    pub image_version: String,
    #[arg(long, default_value_t = 180)]
    pub ready_timeout: u64,
    /// Return once the members are started, without waiting for them to answer their
    /// protocol status (by default `set create` waits, up to --ready-timeout).
    #[arg(long)]
    pub no_wait: bool,
}

/// blockvisord as a [`SetHost`].
struct GrpcHost {
    client: BlockvisorClient<Channel>,
    /// What new members are created from.
    template: Option<pb::CreateNodeRequest>,
    /// Image of an upgrade.
    target: Option<pb::NodeImage>,
    ready_timeout: Duration,
    /// Where each step is reported.
    display: Display,
}

fn member_err(member: &str) -> impl Fn(tonic::Status) -> SetError + '_ {
    move |s| SetError::Member {
        member: member.into(),
        error: s.message().into(),
    }
}

fn set_of(node: &pb::Node) -> Option<String> {
    node.spec
        .as_ref()?
        .tags
        .iter()
        .find_map(|t| t.strip_prefix(nodeset::TAG_PREFIX).map(String::from))
}

fn member_of(set: &str, node: &pb::Node) -> Option<Member> {
    let spec = node.spec.as_ref()?;
    Some(Member {
        name: spec.name.clone(),
        index: nodeset::index_of(set, &spec.name)?,
        ip: spec.ip.clone(),
        peers: spec
            .properties
            .get(PEERS_PROPERTY)
            .cloned()
            .unwrap_or_default(),
        image: spec
            .image
            .as_ref()
            .map(|i| i.uri.clone())
            .unwrap_or_default(),
    })
}

impl GrpcHost {
    async fn nodes(&mut self) -> SetResult<Vec<pb::Node>> {
        let list = self
            .client
            .list_nodes(pb::ListNodesRequest {})
            .await
            .map_err(member_err("*"))?;
        Ok(list.into_inner().nodes)
    }

    /// The template of an existing set: its lowest-index member's spec.
    async fn template_from(&mut self, set: &str) -> SetResult<()> {
        let mut nodes: Vec<(u32, pb::Node)> = self
            .nodes()
            .await?
            .into_iter()
            .filter(|n| set_of(n).as_deref() == Some(set))
            .filter_map(|n| member_of(set, &n).map(|m| (m.index, n)))
            .collect();
        nodes.sort_by_key(|(i, _)| *i);
        let Some((_, first)) = nodes.into_iter().next() else {
            return Err(SetError::NotFound(set.into()));
        };
        self.template = Some(pb::CreateNodeRequest {
            source: Some(pb::create_node_request::Source::Spec(
                first.spec.unwrap_or_default(),
            )),
            properties: Default::default(),
            tags: vec![],
        });
        Ok(())
    }

    async fn node(&mut self, name: &str) -> SetResult<pb::Node> {
        Ok(self
            .client
            .get_node(pb::NodeRef {
                id_or_name: name.into(),
            })
            .await
            .map_err(member_err(name))?
            .into_inner())
    }

    /// `None` when ready, else what it is waiting for.
    async fn not_ready(&mut self, name: &str) -> SetResult<Option<String>> {
        let node = self.node(name).await?;
        if status_word(node.status) != "Running" {
            return Ok(Some(format!("status {}", status_word(node.status))));
        }
        let metrics = self
            .client
            .get_node_metrics(pb::NodeRef {
                id_or_name: name.into(),
            })
            .await
            .map_err(member_err(name))?
            .into_inner();
        Ok(match metrics.protocol_status {
            Some(p) if p.health == "healthy" => None,
            Some(p) => Some(format!("protocol status {}/{}", p.state, p.health)),
            None => Some("no protocol status".into()),
        })
    }
}

impl SetHost for GrpcHost {
    async fn members(&mut self, set: &str) -> SetResult<Vec<Member>> {
        let mut members: Vec<Member> = self
            .nodes()
            .await?
            .iter()
            .filter(|n| set_of(n).as_deref() == Some(set))
            .filter_map(|n| member_of(set, n))
            .collect();
        members.sort_by_key(|m| m.index);
        Ok(members)
    }

    async fn create(&mut self, set: &str, index: u32) -> SetResult<Member> {
        let name = nodeset::member_name(set, index);
        let Some(mut req) = self.template.clone() else {
            return Err(SetError::NotFound(set.into()));
        };
        let Some(pb::create_node_request::Source::Spec(spec)) = req.source.as_mut() else {
            return Err(SetError::Member {
                member: name,
                error: "set members are dev nodes created from an image".into(),
            });
        };
        spec.id.clear();
        spec.name = name.clone();
        spec.ip.clear();
        spec.gateway.clear();
        spec.bridge = true;
        spec.tags.retain(|t| !t.starts_with(nodeset::TAG_PREFIX));
        spec.tags.push(nodeset::tag(set));
        spec.properties.insert(PEERS_PROPERTY.into(), String::new());
        req.properties.remove(PEERS_PROPERTY);
        let node = self
            .client
            .create_node(req)
            .await
            .map_err(member_err(&name))?
            .into_inner();
        let member = member_of(set, &node).ok_or_else(|| SetError::Member {
            member: name,
            error: "created node has no name".into(),
        })?;
        self.display
            .line(&format!("Created member `{}` ({})", member.name, member.ip));
        Ok(member)
    }

    async fn set_peers(&mut self, member: &Member, peers: &str) -> SetResult<()> {
        let req = pb::UpdateNodeRequest {
            id_or_name: member.name.clone(),
            properties: [(PEERS_PROPERTY.to_string(), peers.to_string())].into(),
            ..Default::default()
        };
        self.client
            .update_node(req)
            .await
            .map_err(member_err(&member.name))?;
        self.display
            .line(&format!("Peers of `{}`: {peers}", member.name));
        Ok(())
    }

    async fn start(&mut self, member: &Member) -> SetResult<()> {
        self.client
            .start_node(pb::NodeRef {
                id_or_name: member.name.clone(),
            })
            .await
            .map_err(member_err(&member.name))?;
        self.display.line(&format!("Started `{}`", member.name));
        Ok(())
    }

    async fn delete(&mut self, member: &Member) -> SetResult<()> {
        self.client
            .delete_node(pb::NodeRef {
                id_or_name: member.name.clone(),
            })
            .await
            .map_err(member_err(&member.name))?;
        self.display.line(&format!("Deleted `{}`", member.name));
        Ok(())
    }

    async fn upgrade(&mut self, member: &Member) -> SetResult<()> {
        let req = pb::UpgradeNodeRequest {
            id_or_name: member.name.clone(),
            target: Some(pb::upgrade_node_request::Target::Spec(pb::NodeSpec {
                image: self.target.clone(),
                ..Default::default()
            })),
            // A roll never kills a member's download or other blocking job: it waits.
            on_blocking: pb::UpgradeBlocking::Wait.into(),
            max_wait_secs: None,
            // A member that is not healthy in time is rolled back by its host.
            health_timeout_secs: Some(self.ready_timeout.as_secs().max(1)),
        };
        self.display.line(&format!("Upgrading `{}`", member.name));
        self.client
            .upgrade_node(req)
            .await
            .map_err(member_err(&member.name))?;
        Ok(())
    }

    async fn wait_ready(&mut self, member: &Member) -> SetResult<()> {
        let deadline = tokio::time::Instant::now() + self.ready_timeout;
        loop {
            let waiting = self.not_ready(&member.name).await?;
            let Some(what) = waiting else {
                self.display.line(&format!("`{}` is healthy", member.name));
                return Ok(());
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(SetError::Member {
                    member: member.name.clone(),
                    error: format!(
                        "not healthy after {}s ({what})",
                        self.ready_timeout.as_secs()
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

fn print_members(set: &str, members: &[Member], format: Format) {
    match format {
        Format::Json => print_json(&serde_json::json!({
            "set": set,
            "members": members.iter().map(|m| serde_json::json!({
                "name": m.name, "index": m.index, "ip": m.ip, "peers": m.peers, "image": m.image,
            })).collect::<Vec<_>>(),
        })),
        Format::Text => {
            crate::outln!("Set `{set}`: {} member(s)", members.len());
            for m in members {
                crate::outln!("  {}  {}  {}  peers: {}", m.name, m.ip, m.image, m.peers);
            }
        }
    }
}

fn create_template(args: &CreateSetArgs) -> eyre::Result<pb::CreateNodeRequest> {
    create_request(CreateArgs {
        protocol: None,
        variant: None,
        version: None,
        build: None,
        image: args.image.clone(),
        babel_yaml: args.babel_yaml.clone(),
        yaml_variant: args.yaml_variant.clone(),
        name: None,
        props: args.props.clone(),
        tag: vec![],
        ip: None,
        gateway: None,
        bridge: true,
        protocol_key: "dev".into(),
        variant_key: "dev".into(),
        image_version: args.image_version.clone(),
        cpus: 0,
        memory_mb: 0,
        ramdisk: vec![],
    })
}

fn confirm(question: &str) -> eyre::Result<()> {
    print!("{question} [y/N]: ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        bail!("aborted");
    }
    Ok(())
}

pub async fn run(socket: &Path, cmd: SetCommand, format: Format) -> eyre::Result<()> {
    let mut host = GrpcHost {
        client: connect(socket).await?,
        template: None,
        target: None,
        ready_timeout: Duration::from_secs(180),
        display: Display::for_format(format),
    };
    match cmd {
        SetCommand::Create(args) => {
            let template = create_template(&args)?;
            if let Some(pb::create_node_request::Source::Spec(spec)) = &template.source {
                let uri = spec.image.as_ref().map(|i| i.uri.as_str()).unwrap_or("");
                super::progress::pull(&mut host.client, uri, format).await?;
            }
            host.template = Some(template);
            host.ready_timeout = Duration::from_secs(args.ready_timeout);
            let members = nodeset::create(&mut host, &args.name, args.count).await?;
            if !args.no_wait {
                for m in &members {
                    wait_answering(&mut host.client, &m.name, host.ready_timeout).await?;
                    host.display
                        .line(&format!("`{}` answers its protocol status", m.name));
                }
            }
            print_members(&args.name, &members, format);
        }
        SetCommand::Scale {
            name,
            count,
            ready_timeout,
        } => {
            nodeset::check_name(&name)?;
            host.template_from(&name).await?;
            host.ready_timeout = Duration::from_secs(ready_timeout);
            let members = nodeset::scale(&mut host, &name, count).await?;
            print_members(&name, &members, format);
        }
        SetCommand::Upgrade {
            name,
            image,
            image_version,
            ready_timeout,
        } => {
            super::progress::pull(&mut host.client, &image, format).await?;
            host.target = Some(pb::NodeImage {
                uri: image.clone(),
                version: image_version.unwrap_or_default(),
                ..Default::default()
            });
            host.ready_timeout = Duration::from_secs(ready_timeout);
            let members = nodeset::upgrade(&mut host, &name, &image).await?;
            print_members(&name, &members, format);
        }
        SetCommand::List { quiet } => {
            let mut sets: BTreeMap<String, Vec<Member>> = BTreeMap::new();
            for node in host.nodes().await? {
                if let Some(set) = set_of(&node)
                    && let Some(m) = member_of(&set, &node)
                {
                    sets.entry(set).or_default().push(m);
                }
            }
            for members in sets.values_mut() {
                members.sort_by_key(|m| m.index);
            }
            if quiet {
                sets.keys().for_each(|s| crate::outln!("{s}"));
                return Ok(());
            }
            match format {
                Format::Json => print_json(&serde_json::json!(
                    sets.iter()
                        .map(|(s, m)| serde_json::json!({
                            "set": s,
                            "members": m.iter().map(|m| &m.name).collect::<Vec<_>>(),
                        }))
                        .collect::<Vec<_>>()
                )),
                Format::Text if sets.is_empty() => crate::outln!("No sets found."),
                Format::Text => {
                    for (set, members) in &sets {
                        print_members(set, members, format);
                    }
                }
            }
        }
        SetCommand::Delete { name, yes } => {
            if !yes {
                confirm(&format!("Delete set `{name}` and all its nodes' data?"))?;
            }
            let gone = nodeset::delete(&mut host, &name).await?;
            match format {
                Format::Json => print_json(&serde_json::json!(
                    gone.iter().map(|m| &m.name).collect::<Vec<_>>()
                )),
                Format::Text => crate::outln!("Deleted set `{name}` ({} nodes)", gone.len()),
            }
        }
    }
    Ok(())
}
