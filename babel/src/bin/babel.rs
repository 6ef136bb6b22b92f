use clap::Parser;

/// In-node agent: serves the Babel API on a Unix socket and supervises jobs.
#[derive(Parser, Debug)]
#[command(name = "babel", version = babel_api::VERSION)]
struct Cli {}

fn main() -> eyre::Result<()> {
    let _cli = Cli::parse();
    eyre::bail!("babel agent is not implemented yet")
}
