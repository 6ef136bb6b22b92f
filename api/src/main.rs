use clap::Parser;
use tracing_subscriber::EnvFilter;

/// Control-plane API server.
#[derive(Parser, Debug)]
#[command(name = "bv-api", version = babel_api::VERSION)]
struct Cli {
    #[command(flatten)]
    config: api::config::Config,
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let data_dir = cli.config.data_dir.clone();
    let running = api::server::start(cli.config).await?;
    println!("bv-api listening on {}", running.url());
    println!("address written to {}", data_dir.join("address").display());
    match &running.new_admin_token {
        Some(token) => {
            println!(
                "admin token (also in {}): {token}",
                running.admin_token_file.display()
            );
            println!(
                "admin password for `nib login` written to {}",
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
