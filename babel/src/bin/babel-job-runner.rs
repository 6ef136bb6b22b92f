use clap::Parser;

/// Runs one babel job in its own session.
#[derive(Parser, Debug)]
#[command(name = "babel-job-runner", version = babel_api::VERSION)]
struct Cli {
    /// Name of the job to run.
    job: String,
}

fn main() -> eyre::Result<()> {
    let cli = Cli::parse();
    eyre::bail!("job runner is not implemented yet (job {})", cli.job)
}
