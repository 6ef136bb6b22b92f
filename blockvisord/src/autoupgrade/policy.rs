//! The decision logic of automatic upgrades: pure functions of the time, the effective
//! policy, what the node runs, how healthy it is, and the catalog's newest version.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::catalog::{CatalogImage, ImageCatalog};
use super::record::{Candidate, NodePolicy, Record};
use bv_host::config::{Mode, UpgradeConfig};
use bv_node::node::state::NodeImage;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The policy in force for one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    pub delay: Duration,
    pub health_deadline: Duration,
}

fn secs(s: u64) -> Duration {
    Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000))
}

/// The node's own settings over the host's.
pub fn effective(host: &UpgradeConfig, node: &NodePolicy) -> Policy {
    Policy {
        mode: node.mode.unwrap_or(host.mode),
        delay: secs(node.delay_secs.unwrap_or(host.delay_secs)),
        health_deadline: secs(
            node.health_deadline_secs
                .unwrap_or(host.health_deadline_secs),
        ),
    }
}

/// What the engine knows about a node at decision time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    pub protocol: String,
    pub variant: String,
    pub image: NodeImage,
    /// The node is meant to run (health is judged only then).
    pub running: bool,
    /// The node is Failed for good or busy with another operation: leave it alone.
    pub hands_off: bool,
    /// Running with no alerts, observed after the last upgrade.
    pub healthy: bool,
    /// Versions of its protocol/variant held on this host (rolled back on some node).
    pub held: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Nothing,
    Upgrade(CatalogImage),
    /// The upgraded node became healthy in time.
    Confirm,
    /// The upgraded node was not healthy by the deadline: back to `to`.
    Rollback {
        to: NodeImage,
        reason: String,
    },
}

/// What to do now; updates the record's bookkeeping (candidate, pending) and returns a
/// human-readable state for `bv node info`.
pub fn decide(
    now: DateTime<Utc>,
    policy: &Policy,
    node: &NodeView,
    latest: Option<&CatalogImage>,
    record: &mut Record,
) -> (Action, String) {
    if let Some(p) = record.pending.clone() {
        if !node.running {
            // Stopped by its operator during the health check: nothing left to judge.
            record.pending = None;
            record.upgraded += 1;
            record.last_result = format!(
                "upgraded to {} at {} (stopped before its health check)",
                p.to_version, p.upgraded_at
            );
            return (Action::Confirm, record.last_result.clone());
        }
        if node.healthy {
            record.pending = None;
            record.upgraded += 1;
            record.last_result = format!("upgraded to {} at {}", p.to_version, p.upgraded_at);
            return (Action::Confirm, format!("{} is healthy", p.to_version));
        }
        if now >= p.deadline {
            let reason = format!(
                "{} was not healthy within {} s",
                p.to_version,
                (p.deadline - p.upgraded_at).num_seconds()
            );
            return (
                Action::Rollback {
                    to: p.from,
                    reason: reason.clone(),
                },
                reason,
            );
        }
        return (
            Action::Nothing,
            format!(
                "waiting for {} to become healthy until {}",
                p.to_version, p.deadline
            ),
        );
    }
    if policy.mode == Mode::Manual {
        return (Action::Nothing, "manual".into());
    }
    if node.hands_off {
        return (Action::Nothing, "node is Failed or busy".into());
    }
    let Some(latest) = latest else {
        record.candidate = None;
        return (Action::Nothing, "no image in the catalog".into());
    };
    let newer = match (
        semver::Version::parse(&latest.version),
        semver::Version::parse(&node.image.version),
    ) {
        (Ok(l), Ok(c)) => l > c,
        (Ok(_), Err(_)) => {
            return (
                Action::Nothing,
                format!("node version `{}` is not semver", node.image.version),
            );
        }
        _ => false,
    };
    if !newer {
        record.candidate = None;
        return (Action::Nothing, "up to date".into());
    }
    if record.blocked_versions.contains(&latest.version) {
        return (
            Action::Nothing,
            format!(
                "{} was rolled back; waiting for a newer version",
                latest.version
            ),
        );
    }
    if node.held.contains(&latest.version) {
        return (
            Action::Nothing,
            format!(
                "{} is held on this host (an upgrade to it was rolled back)",
                latest.version
            ),
        );
    }
    let since = match (&latest.published_at, &record.candidate) {
        (Some(t), _) => *t,
        (None, Some(c)) if c.version == latest.version => c.first_seen,
        (None, _) => now,
    };
    if record.candidate.as_ref().map(|c| &c.version) != Some(&latest.version) {
        record.candidate = Some(Candidate {
            version: latest.version.clone(),
            first_seen: now,
        });
    }
    let due = since + policy.delay;
    if now < due {
        return (
            Action::Nothing,
            format!("waiting for {} until {due}", latest.version),
        );
    }
    (
        Action::Upgrade(latest.clone()),
        format!("upgrading to {}", latest.version),
    )
}

