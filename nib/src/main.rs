//! `nib`: node image builder. Every failure exits non-zero with a message naming the file,
//! line and field involved, so CI can run it directly.

mod api_client;
mod cli;
mod commands;
mod config;
mod daemon_client;
mod lint;

use clap::Parser;
use cli::{Cli, Command, Format, ImageCommand, ProtocolCommand};
use commands::{
    image_build, image_bump, image_check, image_create, image_play, image_push, login,
    plugin_freshness, protocol,
};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(eyre::Report::from)
        .and_then(|rt| rt.block_on(run(cli.command, cli.format)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, format: Format) -> eyre::Result<()> {
    match command {
        Command::Login(args) => login::run(args, format).await,
        Command::Protocol(ProtocolCommand::Push { path }) => {
            let mut api = api_client::Api::logged_in().await?;
            protocol::push(&mut api, &path, format).await
        }
        Command::Protocol(ProtocolCommand::List { name, number }) => {
            let mut api = api_client::Api::logged_in().await?;
            protocol::list(&mut api, name, number, format).await
        }
        Command::Image(cmd) => image(cmd, format).await,
    }
}

async fn image(cmd: ImageCommand, format: Format) -> eyre::Result<()> {
    match cmd {
        ImageCommand::Create {
            protocol,
            variant,
            dir,
            force,
        } => image_create::create(&dir, &protocol, &variant, force).map(|_| ()),
        ImageCommand::Build { path } => image_build::run(&path.path, format).await.map(|_| ()),
        ImageCommand::Bump { part, path } => image_bump::run(&path.path, part, format),
        ImageCommand::ContainerUri { path } => image_play::container_uri(&path.path, format),
        ImageCommand::Play { node } => {
            if node.build {
                image_build::run(&node.path.path, format).await?;
            }
            let plan = image_play::plan(&node)?;
            plugin_freshness::warn_if_stale(&node.path.path, &plan.variant.container_uri)?;
            let mut daemon = daemon_client::Daemon::connect(&node.daemon.socket).await?;
            image_play::play(&mut daemon, plan).await.map(|_| ())
        }
        ImageCommand::Upgrade {
            id_or_name,
            path,
            daemon,
        } => {
            let mut daemon = daemon_client::Daemon::connect(&daemon.socket).await?;
            image_play::upgrade(&mut daemon, &id_or_name, &path.path).await
        }
        ImageCommand::Check(args) => {
            if args.node.build {
                image_build::run(&args.node.path.path, format).await?;
            }
            image_check::run(args).await
        }
        ImageCommand::Push {
            min_babel_version,
            path,
        } => {
            // validate before logging in / connecting
            image_play::load_validated(&path.path)?;
            let mut api = api_client::Api::logged_in().await?;
            image_push::run(&mut api, &path.path, min_babel_version).await
        }
    }
}
