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
