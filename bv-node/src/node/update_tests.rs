//! `Node::update` against fakes: firewall re-applied in place, properties reach the plugin,
//! bad input and failures leave the node as it was.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use uuid::Uuid;

use super::agent::fake::FakeConnector;
use super::state::{NodeState, Status, sample};
use super::update::NodeUpdate;
use super::{ErrorKind, Node, Services};
use bv_host::config::Config;
use bv_host::container::fake::FakeRuntime;
use bv_host::container::spec::Network;
use bv_host::net::firewall::{Firewall, FirewallRule};
use bv_host::net::{NetError, NodeNet, NodeNetwork};
use bv_host::rootfs::fake::FakeRootfs;

#[derive(Debug, Default)]
struct RecordingNet {
    calls: Mutex<Vec<String>>,
    fail_firewall: Mutex<bool>,
}

#[async_trait]
impl NodeNetwork for RecordingNet {
    async fn setup(&self, node_id: &str, net: &NodeNet) -> Result<Network, NetError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("setup {node_id} {}", net.ip));
        Ok(Network::Host)
    }
    async fn teardown(&self, node_id: &str) -> Result<(), NetError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("teardown {node_id}"));
        Ok(())
    }
    async fn leftovers(&self, _node_id: &str) -> Vec<String> {
        vec![]
    }
    async fn apply_firewall(&self, node_id: &str, fw: &Firewall) -> Result<(), NetError> {
        if *self.fail_firewall.lock().unwrap() {
            return Err(NetError::Failed {
                command: "nft".into(),
                stderr: "no such netns".into(),
            });
        }
        let rules: Vec<_> = fw.rules.iter().map(|r| r.name.as_str()).collect();
        self.calls.lock().unwrap().push(format!(
            "firewall {node_id} in={} rules={}",
            fw.default_in,
            rules.join(",")
        ));
        Ok(())
    }
}

fn services(dir: &tempfile::TempDir, net: Arc<RecordingNet>) -> Arc<Services> {
    let config = Config {
        root: dir.path().join("root"),
        ..Default::default()
    };
    std::fs::create_dir_all(config.nodes_dir()).unwrap();
    let (scheduler, _rx) = bv_host::scheduler::Scheduler::new();
    Arc::new(Services {
        config,
        runtime: Arc::new(FakeRuntime::default()),
        rootfs: Arc::new(FakeRootfs {
            plugin: "fn color() { node_params()[\"color\"] }\n".into(),
            ..Default::default()
        }),
        agents: Arc::new(FakeConnector::default()),
        network: net,
        babel_dir: dir.path().join("babel"),
        init_binary: dir.path().join("bv-init"),
        scheduler: Arc::new(scheduler),
        cloud: Default::default(),
    })
}

fn bridged() -> NodeState {
    let mut s = sample(Uuid::new_v4(), "node-u");
    s.host_network = false;
    s.ip = "10.77.0.5".into();
    s.gateway = "10.77.0.1".into();
    s.properties.insert("color".into(), "red".into());
    s
}

fn allow(name: &str, port: u32) -> FirewallRule {
    FirewallRule {
        name: name.into(),
        action: "allow".into(),
        direction: "in".into(),
        protocol: Some("tcp".into()),
        ips: vec![],
        ports: vec![port],
    }
}

#[tokio::test]
async fn firewall_and_properties_change_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let net = Arc::new(RecordingNet::default());
    let mut node = Node::create(services(&dir, net.clone()), bridged())
        .await
        .unwrap();
    let id = node.container_id();
    node.start().await.unwrap();
    assert_eq!(
        net.calls.lock().unwrap().clone(),
        [
            format!("setup {id} 10.77.0.5"),
            format!("firewall {id} in=reject rules=")
        ]
    );
    assert_eq!(node.run_method("color", "").await.unwrap(), "red");

    let fw = Firewall {
        default_in: "deny".into(),
        default_out: "allow".into(),
        rules: vec![allow("p2p", 30303)],
    };
    node.update(NodeUpdate {
        firewall: Some(fw.clone()),
        display_name: Some("Node U".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(
        net.calls.lock().unwrap().last().unwrap(),
        &format!("firewall {id} in=deny rules=p2p")
    );
    // Applied to the running node: no restart, no new container.
    assert_eq!(node.status().await, Status::Running);
    let saved = NodeState::load(&node.paths.dir).unwrap();
    assert_eq!(
        (saved.firewall, saved.display_name.as_str()),
        (fw.clone(), "Node U")
    );

    node.update(NodeUpdate {
        properties: [("color".to_string(), "blue".to_string())].into(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(node.run_method("color", "").await.unwrap(), "blue");
    assert!(node.state.initialized);
    assert_eq!(node.status().await, Status::Running);
    assert_eq!(
        NodeState::load(&node.paths.dir).unwrap().properties["color"],
        "blue"
    );
}

#[tokio::test]
async fn bad_or_failing_updates_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let net = Arc::new(RecordingNet::default());
    let mut node = Node::create(services(&dir, net.clone()), bridged())
        .await
        .unwrap();
    node.start().await.unwrap();
    let before = node.state.clone();
    let calls = net.calls.lock().unwrap().len();

    let mut bad = allow("p2p", 30303);
    bad.ips = vec!["not-an-ip".into()];
    let err = node
        .update(NodeUpdate {
            firewall: Some(Firewall {
                rules: vec![bad],
                ..Firewall::default()
            }),
            properties: [("color".to_string(), "green".to_string())].into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        err.kind() == ErrorKind::InvalidArgument && err.to_string().contains("not-an-ip"),
        "{err}"
    );
    assert_eq!(node.state, before);
    assert_eq!(net.calls.lock().unwrap().len(), calls);

    *net.fail_firewall.lock().unwrap() = true;
    let err = node
        .update(NodeUpdate {
            firewall: Some(Firewall {
                rules: vec![allow("rpc", 8545)],
                ..Firewall::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no such netns"), "{err}");
    assert_eq!(node.state.firewall, before.firewall);
    assert_eq!(NodeState::load(&node.paths.dir).unwrap(), before);
    *net.fail_firewall.lock().unwrap() = false;

    node.state.expected_status = Status::Failed;
    let err = node
        .update(NodeUpdate {
            display_name: Some("x".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Failed"), "{err}");
}