/// [`decide`] with the time and the newest version taken from the clock and the catalog.
pub struct Planner {
    pub clock: Arc<dyn Clock>,
    pub catalog: Arc<dyn ImageCatalog>,
}

impl std::fmt::Debug for Planner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Planner").finish_non_exhaustive()
    }
}

impl Planner {
    pub async fn plan(
        &self,
        policy: &Policy,
        node: &NodeView,
        record: &mut Record,
    ) -> (Action, String) {
        let latest = if record.pending.is_none() && policy.mode == Mode::Automatic {
            match self.catalog.latest(&node.protocol, &node.variant).await {
                Ok(l) => l,
                Err(e) => return (Action::Nothing, e.to_string()),
            }
        } else {
            None
        };
        decide(self.clock.now(), policy, node, latest.as_ref(), record)
    }

    /// Bookkeeping after an upgrade attempt; `Ok` starts the health watch (running nodes).
    pub fn upgraded(
        &self,
        policy: &Policy,
        node: &NodeView,
        to: &CatalogImage,
        result: Result<(), String>,
        record: &mut Record,
    ) {
        let now = self.clock.now();
        record.candidate = None;
        match result {
            Ok(()) if node.running => {
                record.pending = Some(super::record::Pending {
                    from: node.image.clone(),
                    to_version: to.version.clone(),
                    upgraded_at: now,
                    deadline: now + policy.health_deadline,
                });
            }
            Ok(()) => {
                record.upgraded += 1;
                record.last_result = format!("upgraded to {} at {now} (node stopped)", to.version);
            }
            Err(e) => {
                record.blocked_versions.push(to.version.clone());
                record.rolled_back += 1;
                record.last_result = format!("upgrade to {} failed at {now}: {e}", to.version);
            }
        }
    }

