//! `bv node job <ID_OR_NAME> …`.

use babel_api::pb::blockvisor::v1 as pb;
use babel_api::pb::blockvisor::v1::blockvisor_client::BlockvisorClient;
use clap::Subcommand;
use comfy_table::{Table, presets::NOTHING};
use eyre::bail;
use tonic::transport::Channel;

use super::logview::LogView;
use super::output::{job_info_json, job_status_text, print_json};
use super::{Format, rpc_err};

#[derive(Subcommand, Debug)]
pub enum JobCommand {
    /// Jobs and their status.
    #[command(visible_alias = "ls")]
    List {
        /// Print job names only, one per line.
        #[arg(short, long)]
        quiet: bool,
    },
    Start {
        name: String,
    },
    /// Stop a job, or every running job with --all.
    Stop {
        name: Option<String>,
        #[arg(short, long)]
        all: bool,
    },
    /// Stop if running and mark finished.
    Skip {
        name: String,
    },
    /// Remove the job's intermediate files so it starts from scratch.
    Cleanup {
        name: String,
    },
    Restart {
        name: String,
    },
    Info {
        name: String,
    },
    /// Job logs (every job when no name is given).
    Logs {
        name: Option<String>,
        #[arg(
            short = 'n',
            long,
            visible_alias = "n",
            visible_short_alias = 'l',
            default_value_t = 50
        )]
        lines: u32,
        #[arg(short, long)]
        follow: bool,
    },
}

fn req(node: &str, job: &str) -> pb::NodeJobRequest {
    pb::NodeJobRequest {
        id_or_name: node.into(),
        job: job.into(),
    }
}

pub async fn run(
    client: &mut BlockvisorClient<Channel>,
    node: &str,
    cmd: JobCommand,
    format: Format,
) -> eyre::Result<()> {
    let done = |verb: &str, name: &str| match format {
        Format::Json => print_json(&serde_json::json!({"job": name, "action": verb})),
        Format::Text => crate::outln!("{verb} job `{name}`"),
    };
    match cmd {
        JobCommand::List { quiet } => {
            let jobs = client
                .list_jobs(pb::NodeRef {
                    id_or_name: node.into(),
                })
                .await
                .map_err(rpc_err)?
                .into_inner()
                .jobs;
            if quiet {
                jobs.iter().for_each(|j| crate::outln!("{}", j.name));
                return Ok(());
            }
            match format {
                Format::Json => print_json(&serde_json::Value::Array(
                    jobs.iter()
                        .map(|j| job_info_json(&j.name, &j.info.clone().unwrap_or_default()))
                        .collect(),
                )),
                Format::Text => {
                    let mut table = Table::new();
                    table.load_style(NOTHING).set_header(vec!["NAME", "STATUS"]);
                    for j in &jobs {
                        let info = j.info.clone().unwrap_or_default();
                        table.add_row(vec![j.name.clone(), job_status_text(info.status.as_ref())]);
                    }
                    crate::outln!("{table}");
                }
            }
        }
        JobCommand::Start { name } => {
            client.start_job(req(node, &name)).await.map_err(rpc_err)?;
            done("Started", &name);
        }
        JobCommand::Stop { name, all } => {
            let names = match (name, all) {
                (Some(n), false) => vec![n],
                (None, true) => client
                    .list_jobs(pb::NodeRef {
                        id_or_name: node.into(),
                    })
                    .await
                    .map_err(rpc_err)?
                    .into_inner()
                    .jobs
                    .into_iter()
                    .filter(|j| {
                        job_status_text(j.info.as_ref().and_then(|i| i.status.as_ref()))
                            == "Running"
                    })
                    .map(|j| j.name)
                    .collect(),
                _ => bail!("give a job name or --all"),
            };
            for n in names {
                client.stop_job(req(node, &n)).await.map_err(rpc_err)?;
                done("Stopped", &n);
            }
        }
        JobCommand::Skip { name } => {
            client.skip_job(req(node, &name)).await.map_err(rpc_err)?;
            done("Skipped", &name);
        }
        JobCommand::Cleanup { name } => {
            client
                .cleanup_job(req(node, &name))
                .await
                .map_err(rpc_err)?;
            done("Cleaned up", &name);
        }
        JobCommand::Restart { name } => {
            client
                .restart_job(req(node, &name))
                .await
                .map_err(rpc_err)?;
            done("Restarted", &name);
        }
        JobCommand::Info { name } => {
            let info = client
                .job_info(req(node, &name))
                .await
                .map_err(rpc_err)?
                .into_inner();
            match format {
                Format::Json => print_json(&job_info_json(&name, &info)),
                Format::Text => {
                    let ts = info
                        .timestamp
                        .as_ref()
                        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
                        .map(|t| t.format("%F %T %Z").to_string())
                        .unwrap_or_else(|| "-".into());
                    crate::outln!("status: {ts}| {}", job_status_text(info.status.as_ref()));
                    if let Some(p) = &info.progress {
                        crate::outln!("progress: {}/{} {}", p.current, p.total, p.message);
                    }
                    crate::outln!("restart_count: {}", info.restart_count);
                    crate::outln!("upgrade_blocking: {}", info.upgrade_blocking);
                    if info.logs.is_empty() {
                        crate::outln!("logs: <empty>");
                    } else {
                        crate::outln!("logs:");
                        info.logs.iter().for_each(|l| crate::outln!("{l}"));
                    }
                }
            }
        }
        JobCommand::Logs {
            name,
            lines,
            follow,
        } => {
            let all = name.is_none();
            let stream = client
                .job_logs(pb::JobLogsRequest {
                    id_or_name: node.into(),
                    job: name.unwrap_or_default(),
                    lines,
                    follow,
                })
                .await
                .map_err(rpc_err)?
                .into_inner();
            // Every job's lines interleave: each carries its job's name.
            let view = LogView {
                source: all,
                ..Default::default()
            };
            super::logview::print(stream, &view, format).await?;
        }
    }
    Ok(())
}
