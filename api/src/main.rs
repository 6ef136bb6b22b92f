use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Control-plane API server. Without a subcommand it serves gRPC and the chunk URLs.
#[derive(Parser, Debug)]
#[command(name = "bv-api", version = babel_api::VERSION)]
struct Cli {
    #[command(flatten)]
    config: api::config::Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print a new single-use host provision token (works on the database directly, so the
    /// server need not run). Give it to `bv` when registering a host.
    ProvisionToken {
        /// Lifetime in seconds (default 24 h, at most 30 days).
        #[arg(long)]
        expires_secs: Option<u64>,
        #[arg(long)]
        org_id: Option<String>,
    },
}

async fn serve(config: api::config::Config) -> eyre::Result<()> {
    let data_dir = config.data_dir.clone();
    let running = api::server::start(config).await?;
    println!("bv-api listening on {}", running.url());
    println!("address written to {}", data_dir.join("address").display());
    if let Some(url) = running.console_url() {
        println!("web console on {url}");
    }
    match &running.new_admin_token {
        Some(token) => {
            // The token itself stays in its 0600 file: stdout ends up in logs.
            println!(
                "admin token written to {} ({})",
                running.admin_token_file.display(),
                api::crypto::token_hint(token)
            );
            println!(
                "admin password for `nib login` (email admin@localhost unless --admin-email) written to {}",
                data_dir.join("admin.password").display()
            );
        }
        None => println!("admin token is in {}", running.admin_token_file.display()),
    }
    tokio::select! {
        result = running.wait() => result?,
        _ = tokio::signal::ctrl_c() => println!("shutting down"),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        None => serve(cli.config).await,
        Some(Command::ProvisionToken {
            expires_secs,
            org_id,
        }) => {
            let db = api::db::Db::connect(&cli.config.database_url()).await?;
            let (token, _) = api::services::host::create_provision_token(
                &db,
                None,
                org_id.as_deref(),
                expires_secs,
            )
            .await?;
            println!("{token}");
            Ok(())
        }
    }
}