    /// Bookkeeping after a health rollback.
    pub fn rolled_back(&self, reason: &str, result: Result<(), String>, record: &mut Record) {
        let now = self.clock.now();
        if let Some(p) = record.pending.take() {
            record.blocked_versions.push(p.to_version);
        }
        record.rolled_back += 1;
        record.last_result = match result {
            Ok(()) => format!("rolled back at {now}: {reason}"),
            Err(e) => format!("rollback at {now} failed ({reason}): {e}"),
        };
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::autoupgrade::catalog::CatalogError;

    #[derive(Debug)]
    struct FakeClock(Mutex<DateTime<Utc>>);
    impl FakeClock {
        fn advance(&self, d: Duration) {
            let mut t = self.0.lock().unwrap();
            *t += d;
        }
    }
    impl Clock for FakeClock {
        fn now(&self) -> DateTime<Utc> {
            *self.0.lock().unwrap()
        }
    }

    #[derive(Debug, Default)]
    struct FakeCatalog(Mutex<Vec<CatalogImage>>);
    #[async_trait]
    impl ImageCatalog for FakeCatalog {
        async fn latest(&self, p: &str, v: &str) -> Result<Option<CatalogImage>, CatalogError> {
            let images = self.0.lock().unwrap();
            Ok(crate::autoupgrade::catalog::newest(images.iter(), p, v).cloned())
        }
    }

    fn image(version: &str, published: Option<DateTime<Utc>>) -> CatalogImage {
        CatalogImage {
            protocol: "p".into(),
            variant: "v".into(),
            version: version.into(),
            uri: format!("docker://r/p:{version}"),
            published_at: published,
            min_babel_version: String::new(),
            image_id: String::new(),
        }
    }

    fn view(version: &str) -> NodeView {
        NodeView {
            protocol: "p".into(),
            variant: "v".into(),
            image: NodeImage {
                version: version.into(),
                uri: format!("docker://r/p:{version}"),
                ..Default::default()
            },
            running: true,
            hands_off: false,
            healthy: true,
            held: vec![],
        }
    }

    struct Setup {
        clock: Arc<FakeClock>,
        catalog: Arc<FakeCatalog>,
        planner: Planner,
        policy: Policy,
    }

    fn setup(mode: Mode) -> Setup {
        let start = DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let clock = Arc::new(FakeClock(Mutex::new(start)));
        let catalog = Arc::new(FakeCatalog::default());
        let host = UpgradeConfig {
            mode,
            delay_secs: 14 * 86_400,
            health_deadline_secs: 600,
            ..Default::default()
        };
        Setup {
            planner: Planner {
                clock: clock.clone(),
                catalog: catalog.clone(),
            },
            policy: effective(&host, &NodePolicy::default()),
            clock,
            catalog,
        }
    }

    #[tokio::test]
    async fn waits_for_the_delay_then_upgrades() {
        let s = setup(Mode::Automatic);
        let mut record = Record::default();
        let node = view("1.0.0");
        assert_eq!(
            s.planner.plan(&s.policy, &node, &mut record).await.0,
            Action::Nothing
        );
        s.catalog.0.lock().unwrap().push(image("1.1.0", None));
        let (a, state) = s.planner.plan(&s.policy, &node, &mut record).await;
        assert_eq!(a, Action::Nothing);
        assert!(
            state.starts_with("waiting for 1.1.0 until 2026-11-15"),
            "{state}"
        );
        s.clock.advance(Duration::days(13));
        assert_eq!(
            s.planner.plan(&s.policy, &node, &mut record).await.0,
            Action::Nothing
        );
        s.clock.advance(Duration::days(1));
        assert_eq!(
            s.planner.plan(&s.policy, &node, &mut record).await.0,
            Action::Upgrade(image("1.1.0", None))
        );
    }

    #[tokio::test]
    async fn publication_time_counts_and_old_versions_are_ignored() {
        let s = setup(Mode::Automatic);
        let mut record = Record::default();
        let published = s.clock.now() - Duration::days(20);
        s.catalog
            .0
            .lock()
            .unwrap()
            .push(image("0.9.0", Some(published)));
        assert_eq!(
            s.planner
                .plan(&s.policy, &view("1.0.0"), &mut record)
                .await
                .1,
            "up to date"
        );
        s.catalog
            .0
            .lock()
            .unwrap()
            .push(image("1.2.0", Some(published)));
        assert!(matches!(
            s.planner.plan(&s.policy, &view("1.0.0"), &mut record).await.0,
            Action::Upgrade(i) if i.version == "1.2.0"
        ));
    }

    #[tokio::test]
    async fn manual_nodes_are_never_upgraded() {
        let s = setup(Mode::Automatic);
        let old = s.clock.now() - Duration::days(365);
        s.catalog.0.lock().unwrap().push(image("2.0.0", Some(old)));
        let mut record = Record {
            policy: NodePolicy {
                mode: Some(Mode::Manual),
                ..Default::default()
            },
            ..Default::default()
        };
        let policy = effective(
            &UpgradeConfig {
                mode: Mode::Automatic,
                ..Default::default()
            },
            &record.policy,
        );
        for _ in 0..3 {
            s.clock.advance(Duration::days(30));
            let (a, state) = s.planner.plan(&policy, &view("1.0.0"), &mut record).await;
            assert_eq!((a, state.as_str()), (Action::Nothing, "manual"));
        }
        // Host default manual, no node override: same.
        let s = setup(Mode::Manual);
        s.catalog.0.lock().unwrap().push(image("2.0.0", Some(old)));
        let mut record = Record::default();
        assert_eq!(
            s.planner
                .plan(&s.policy, &view("1.0.0"), &mut record)
                .await
                .0,
            Action::Nothing
        );
    }

    #[tokio::test]
    async fn unhealthy_by_the_deadline_is_rolled_back_and_blocked() {
        let s = setup(Mode::Automatic);
        let old = s.clock.now() - Duration::days(30);
        s.catalog.0.lock().unwrap().push(image("1.1.0", Some(old)));
        let mut record = Record::default();
        let before = view("1.0.0");
        let Action::Upgrade(target) = s.planner.plan(&s.policy, &before, &mut record).await.0
        else {
            panic!("expected an upgrade");
        };
        s.planner
            .upgraded(&s.policy, &before, &target, Ok(()), &mut record);
        let mut after = view("1.1.0");
        after.healthy = false;
        s.clock.advance(Duration::seconds(599));
        let (a, state) = s.planner.plan(&s.policy, &after, &mut record).await;
        assert_eq!(a, Action::Nothing);
        assert!(state.contains("to become healthy"), "{state}");
        s.clock.advance(Duration::seconds(1));
        let (a, _) = s.planner.plan(&s.policy, &after, &mut record).await;
        let Action::Rollback { to, reason } = a else {
            panic!("expected a rollback, got {a:?}");
        };
        assert_eq!(to, before.image);
        assert_eq!(reason, "1.1.0 was not healthy within 600 s");
        s.planner.rolled_back(&reason, Ok(()), &mut record);
        assert_eq!((record.rolled_back, record.upgraded), (1, 0));
        // The rolled-back version is not tried again; a newer one is.
        let (a, state) = s.planner.plan(&s.policy, &before, &mut record).await;
        assert_eq!(a, Action::Nothing);
        assert!(state.contains("rolled back"), "{state}");
        s.catalog.0.lock().unwrap().push(image("1.1.1", Some(old)));
        assert!(matches!(
            s.planner.plan(&s.policy, &before, &mut record).await.0,
            Action::Upgrade(i) if i.version == "1.1.1"
        ));
    }

    #[tokio::test]
    async fn healthy_in_time_is_confirmed() {
        let s = setup(Mode::Automatic);
        s.catalog
            .0
            .lock()
            .unwrap()
            .push(image("1.1.0", Some(s.clock.now() - Duration::days(15))));
        let mut record = Record::default();
        let before = view("1.0.0");
        let Action::Upgrade(target) = s.planner.plan(&s.policy, &before, &mut record).await.0
        else {
            panic!("expected an upgrade");
        };
        s.planner
            .upgraded(&s.policy, &before, &target, Ok(()), &mut record);
        s.clock.advance(Duration::seconds(30));
        assert_eq!(
            s.planner
                .plan(&s.policy, &view("1.1.0"), &mut record)
                .await
                .0,
            Action::Confirm
        );
        assert_eq!(record.upgraded, 1);
        assert!(record.pending.is_none());
        // A node stopped during its health check is not rolled back.
        let mut stopped = before.clone();
        stopped.running = false;
        let mut r2 = Record::default();
        s.planner
            .upgraded(&s.policy, &before, &target, Ok(()), &mut r2);
        s.clock.advance(Duration::hours(1));
        assert_eq!(
            s.planner.plan(&s.policy, &stopped, &mut r2).await.0,
            Action::Confirm
        );
        // A failed start (rolled back by the upgrade itself) blocks the version too.
        s.catalog
            .0
            .lock()
            .unwrap()
            .push(image("1.2.0", Some(s.clock.now() - Duration::days(15))));
        let node = view("1.1.0");
        let Action::Upgrade(t) = s.planner.plan(&s.policy, &node, &mut record).await.0 else {
            panic!("expected an upgrade");
        };
        s.planner.upgraded(
            &s.policy,
            &node,
            &t,
            Err("start failed".into()),
            &mut record,
        );
        assert_eq!(record.blocked_versions, ["1.2.0"]);
        assert_eq!(
            s.planner.plan(&s.policy, &node, &mut record).await.0,
            Action::Nothing
        );
    }

    #[tokio::test]
    async fn a_version_held_on_the_host_is_left_alone() {
        let s = setup(Mode::Automatic);
        let old = s.clock.now() - Duration::days(30);
        s.catalog.0.lock().unwrap().push(image("1.1.0", Some(old)));
        let mut record = Record::default();
        let mut node = view("1.0.0");
        node.held = vec!["1.1.0".into()];
        let (a, state) = s.planner.plan(&s.policy, &node, &mut record).await;
        assert_eq!(a, Action::Nothing);
        assert!(state.contains("1.1.0 is held on this host"), "{state}");
        s.catalog.0.lock().unwrap().push(image("1.1.1", Some(old)));
        assert!(matches!(
            s.planner.plan(&s.policy, &node, &mut record).await.0,
            Action::Upgrade(i) if i.version == "1.1.1"
        ));
    }
}
