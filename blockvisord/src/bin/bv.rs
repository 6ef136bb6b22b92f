//! Command line client of blockvisord.
use clap::Parser;

fn main() {
    let cli = blockvisord::cli::Cli::parse();
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(eyre::Report::from)
        .and_then(|rt| rt.block_on(blockvisord::cli::run(cli)));
    if let Err(e) = result {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}
