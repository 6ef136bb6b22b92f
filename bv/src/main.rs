//! `bv`, the command line of blockvisord. The process effects of the CLI live here: running
//! the program a command hands over (`bv node shell`) and the exit status.

use std::process::ExitCode;

use bv::cli::{Cli, ExecPlan, Outcome};
use clap::Parser;
use eyre::WrapErr;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let verbose = cli.verbose > 0;
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(eyre::Report::from)
        .and_then(|rt| rt.block_on(bv::cli::run(cli)))
        .and_then(|outcome| match outcome {
            Outcome::Done => Ok(ExitCode::SUCCESS),
            Outcome::Exec(plan) => exec(&plan),
        });
    match result {
        Ok(code) => code,
        Err(e) if verbose => {
            eprintln!("Error: {e:?}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `plan` in the foreground and passes its exit status on.
#[expect(
    clippy::disallowed_methods,
    reason = "the binary runs what a command hands over"
)]
fn exec(plan: &ExecPlan) -> eyre::Result<ExitCode> {
    let status = std::process::Command::new(&plan.program)
        .args(&plan.args)
        .status()
        .wrap_err_with(|| format!("running {}", plan.what))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}
