use clap::Parser;

/// Command line client of blockvisord.
#[derive(Parser, Debug)]
#[command(name = "bv", version = babel_api::VERSION)]
struct Cli {}

fn main() -> eyre::Result<()> {
    let _cli = Cli::parse();
    eyre::bail!("bv is not implemented yet")
}
