use clap::Parser;

/// Host daemon: runs blockchain nodes as containers.
#[derive(Parser, Debug)]
#[command(name = "blockvisord", version = babel_api::VERSION)]
struct Cli {}

fn main() -> eyre::Result<()> {
    let _cli = Cli::parse();
    eyre::bail!("blockvisord is not implemented yet")
}
