//! Start-up recovery, run by the daemon under its root lock before it serves anything:
//! interrupted operations from the intent journal are completed (delete) or rolled back
//! (create, upgrade), then whatever belongs to no node is swept: node dirs without a state,
//! containers of our runc root, their namespaces, veths, mounts and cgroups, and
//! leftovers of interrupted image pulls. Everything done is logged and kept as the last
//! sweep report, which `bv host info` shows.
//!
//! Namespaces, veths and cgroups are host-wide, shared with daemons of other roots, so only
//! those of node ids this root knows (journal entries, node dirs, runc containers) are
//! removed. IP addresses are no separate reservation: a node's address is in its state, and
//! an interrupted create's address is freed with its rollback.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;

use super::dirs::{has_state, node_dir_id};
use super::report::SweepReport;
use crate::journal::{Journal, Op};
use crate::node::{Node, Services};
use bv_host::container::{ContainerState, stop_and_delete};

/// Phase one, before the registry loads: interrupted creates and deletes, then the sweep.
pub async fn recover_host(svc: &Services) -> SweepReport {
    let mut report = SweepReport {
        at: Some(Utc::now()),
        ..Default::default()
    };
    let journal = Journal::new(&svc.config.root);
    for entry in journal.list() {
        match entry {
            Ok(intent) => {
                let id = intent.node_id;
                let what = match intent.op {
                    Op::Create => "rolled back the interrupted create",
                    Op::Delete => "completed the interrupted delete",
                    // Needs the node: phase two.
                    Op::Upgrade => continue,
                };
                if purge(svc, id, &mut report).await {
                    report.operation(format!("{what} of node {} ({id})", intent.name));
                    if let Err(e) = journal.done(intent.op, id) {
                        report.error(e.to_string());
                    }
                }
            }
            Err((id, e)) => {
                report.error(format!("unreadable journal entry dropped: {e}"));
                if let Some(id) = id {
                    journal.forget(id);
                }
            }
        }
    }
    sweep(svc, &mut report).await;
    report
}

/// Settles an interrupted upgrade of `node` (rolled back, or tidied when it had succeeded).
pub(crate) async fn finish_upgrade(node: &mut Node, journal: &Journal, report: &mut SweepReport) {
    let id = node.state.id;
    if !journal.has(Op::Upgrade, id) && node.state.upgrade.is_none() {
        return;
    }
    if node.broken.is_some() {
        report.error(format!(
            "interrupted upgrade of Broken node {} ({id}) left as is",
            node.state.name
        ));
        return;
    }
    match node.finish_interrupted_upgrade().await {
        Ok(()) => {
            report.operation(format!(
                "finished the interrupted upgrade of node {} ({id}): image {}",
                node.state.name, node.state.image.uri
            ));
            if let Err(e) = journal.done(Op::Upgrade, id) {
                report.error(e.to_string());
            }
        }
        Err(e) => report.error(format!(
            "interrupted upgrade of node {} ({id}): {e}",
            node.state.name
        )),
    }
}

/// Removes everything of node `id` from the host; `true` when nothing is left.
async fn purge(svc: &Services, id: Uuid, report: &mut SweepReport) -> bool {
    let before = report.errors.len();
    let cid = id.to_string();
    let dir = svc.config.nodes_dir().join(&cid);
    match svc.runtime.state(&cid).await {
        Ok(ContainerState::Absent) => {}
        Ok(_) => {
            match stop_and_delete(&*svc.runtime, &cid, libc::SIGKILL, Duration::from_secs(5)).await
            {
                Ok(()) => report.removed(format!("container {cid}")),
                Err(e) => report.error(format!("container {cid}: {e}")),
            }
        }
        Err(e) => report.error(format!("container {cid}: {e}")),
    }
    let net = svc.network.leftovers(&cid).await;
    if !net.is_empty() {
        match svc.network.teardown(&cid).await {
            Ok(()) => net.into_iter().for_each(|n| report.removed(n)),
            Err(e) => report.error(format!("network of {cid}: {e}")),
        }
    }
    for m in svc.rootfs.mounts_under(&dir) {
        match svc.rootfs.unmount_at(&m).await {
            Ok(()) => report.removed(format!("mount {}", m.display())),
            Err(e) => report.error(format!("mount {}: {e}", m.display())),
        }
    }
    let cgroup = format!("{}/{cid}", svc.config.cgroup_parent);
    match svc.runtime.remove_cgroup(&cgroup).await {
        Ok(true) => report.removed(format!("cgroup {cgroup}")),
        Ok(false) => {}
        Err(e) => report.error(format!("cgroup {cgroup}: {e}")),
    }
    // Never walk into a mount that is still there.
    if dir.exists() {
        if !svc.rootfs.mounts_under(&dir).is_empty() {
            report.error(format!("{} still has mounts; kept", dir.display()));
        } else {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => report.removed(format!("dir {}", dir.display())),
                Err(e) => report.error(format!("dir {}: {e}", dir.display())),
            }
        }
    }
    report.errors.len() == before
}

/// Node dirs, containers and mounts that belong to no node, and pull leftovers.
async fn sweep(svc: &Services, report: &mut SweepReport) {
    let nodes_dir = svc.config.nodes_dir();
    let mut live = BTreeSet::new();
    let mut orphans = BTreeSet::new();
    if let Ok(rd) = std::fs::read_dir(&nodes_dir) {
        for path in rd.flatten().map(|e| e.path()) {
            match node_dir_id(&path) {
                Some(id) if has_state(&path) => {
                    live.insert(id);
                }
                Some(id) => {
                    orphans.insert(id);
                }
                None => report.error(format!("{}: not a node dir; kept", path.display())),
            }
        }
    }
    match svc.runtime.list().await {
        Ok(ids) => {
            for id in ids.iter().filter_map(|c| c.parse::<Uuid>().ok()) {
                if !live.contains(&id) {
                    orphans.insert(id);
                }
            }
        }
        Err(e) => report.error(format!("listing containers: {e}")),
    }
    for id in orphans {
        purge(svc, id, report).await;
    }
    // Mounts under the root that no live node owns (a node owns those under its dir).
    // Mount points come canonical from the mount table; the root may be a symlink.
    let canonical = nodes_dir
        .canonicalize()
        .unwrap_or_else(|_| nodes_dir.clone());
    let owned = |m: &Path| {
        m.strip_prefix(&canonical)
            .or_else(|_| m.strip_prefix(&nodes_dir))
            .ok()
            .and_then(|rest| rest.components().next())
            .and_then(|c| c.as_os_str().to_str()?.parse::<Uuid>().ok())
            .is_some_and(|id| live.contains(&id))
    };
    for m in svc.rootfs.mounts_under(&svc.config.root) {
        if owned(&m) {
            continue;
        }
        match svc.rootfs.unmount_at(&m).await {
            Ok(()) => report.removed(format!("mount {}", m.display())),
            Err(e) => report.error(format!("mount {}: {e}", m.display())),
        }
    }
    // Temporary files of atomic writes a crash cut short (journal, node states).
    let mut dirs = vec![Journal::new(&svc.config.root).dir().to_path_buf()];
    dirs.extend(live.iter().map(|id| nodes_dir.join(id.to_string())));
    for dir in dirs {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for path in rd.flatten().map(|e| e.path()) {
            if !bv_base::is_temp_file(&path) {
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => report.removed(format!("temp {}", path.display())),
                Err(e) => report.error(format!("temp {}: {e}", path.display())),
            }
        }
    }
    for p in svc.rootfs.sweep_tmp().await {
        report.removed(format!("image temp {}", p.display()));
    }
}
