//! `bv`, the command line of blockvisord. The process effects of the CLI live here: running
//! the program a command hands over (`bv node shell`) and the exit status (see docs/cli.md:
//! 0 done, 1 failed, 2 bad usage, 141 stdout closed by its reader, a shell's own status).

use std::process::ExitCode;

use bv::cli::{Cli, ExecPlan, Format, Outcome};
use clap::Parser;
use eyre::WrapErr;

/// The status of a process ended by SIGPIPE, as shells report it: what `bv … | head` exits
/// with once `head` has read enough.
const STDOUT_CLOSED: u8 = 141;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let verbose = cli.verbose > 0;
    let format = cli.format;
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(eyre::Report::from)
        .and_then(|rt| rt.block_on(bv::cli::run(cli)))
        .and_then(|outcome| match outcome {
            Outcome::Done => Ok(ExitCode::SUCCESS),
            Outcome::Exec(plan) => exec(&plan),
        });
    if bv::cli::out::closed() {
        return ExitCode::from(STDOUT_CLOSED);
    }
    match result {
        Ok(code) => code,
        Err(e) => {
            report(&e, format, verbose);
            ExitCode::FAILURE
        }
    }
}

/// Prints a failed command's error on stderr: a JSON object with `--format json`, the
/// message (with its causes when `verbose`) otherwise.
fn report(e: &eyre::Report, format: Format, verbose: bool) {
    match format {
        Format::Json => eprintln!("{}", bv::cli::output::error_json(e)),
        Format::Text if verbose => eprintln!("Error: {e:?}"),
        Format::Text => eprintln!("Error: {e:#}"),
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
