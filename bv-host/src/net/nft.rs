//! Running `nft` (and, for Docker's `FORWARD` chain, `iptables`), optionally inside a named
//! network namespace.

use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::NetError;

/// Loads `ruleset` with `nft -f -` (one transaction), inside `netns` when given.
pub async fn load(netns: Option<&str>, ruleset: &str) -> Result<(), NetError> {
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "nft", "-f", "-"]);
            c
        }
        None => {
            let mut c = Command::new("nft");
            c.args(["-f", "-"]);
            c
        }
    };
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(NetError::NftMissing)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(ruleset.as_bytes())
            .await
            .map_err(NetError::NftInput)?;
    }
    let out = child.wait_with_output().await.map_err(NetError::NftWait)?;
    if !out.status.success() {
        return Err(NetError::Failed {
            command: format!(
                "nft -f{}",
                netns.map(|n| format!(" (netns {n})")).unwrap_or_default()
            ),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// `nft delete table <family> <name>`; a missing table is not an error.
pub async fn delete_table(netns: Option<&str>, family: &str, table: &str) -> Result<(), NetError> {
    // Declaring the table first makes the delete succeed when it does not exist.
    load(
        netns,
        &format!("table {family} {table} {{}}\ndelete table {family} {table}\n"),
    )
    .await
}

/// Runs `iptables -w <args>`; `Ok(false)` when it exits non-zero.
pub async fn iptables(args: &[&str]) -> Result<bool, NetError> {
    let out = Command::new("iptables")
        .arg("-w")
        .args(args)
        .output()
        .await
        .map_err(|source| NetError::Spawn {
            program: "iptables".into(),
            source,
        })?;
    Ok(out.status.success())
}
