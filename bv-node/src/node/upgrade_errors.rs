//! Why an upgrade was refused before it touched the node: not at a safe moment
//! ([`GateError`], see `upgrade_gate`) or the new image is unfit ([`PrepareError`], see
//! `upgrade_prepare`).

use std::path::PathBuf;

use babel_plugin::PluginError;
use babel_plugin::lint::Finding;

/// Why an upgrade did not go ahead; the node is left as it was.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error(
        "upgrade-blocking job(s) running: {jobs}; an upgrade now would kill them. Retry when \
         they finish, wait for them (--wait) or kill them (--force)"
    )]
    BlockingJobs { jobs: String },
    #[error(
        "upgrade-blocking job(s) still running after waiting {secs} s: {jobs}; the node was \
         not upgraded (retry later, or --force to kill them)"
    )]
    StillBlocked { jobs: String, secs: u64 },
}

/// Why the new image was found unfit before the node was touched.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("the new image's plugin does not load: {0}")]
    PluginLoad(PluginError),
    #[error("the new image's plugin fails its lint: {}", join_findings(.0))]
    PluginLint(Vec<Finding>),
    #[error("staging dir {} is still mounted", .0.display())]
    StageBusy(PathBuf),
}

fn join_findings(findings: &[Finding]) -> String {
    let texts: Vec<String> = findings.iter().map(ToString::to_string).collect();
    texts.join("; ")
}
