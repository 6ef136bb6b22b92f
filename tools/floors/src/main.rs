//! `floors [WORKSPACE_DIR] [--print]`: checks the layering (see the library docs); `--print`
//! also lists every file of every crate target by floor.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut root = PathBuf::from(".");
    let mut print = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--print" => print = true,
            "-h" | "--help" => {
                println!("usage: floors [WORKSPACE_DIR] [--print]");
                return ExitCode::SUCCESS;
            }
            dir => root = PathBuf::from(dir),
        }
    }
    let report = match floors::check(&root) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("floors: {e}");
            return ExitCode::from(2);
        }
    };
    if print {
        for t in &report.floors {
            println!("{}", t.root.display());
            for (floor, file) in &t.files {
                println!("  {floor:>2}  {}", file.display());
            }
        }
    }
    if report.is_clean() {
        println!(
            "floors: no crate depends on its own or a higher floor; no import cycle in any crate"
        );
        ExitCode::SUCCESS
    } else {
        eprint!("{report}");
        ExitCode::FAILURE
    }
}
