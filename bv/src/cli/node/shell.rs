//! `bv node shell`: a shell inside a running node, through `runc exec`.

use std::ffi::OsString;
use std::path::Path;

use babel_api::pb::blockvisor::v1::blockvisor_client::BlockvisorClient;
use eyre::bail;
use tonic::transport::Channel;

use super::super::exec::ExecPlan;
use super::super::output::status_word;
use super::super::rpc_err;
use super::common::noderef;

/// `bv node shell`: what to run for a shell (or `command`) inside a running node. The CLI
/// library only plans it; the `bv` binary runs it in the foreground and exits with its
/// status.
pub async fn shell(
    client: &mut BlockvisorClient<Channel>,
    id: &str,
    command: Vec<String>,
) -> eyre::Result<ExecPlan> {
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
    let mut args: Vec<OsString> = vec!["--root".into(), node.runtime_root.into(), "exec".into()];
    if tty {
        args.push("--tty".into());
    }
    for e in env {
        args.push("--env".into());
        args.push(e.into());
    }
    args.push(node.container_id.into());
    if command.is_empty() {
        args.push("/bin/sh".into());
    } else {
        args.extend(command.into_iter().map(OsString::from));
    }
    Ok(ExecPlan {
        program: "runc".into(),
        args,
        what: "runc exec (is runc installed?)".into(),
    })
}
