use super::*;

/// Nodes in memory; every effect is recorded as a line.
#[derive(Default)]
struct FakeHost {
    nodes: Vec<(Member, bool)>,
    calls: Vec<String>,
    next_ip: u8,
    fail_create_at: Option<u32>,
    fail_ready: Option<String>,
    target_image: String,
}

impl FakeHost {
    fn new() -> Self {
        Self {
            next_ip: 10,
            target_image: "v2".into(),
            ..Default::default()
        }
    }
    fn find(&mut self, name: &str) -> &mut (Member, bool) {
        self.nodes
            .iter_mut()
            .find(|(m, _)| m.name == name)
            .expect("known member")
    }
    fn peers(&self, name: &str) -> String {
        self.nodes
            .iter()
            .find(|(m, _)| m.name == name)
            .map(|(m, _)| m.peers.clone())
            .unwrap_or_default()
    }
}

impl SetHost for FakeHost {
    async fn members(&mut self, set: &str) -> SetResult<Vec<Member>> {
        Ok(self
            .nodes
            .iter()
            .filter(|(m, _)| index_of(set, &m.name).is_some())
            .map(|(m, _)| m.clone())
            .collect())
    }
    async fn create(&mut self, set: &str, index: u32) -> SetResult<Member> {
        if self.fail_create_at == Some(index) {
            return Err(SetError::Member {
                member: member_name(set, index),
                error: "no space".into(),
            });
        }
        let m = Member {
            name: member_name(set, index),
            index,
            ip: format!("10.0.0.{}", self.next_ip),
            peers: String::new(),
            image: "v1".into(),
        };
        self.next_ip += 1;
        self.calls.push(format!("create {}", m.name));
        self.nodes.push((m.clone(), false));
        Ok(m)
    }
    async fn set_peers(&mut self, member: &Member, peers: &str) -> SetResult<()> {
        let running = self.find(&member.name).1;
        self.calls
            .push(format!("peers {} {peers} running={running}", member.name));
        self.find(&member.name).0.peers = peers.into();
        Ok(())
    }
    async fn start(&mut self, member: &Member) -> SetResult<()> {
        self.calls.push(format!("start {}", member.name));
        self.find(&member.name).1 = true;
        Ok(())
    }
    async fn delete(&mut self, member: &Member) -> SetResult<()> {
        self.calls.push(format!("delete {}", member.name));
        self.nodes.retain(|(m, _)| m.name != member.name);
        Ok(())
    }
    async fn upgrade(&mut self, member: &Member) -> SetResult<()> {
        self.calls.push(format!("upgrade {}", member.name));
        let image = self.target_image.clone();
        self.find(&member.name).0.image = image;
        Ok(())
    }
    async fn wait_ready(&mut self, member: &Member) -> SetResult<()> {
        self.calls.push(format!("ready {}", member.name));
        if self.fail_ready.as_deref() == Some(member.name.as_str()) {
            return Err(SetError::Member {
                member: member.name.clone(),
                error: "not healthy".into(),
            });
        }
        Ok(())
    }
}

fn run<T>(f: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(f)
}

#[test]
fn names_and_indexes() {
    check_name("xmr-1").unwrap();
    assert!(check_name("").is_err());
    assert!(check_name("Bad_Name").is_err());
    assert!(check_name(&"a".repeat(41)).is_err());
    assert_eq!(member_name("xmr", 3), "xmr-3");
    assert_eq!(index_of("xmr", "xmr-12"), Some(12));
    assert_eq!(index_of("xmr", "xmr-a"), None);
    assert_eq!(index_of("xmr", "xmrx-1"), None);
    assert_eq!(tag("xmr"), "bv-set=xmr");
}

#[test]
fn create_peers_everyone_before_starting() {
    let mut host = FakeHost::new();
    let members = run(create(&mut host, "xmr", 3)).unwrap();
    assert_eq!(members.len(), 3);
    assert_eq!(
        host.calls,
        vec![
            "create xmr-1",
            "create xmr-2",
            "create xmr-3",
            "peers xmr-1 10.0.0.11,10.0.0.12 running=false",
            "peers xmr-2 10.0.0.10,10.0.0.12 running=false",
            "peers xmr-3 10.0.0.10,10.0.0.11 running=false",
            "start xmr-1",
            "start xmr-2",
            "start xmr-3",
        ]
    );
    // a second create of the same set is refused
    let err = run(create(&mut host, "xmr", 2)).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
}

