//! Every shipped binary starts and reports its version.

use std::process::Command;

#[test]
fn binaries_report_their_version() {
    let dir = e2e::bin_dir();
    for bin in [
        "babel",
        "babel-job-runner",
        "blockvisord",
        "bv",
        "nib",
        "bv-api",
    ] {
        let path = dir.join(bin);
        let out = Command::new(&path)
            .arg("--version")
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", path.display()));
        assert!(out.status.success(), "{bin} --version failed");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(babel_api::VERSION), "{bin}: {text}");
    }
}

/// The node agent binaries are static executables without relocations (not static PIE):
/// their read-only data then stays file pages that every node on the host shares, instead
/// of a private relocated copy in each babel and job runner.
#[test]
fn static_agent_is_not_position_independent() {
    let dir = std::env::var_os("BV_BABEL_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/babel-static")
        });
    for bin in ["babel", "babel-job-runner"] {
        let path = dir.join(bin);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "read {}: {e} (build it with scripts/build-babel-static)",
                path.display()
            )
        });
        assert_eq!(&bytes[..4], b"\x7fELF", "{bin}: not an ELF file");
        // e_type: 2 = ET_EXEC (fixed addresses), 3 = ET_DYN (PIE or shared object).
        let e_type = u16::from_le_bytes([bytes[16], bytes[17]]);
        assert_eq!(
            e_type, 2,
            "{bin} is position independent (ELF type {e_type})"
        );
    }
}
