use clap::Parser;

/// Control-plane API server.
#[derive(Parser, Debug)]
#[command(name = "bv-api", version = babel_api::VERSION)]
struct Cli {}

fn main() -> eyre::Result<()> {
    let _cli = Cli::parse();
    eyre::bail!("bv-api is not implemented yet")
}
