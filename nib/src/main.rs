use clap::Parser;

/// Node image builder.
#[derive(Parser, Debug)]
#[command(name = "nib", version = babel_api::VERSION)]
struct Cli {}

fn main() -> eyre::Result<()> {
    let _cli = Cli::parse();
    eyre::bail!("nib is not implemented yet")
}