#[test]
fn failed_create_removes_what_it_made() {
    let mut host = FakeHost::new();
    host.fail_create_at = Some(2);
    let err = run(create(&mut host, "xmr", 3)).unwrap_err();
    assert!(
        err.to_string().contains("member `xmr-2`: no space"),
        "{err}"
    );
    assert!(host.nodes.is_empty());
    assert_eq!(host.calls, vec!["create xmr-1", "delete xmr-1"]);
}

#[test]
fn zero_members_and_bad_names_are_refused() {
    let mut host = FakeHost::new();
    assert!(matches!(
        run(create(&mut host, "xmr", 0)),
        Err(SetError::Empty)
    ));
    assert!(matches!(
        run(create(&mut host, "X", 1)),
        Err(SetError::BadName(_))
    ));
    assert!(matches!(
        run(scale(&mut host, "none", 2)),
        Err(SetError::NotFound(_))
    ));
    assert!(host.calls.is_empty());
}

#[test]
fn scale_up_starts_new_members_then_refreshes_the_others_one_by_one() {
    let mut host = FakeHost::new();
    run(create(&mut host, "xmr", 2)).unwrap();
    host.calls.clear();
    run(scale(&mut host, "xmr", 3)).unwrap();
    assert_eq!(
        host.calls,
        vec![
            "create xmr-3",
            "peers xmr-3 10.0.0.10,10.0.0.11 running=false",
            "start xmr-3",
            "peers xmr-1 10.0.0.11,10.0.0.12 running=true",
            "ready xmr-1",
            "peers xmr-2 10.0.0.10,10.0.0.12 running=true",
            "ready xmr-2",
        ]
    );
}

#[test]
fn scale_down_removes_highest_indexes_and_fills_gaps_on_the_way_up() {
    let mut host = FakeHost::new();
    run(create(&mut host, "xmr", 3)).unwrap();
    host.calls.clear();
    let left = run(scale(&mut host, "xmr", 1)).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(
        host.calls,
        vec![
            "delete xmr-3",
            "delete xmr-2",
            "peers xmr-1  running=true",
            "ready xmr-1"
        ]
    );
    assert_eq!(host.peers("xmr-1"), "");
    // scaling to the same size changes nothing
    host.calls.clear();
    run(scale(&mut host, "xmr", 1)).unwrap();
    assert!(host.calls.is_empty(), "{:?}", host.calls);
    // back up: indexes 2 and 3 are reused
    run(scale(&mut host, "xmr", 3)).unwrap();
    assert!(host.calls.contains(&"create xmr-2".to_string()));
    assert!(host.calls.contains(&"create xmr-3".to_string()));
}

#[test]
fn scale_plan_orders() {
    let m = |i: u32| Member {
        name: member_name("s", i),
        index: i,
        ip: String::new(),
        peers: String::new(),
        image: String::new(),
    };
    let members = vec![m(3), m(1), m(4)];
    assert_eq!(scale_plan(&members, 5).add, vec![2, 5]);
    let down = scale_plan(&members, 1);
    assert_eq!(down.remove, vec![m(4), m(3)]);
    assert!(down.add.is_empty());
}

#[test]
fn rolling_upgrade_goes_one_by_one_and_stops_at_the_first_failure() {
    let mut host = FakeHost::new();
    run(create(&mut host, "xmr", 3)).unwrap();
    host.calls.clear();
    host.fail_ready = Some("xmr-2".into());
    let err = run(upgrade(&mut host, "xmr", "v2")).unwrap_err();
    assert!(
        err.to_string().contains("member `xmr-2`: not healthy"),
        "{err}"
    );
    assert_eq!(
        host.calls,
        vec![
            "upgrade xmr-1",
            "ready xmr-1",
            "upgrade xmr-2",
            "ready xmr-2"
        ]
    );
    // re-running resumes: xmr-1 and xmr-2 are on v2 already
    host.calls.clear();
    host.fail_ready = None;
    run(upgrade(&mut host, "xmr", "v2")).unwrap();
    assert_eq!(host.calls, vec!["upgrade xmr-3", "ready xmr-3"]);
}

#[test]
fn delete_removes_every_member() {
    let mut host = FakeHost::new();
    run(create(&mut host, "xmr", 2)).unwrap();
    run(create(&mut host, "other", 1)).unwrap();
    let gone = run(delete(&mut host, "xmr")).unwrap();
    assert_eq!(gone.len(), 2);
    assert_eq!(host.nodes.len(), 1);
    assert!(matches!(
        run(delete(&mut host, "xmr")),
        Err(SetError::NotFound(_))
    ));
}
