//! The binary: one command starts the server on a fresh data dir (DB, storage, admin token,
//! address file), and `bv-api provision-token` makes a token a host can register with.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use babel_api::pb::api::v1 as pb;
use common::{Bearer, Clients, bearer};

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn binary_starts_and_provisions_hosts() {
    let dir = tempfile::Builder::new()
        .prefix("bvapi")
        .tempdir_in("/tmp")
        .expect("tmp");
    let exe = env!("CARGO_BIN_EXE_bv-api");
    let _server = Child(
        Command::new(exe)
            .args(["--data-dir"])
            .arg(dir.path())
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn bv-api"),
    );
    let address_file = dir.path().join("address");
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        if let Ok(text) = std::fs::read_to_string(&address_file)
            && text.ends_with('\n')
        {
            break text.trim().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "bv-api did not write {}",
            address_file.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        addr.starts_with("127.0.0.1:"),
        "binds loopback by default: {addr}"
    );
    for file in ["admin.token", "admin.password", "master.key"] {
        let meta = std::fs::metadata(dir.path().join(file)).expect(file);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o077, 0, "{file} is private");
    }
    assert!(dir.path().join("api.db").exists());
    let admin_token = std::fs::read_to_string(dir.path().join("admin.token")).expect("token");

    let out = Command::new(exe)
        .args(["--data-dir"])
        .arg(dir.path())
        .arg("provision-token")
        .output()
        .expect("run provision-token");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let provision = String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_string();
    assert!(provision.starts_with("bvp_"), "{provision}");

    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let mut anon = Clients::new(channel.clone(), Bearer(None));
    let reg = anon
        .hosts
        .register_host(pb::RegisterHostRequest {
            provision_token: provision,
            network_name: "cli-host".into(),
            ..Default::default()
        })
        .await
        .expect("register with CLI token")
        .into_inner();
    let mut admin = Clients::new(channel, bearer(admin_token.trim()));
    let hosts = admin
        .hosts
        .list_hosts(pb::ListHostsRequest::default())
        .await
        .expect("list hosts")
        .into_inner();
    assert_eq!(hosts.total, 1);
    assert_eq!(hosts.hosts[0].host_id, reg.host.expect("host").host_id);
}
