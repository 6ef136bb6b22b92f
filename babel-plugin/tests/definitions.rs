//! The committed `rhai/babel.d.rhai` must match what the current code generates.
//! Regenerate with `cargo run -p babel-plugin --features definitions --example write_definitions`.

use std::path::PathBuf;

#[test]
fn committed_definitions_are_up_to_date() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(babel_plugin::DEFINITIONS_FILE);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = babel_plugin::definitions();
    assert!(
        generated.contains("fn run_sh(") && generated.contains("fn expect("),
        "definitions miss babel functions:\n{generated}"
    );
    for line in generated.lines().filter(|l| l.starts_with("fn ")) {
        assert!(
            !line.contains("-> ;") && !line.contains("_: ?"),
            "malformed signature: {line}"
        );
        assert!(
            line.contains(" -> "),
            "signature without a return type: {line}"
        );
    }
    for getter in ["body", "status_code", "exit_code", "stdout", "stderr"] {
        assert!(
            generated.contains(&format!("fn get {getter}(response: Dressed")),
            "getter {getter} missing:\n{generated}"
        );
    }
    assert!(
        committed == generated,
        "{} is stale; regenerate with `cargo run -p babel-plugin --features definitions --example write_definitions`",
        path.display()
    );
}
