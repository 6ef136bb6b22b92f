//! Builds `bv-init`, the tiny static PID 1 of node containers, from `init/bv-init.c`.
//! blockvisord embeds it and bind-mounts it into every node (images may be `FROM scratch`).

use std::path::PathBuf;
use std::process::Command;

#[expect(
    clippy::disallowed_methods,
    reason = "the build script compiles bv-init with the C compiler"
)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=init/bv-init.c");
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("bv-init");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let status = Command::new(&cc)
        .args(["-static", "-Os", "-s", "-Wall", "-o"])
        .arg(&out)
        .arg("init/bv-init.c")
        .status()
        .map_err(|e| format!("running {cc} to build init/bv-init.c: {e}"))?;
    if !status.success() {
        return Err(format!("{cc} failed to build init/bv-init.c ({status})").into());
    }
    Ok(())
}
