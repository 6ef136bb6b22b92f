//! `nib image test [FILTER]`: run the plugin unit tests in `tests/*.rhai` next to babel.yaml
//! against a mocked engine (no node, no daemon) and report like `cargo test`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use eyre::{Result, bail, eyre};

use super::image_play::{load_validated, unknown_variant};
use crate::image_dir::image_dir;
use crate::lint::fake_node_env;
use crate::plugin_test::runner::{TestResult, run_file, test_files};

/// Tests failed; carries the JSON report for `--format json`.
#[derive(Debug, thiserror::Error)]
#[error("{failed} of {total} plugin test(s) failed")]
pub struct TestsFailed {
    pub failed: usize,
    pub total: usize,
    pub report: serde_json::Value,
}

/// Run the tests; returns the JSON report of a passing run.
pub fn run(
    babel_yaml: &Path,
    variant: Option<&str>,
    filter: Option<&str>,
) -> Result<serde_json::Value> {
    let image = load_validated(babel_yaml)?;
    if let Some(key) = variant
        && image.variant(key).is_none()
    {
        bail!(unknown_variant(&image, key, babel_yaml));
    }
    let variant = image
        .pick_variant(variant)
        .map_err(|e| eyre!("{}: {e}", babel_yaml.display()))?;
    let params = variant.node_properties(&BTreeMap::new())?;
    let env = fake_node_env(&variant);
    let dir = image_dir(babel_yaml);
    let files = test_files(&dir);
    if files.is_empty() {
        bail!(
            "no tests: {}/tests/*.rhai has no file; write `fn test_something() {{ ... }}` there \
             (`nib image create` scaffolds tests/main_test.rhai)",
            dir.display()
        );
    }
    let started = Instant::now();
    let mut results: Vec<TestResult> = Vec::new();
    for file in &files {
        crate::output::say!(
            "\nrunning tests from {} (variant '{}')",
            file.display(),
            variant.key
        );
        let ran = run_file(file, &dir, &env, &params, filter, |r| {
            crate::output::say!("test {} ... {}", r.name, if r.ok { "ok" } else { "FAILED" });
        })
        .map_err(|e| eyre!(e))?;
        results.extend(ran);
    }
    let failed: Vec<&TestResult> = results.iter().filter(|r| !r.ok).collect();
    let passed = results.len() - failed.len();
    if !failed.is_empty() {
        crate::output::say!("\nfailures:");
        for f in &failed {
            crate::output::say!(
                "\n---- {} ----\n{}",
                f.name,
                f.error.as_deref().unwrap_or_default()
            );
        }
        crate::output::say!("\nfailures:");
        for f in &failed {
            crate::output::say!("    {}", f.name);
        }
    }
    let verdict = if failed.is_empty() { "ok" } else { "FAILED" };
    crate::output::say!(
        "\ntest result: {verdict}. {passed} passed; {} failed; finished in {:.2}s",
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    let report = serde_json::json!({
        "ok": failed.is_empty(),
        "passed": passed,
        "failed": failed.len(),
        "tests": results,
    });
    if !failed.is_empty() {
        return Err(TestsFailed {
            failed: failed.len(),
            total: results.len(),
            report,
        }
        .into());
    }
    if results.is_empty() {
        bail!("no test matched; test functions are `fn test_<name>()` in tests/*.rhai");
    }
    Ok(report)
}
