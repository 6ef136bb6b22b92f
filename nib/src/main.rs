//! `nib`: node image builder. Every failure exits non-zero with a message naming the file,
//! line and field involved, so CI can run it directly.

mod api_client;
mod cli;
mod commands;
mod config;
mod daemon_client;
mod image_dir;
mod lint;
mod output;
mod plugin_test;

use clap::{CommandFactory, Parser};
use cli::{Cli, Command, Format, ImageCommand, ProtocolCommand};
use commands::{
    image_build, image_bump, image_check, image_create, image_play, image_push, image_test, login,
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
    output::set_format(cli.format);
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(eyre::Report::from)
        .and_then(|rt| rt.block_on(run(cli.command, cli.format)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            if cli.format == Format::Json {
                println!("{}", error_json(&e));
            }
            std::process::ExitCode::FAILURE
        }
    }
}

/// `{"ok": false, "error": ..., "failures": [...]}` for `--format json`.
fn error_json(e: &eyre::Report) -> serde_json::Value {
    let mut doc = serde_json::json!({ "ok": false, "error": format!("{e:#}") });
    if let Some(failed) = e.downcast_ref::<commands::check_failures::ChecksFailed>() {
        doc["failures"] = serde_json::to_value(&failed.0).unwrap_or_default();
    }
    if let Some(failed) = e.downcast_ref::<commands::image_test::TestsFailed>()
        && let (Some(doc), Some(report)) = (doc.as_object_mut(), failed.report.as_object())
    {
        for (k, v) in report {
            doc.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    doc
}

/// Print a command's JSON result (`--format json` only).
fn print_json(format: Format, value: &serde_json::Value) {
    if format == Format::Json {
        println!("{value}");
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
        Command::Completions { shell } => {
            let script = bv_base::cli_docs::completions(Cli::command(), shell);
            std::io::Write::write_all(&mut std::io::stdout(), script.as_bytes())?;
            Ok(())
        }
        Command::Man { dir } => {
            bv_base::cli_docs::man_pages(Cli::command(), &dir)?;
            Ok(())
        }
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
        ImageCommand::Build { path } => {
            let built = image_build::run(&path.path, format).await?;
            let mut doc = serde_json::to_value(&built)?;
            doc["ok"] = true.into();
            print_json(format, &doc);
            Ok(())
        }
        ImageCommand::Test {
            filter,
            variant,
            path,
        } => {
            let report = image_test::run(&path.path, variant.as_deref(), filter.as_deref())?;
            print_json(format, &report);
            Ok(())
        }
        ImageCommand::Bump { part, path } => image_bump::run(&path.path, part, format),
        ImageCommand::ContainerUri { path } => image_play::container_uri(&path.path, format),
        ImageCommand::Play { node } => {
            if node.build {
                image_build::run(&node.path.path, format).await?;
            }
            let plan = image_play::plan(&node)?;
            let uri = plan.variant.container_uri.clone();
            let mut daemon = daemon_client::Daemon::connect(&node.daemon.socket).await?;
            let stale = plugin_freshness::warn_if_stale(&node.path.path, &uri)?;
            let created = image_play::play(&mut daemon, plan).await?;
            let spec = created.spec.unwrap_or_default();
            let doc = serde_json::json!({
                "ok": true, "id": spec.id, "name": spec.name,
                "container_uri": uri, "stale_image": stale,
            });
            print_json(format, &doc);
            Ok(())
        }
        ImageCommand::Upgrade {
            id_or_name,
            path,
            daemon,
        } => {
            let mut daemon = daemon_client::Daemon::connect(&daemon.socket).await?;
            let doc = image_play::upgrade(&mut daemon, &id_or_name, &path.path).await?;
            print_json(format, &doc);
            Ok(())
        }
        ImageCommand::Check(args) => {
            if args.node.build {
                image_build::run(&args.node.path.path, format).await?;
            }
            let doc = image_check::run(args).await?;
            print_json(format, &doc);
            Ok(())
        }
        ImageCommand::Push {
            min_babel_version,
            path,
        } => {
            // validate before logging in / connecting
            image_play::load_validated(&path.path)?;
            let mut api = api_client::Api::logged_in().await?;
            let done = image_push::run(&mut api, &path.path, min_babel_version).await?;
            print_json(format, &serde_json::json!({ "ok": true, "variants": done }));
            Ok(())
        }
    }
}
