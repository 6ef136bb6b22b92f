//! `bv node …`: connects and hands each subcommand to its verb.

use std::path::Path;

use super::super::exec::Outcome;
use super::super::{Format, connect, job, update};
use super::command::NodeCommand;
use super::{
    capabilities, create, delete, info, list, logs, reload_plugin, restart, run_method, shell,
    start, status, stop, upgrade,
};

pub async fn run(socket: &Path, cmd: NodeCommand, format: Format) -> eyre::Result<Outcome> {
    let mut client = connect(socket).await?;
    let c = &mut client;
    match cmd {
        // `--local` selects what bv lists anyway: the nodes of this host.
        NodeCommand::List {
            running,
            tag,
            local: _,
            quiet,
        } => list::list(c, running, tag, quiet, format).await?,
        NodeCommand::Create(args) => create::create(c, *args, format).await?,
        NodeCommand::Start {
            id_or_names,
            all,
            wait,
            wait_timeout,
        } => {
            let wait = wait.then(|| std::time::Duration::from_secs(wait_timeout));
            start::start(c, id_or_names, all, wait, format).await?
        }
        NodeCommand::Stop {
            id_or_names,
            all,
            force,
        } => stop::stop(c, id_or_names, all, force, format).await?,
        NodeCommand::Restart {
            id_or_names,
            all,
            force,
        } => restart::restart(c, id_or_names, all, force, format).await?,
        NodeCommand::Delete {
            id_or_names,
            tag,
            all,
            yes,
        } => delete::delete(c, id_or_names, tag, all, yes, format).await?,
        NodeCommand::Upgrade(args) => upgrade::upgrade(c, args, format).await?,
        NodeCommand::Update(args) => update::run(c, *args, format).await?,
        NodeCommand::Status { id_or_names } => status::status(c, id_or_names, format).await?,
        NodeCommand::Info { id_or_name } => info::info(c, &id_or_name, format).await?,
        NodeCommand::Capabilities { id_or_name } => {
            capabilities::capabilities(c, &id_or_name, format).await?
        }
        NodeCommand::Run {
            first,
            second,
            param,
            param_file,
        } => run_method::run_method(c, first, second, param, param_file, format).await?,
        NodeCommand::Logs {
            id_or_name,
            lines,
            follow,
            since,
            timestamps,
        } => logs::logs(c, id_or_name, lines, follow, since, timestamps, format).await?,
        NodeCommand::Shell {
            id_or_name,
            command,
        } => return Ok(Outcome::Exec(shell::shell(c, &id_or_name, command).await?)),
        NodeCommand::ReloadPlugin { id_or_name } => {
            reload_plugin::reload_plugin(c, &id_or_name, format).await?
        }
        NodeCommand::Job {
            id_or_name,
            command,
        } => job::run(c, &id_or_name, command, format).await?,
    }
    Ok(Outcome::Done)
}
