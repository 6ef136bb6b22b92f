//! End to end through the generated gRPC clients, the way `nib` and a host use the API:
//! login + API key, protocol and image push, host registration with a provision token,
//! node creation delivered on the host's command stream, status reports, archive upload and
//! download through the signed chunk URLs, and secrets. Runs on SQLite and PostgreSQL.

mod common;

use babel_api::pb::api::v1 as pb;
use babel_api::pb::babel::v1 as bpb;
use common::flows::{
    complete, key, next_command, nib_login, nib_push, node_command, register_host,
};
use common::{Bearer, Clients, Harness, bearer};
use tonic::Code;

/// Creates a node by variant; the host gets Create on its stream, reports Running; a Stop
/// is re-delivered after a reconnect until it has a result.
async fn node_lifecycle(admin: &mut Clients, host: &mut Clients, host_id: &str) -> pb::Node {
    let mut stream = host
        .commands
        .stream(pb::StreamCommandsRequest::default())
        .await
        .expect("open stream")
        .into_inner();
    let selector = pb::ImageSelector {
        version_key: Some(key("testing", "busybox-dev-node")),
        semantic_version: None,
        build_version: None,
    };
    let disallowed = admin
        .nodes
        .create(pb::CreateNodeRequest {
            image: Some(pb::create_node_request::Image::Selector(selector.clone())),
            new_values: vec![pb::NodePropertyValue {
                key: "network".into(),
                value: "test".into(),
                has_changed: true,
            }],
            host_id: Some(host_id.into()),
            ..Default::default()
        })
        .await;
    assert_eq!(
        disallowed.map_err(|e| e.code()).err(),
        Some(Code::FailedPrecondition)
    );
    let created = admin
        .nodes
        .create(pb::CreateNodeRequest {
            image: Some(pb::create_node_request::Image::Selector(selector)),
            new_values: vec![pb::NodePropertyValue {
                key: "greeting".into(),
                value: "hi".into(),
                has_changed: true,
            }],
            host_id: Some(host_id.into()),
            ..Default::default()
        })
        .await
        .expect("create node")
        .into_inner()
        .nodes;
    assert_eq!(created.len(), 1);
    let node = created[0].clone();
    let cfg = node.config.clone().expect("config");
    let image_cfg = cfg.image.expect("image config");
    assert_eq!(image_cfg.store_key, "testing-dev");
    assert!(!image_cfg.archive_id.is_empty());
    assert_eq!(image_cfg.image_uri, "docker-daemon://busybox:latest");
    let values: Vec<_> = image_cfg
        .values
        .iter()
        .map(|v| (v.key.as_str(), v.value.as_str()))
        .collect();
    assert_eq!(values, [("greeting", "hi"), ("network", "dev")]);
    assert_eq!(cfg.vm.expect("vm").cpu_cores, 1);

    let cmd = next_command(&mut stream).await;
    match node_command(&cmd) {
        pb::node_command::Command::Create(c) => {
            assert_eq!(
                c.node.as_ref().map(|n| n.node_id.as_str()),
                Some(node.node_id.as_str())
            );
        }
        other => panic!("expected Create, got {other:?}"),
    }
    complete(host, &cmd).await;
    host.nodes
        .report_status(pb::ReportNodeStatusRequest {
            node_id: node.node_id.clone(),
            config_id: Some(node.config_id.clone()),
            status: Some(pb::NodeStatus {
                state: pb::NodeState::Running as i32,
                ..Default::default()
            }),
            p2p_address: Some("/ip4/10.0.0.5/tcp/30303".into()),
            ip_address: Some("10.0.0.5".into()),
            ip_gateway: None,
            upgrade_waiting: None,
        })
        .await
        .expect("report status");
    let seen = admin
        .nodes
        .get(pb::GetNodeRequest {
            node_id: node.node_id.clone(),
        })
        .await
        .expect("get node")
        .into_inner();
    assert_eq!(
        seen.status.as_ref().map(|s| s.state),
        Some(pb::NodeState::Running as i32)
    );
    assert_eq!(seen.ip_address, "10.0.0.5");

    admin
        .nodes
        .stop(pb::NodeIdRequest {
            node_id: node.node_id.clone(),
        })
        .await
        .expect("stop");
    let stop = next_command(&mut stream).await;
    assert!(matches!(
        node_command(&stop),
        pb::node_command::Command::Stop(_)
    ));
    // The host drops the stream before reporting a result: it gets Stop again.
    drop(stream);
    let mut stream = host
        .commands
        .stream(pb::StreamCommandsRequest::default())
        .await
        .expect("reopen stream")
        .into_inner();
    let again = next_command(&mut stream).await;
    assert_eq!(again.command_id, stop.command_id);
    complete(host, &again).await;
    let pending = host
        .commands
        .pending(pb::PendingCommandsRequest::default())
        .await
        .expect("pending")
        .into_inner()
        .commands;
    assert!(pending.is_empty(), "{pending:?}");
    seen
}

fn checksum(data: &[u8]) -> bpb::Checksum {
    bpb::Checksum {
        kind: Some(bpb::checksum::Kind::Blake3(
            blake3::hash(data).as_bytes().to_vec(),
        )),
    }
}

/// Upload through slots + PUT + manifest, then metadata + chunks + GET, byte-identical.
async fn archives(host: &mut Clients, node: &pb::Node) {
    let archive_id = node
        .config
        .as_ref()
        .and_then(|c| c.image.as_ref())
        .map(|i| i.archive_id.clone())
        .expect("archive id");
    let archive = Some(pb::ArchiveRef {
        archive: Some(pb::archive_ref::Archive::ArchiveId(archive_id.clone())),
    });
    let none = host
        .archives
        .get_download_metadata(pb::GetDownloadMetadataRequest {
            archive: archive.clone(),
            data_version: None,
        })
        .await;
    assert_eq!(none.map_err(|e| e.code()).err(), Some(Code::NotFound));
    let slots = host
        .archives
        .get_upload_slots(pb::GetUploadSlotsRequest {
            archive: archive.clone(),
            data_version: None,
            slot_indexes: vec![0, 1, 2],
            url_expires_secs: Some(600),
        })
        .await
        .expect("slots")
        .into_inner();
    assert_eq!(slots.data_version, 1);
    assert_eq!(slots.slots.len(), 3);
    let http = reqwest::Client::new();
    let payloads: Vec<Vec<u8>> = (0..3u8)
        .map(|i| {
            (0..50_000u32)
                .map(|n| (n as u8).wrapping_mul(i + 7))
                .collect()
        })
        .collect();
    let mut chunks = Vec::new();
    for (slot, data) in slots.slots.iter().zip(&payloads) {
        let resp = http
            .put(&slot.url)
            .body(data.clone())
            .send()
            .await
            .expect("PUT chunk");
        assert!(
            resp.status().is_success(),
            "PUT {}: {}",
            slot.url,
            resp.status()
        );
        chunks.push(bpb::Chunk {
            index: slot.index + 10,
            key: slot.key.clone(),
            url: None,
            checksum: Some(checksum(data)),
            size: data.len() as u64,
            destinations: vec![bpb::FileLocation {
                path: format!("data/file{}", slot.index),
                pos: 0,
                size: data.len() as u64,
                mode: Some(0o640),
            }],
        });
    }
    // A PUT URL does not allow GET, and a tampered signature is refused.
    let first = &slots.slots[0].url;
    let get_with_put = http
        .get(first.replace("op=put", "op=get"))
        .send()
        .await
        .expect("GET");
    assert_eq!(get_with_put.status(), reqwest::StatusCode::FORBIDDEN);
    let tampered = format!("{}x", first);
    let resp = http.put(tampered).body("evil").send().await.expect("PUT");
    assert_eq!(resp.status(), reqwest::StatusCode::FORBIDDEN);
    let foreign = host
        .archives
        .put_download_manifest(pb::PutDownloadManifestRequest {
            archive: archive.clone(),
            data_version: 1,
            manifest: Some(bpb::DownloadManifest {
                total_size: 1,
                compression: None,
                chunks: vec![bpb::Chunk {
                    key: "other-archive/1/chunk-00000000".into(),
                    ..Default::default()
                }],
            }),
        })
        .await;
    assert_eq!(
        foreign.map_err(|e| e.code()).err(),
        Some(Code::InvalidArgument)
    );
    host.archives
        .put_download_manifest(pb::PutDownloadManifestRequest {
            archive: archive.clone(),
            data_version: 1,
            manifest: Some(bpb::DownloadManifest {
                total_size: 150_000,
                compression: Some(bpb::Compression {
                    kind: Some(bpb::compression::Kind::Zstd(3)),
                }),
                chunks,
            }),
        })
        .await
        .expect("manifest");
    let meta = host
        .archives
        .get_download_metadata(pb::GetDownloadMetadataRequest {
            archive: Some(pb::ArchiveRef {
                archive: Some(pb::archive_ref::Archive::StoreKey("testing-dev".into())),
            }),
            data_version: None,
        })
        .await
        .expect("metadata")
        .into_inner();
    assert_eq!(
        (meta.chunks, meta.data_version, meta.total_size),
        (3, 1, 150_000)
    );
    assert!(meta.compression.is_some());
    let got = host
        .archives
        .get_download_chunks(pb::GetDownloadChunksRequest {
            archive: archive.clone(),
            data_version: 1,
            chunk_indexes: vec![2, 0, 1],
            url_expires_secs: None,
        })
        .await
        .expect("chunks")
        .into_inner()
        .chunks;
    assert_eq!(
        got.iter().map(|c| c.index).collect::<Vec<_>>(),
        [2, 0, 1],
        "renumbered by position"
    );
    for chunk in &got {
        let data = &payloads[chunk.index as usize];
        assert_eq!(chunk.checksum, Some(checksum(data)));
        let url = chunk.url.as_ref().expect("url");
        let body = http
            .get(url)
            .send()
            .await
            .expect("GET")
            .bytes()
            .await
            .expect("body");
        assert_eq!(
            body.as_ref(),
            data.as_slice(),
            "chunk {} byte-identical",
            chunk.index
        );
    }
    let done_again = host
        .archives
        .get_upload_slots(pb::GetUploadSlotsRequest {
            archive: archive.clone(),
            data_version: Some(1),
            slot_indexes: vec![0],
            url_expires_secs: None,
        })
        .await;
    assert_eq!(
        done_again.map_err(|e| e.code()).err(),
        Some(Code::AlreadyExists)
    );
    let next = host
        .archives
        .get_upload_slots(pb::GetUploadSlotsRequest {
            archive,
            data_version: None,
            slot_indexes: vec![0],
            url_expires_secs: None,
        })
        .await
        .expect("new version")
        .into_inner();
    assert_eq!(next.data_version, 2);
}

async fn secrets(h: &Harness, host: &mut Clients, other_host: &mut Clients, node_id: &str) {
    host.secrets
        .put_secret(pb::PutSecretRequest {
            node_id: node_id.into(),
            name: "validator-key".into(),
            value: b"super secret value".to_vec(),
        })
        .await
        .expect("put secret");
    let got = host
        .secrets
        .get_secret(pb::GetSecretRequest {
            node_id: node_id.into(),
            name: "validator-key".into(),
        })
        .await
        .expect("get secret")
        .into_inner();
    assert_eq!(got.value, b"super secret value");
    let missing = host
        .secrets
        .get_secret(pb::GetSecretRequest {
            node_id: node_id.into(),
            name: "nope".into(),
        })
        .await;
    assert_eq!(missing.map_err(|e| e.code()).err(), Some(Code::NotFound));
    let foreign = other_host
        .secrets
        .get_secret(pb::GetSecretRequest {
            node_id: node_id.into(),
            name: "validator-key".into(),
        })
        .await;
    assert_eq!(foreign.map_err(|e| e.code()).err(), Some(Code::NotFound));
    // At rest the value is encrypted.
    let db = api::db::Db::connect(&h.database_url).await.expect("db");
    let stored = api::db::secrets::get(&db, node_id, "validator-key")
        .await
        .expect("row")
        .expect("stored");
    assert!(!stored.contains("super secret"));
    db.pool.close().await;
}

async fn scenario(h: &Harness) {
    let mut anon = Clients::new(h.channel().await, Bearer(None));
    let unauth = anon
        .protocols
        .list_protocols(pb::ListProtocolsRequest::default())
        .await;
    assert_eq!(
        unauth.map_err(|e| e.code()).err(),
        Some(Code::Unauthenticated)
    );
    let mut bogus = Clients::new(h.channel().await, bearer("bva_forged"));
    let forged = bogus
        .protocols
        .add_protocol(pb::AddProtocolRequest {
            key: "x".into(),
            name: "x".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(
        forged.map_err(|e| e.code()).err(),
        Some(Code::Unauthenticated)
    );

    let nib_key = nib_login(h, &mut anon).await;
    let mut nib = Clients::new(h.channel().await, bearer(&nib_key));
    nib_push(&mut nib).await;

    let mut admin = Clients::new(h.channel().await, bearer(&h.admin_token));
    let (host, mut host_client) = register_host(h, &mut admin, "host-a").await;
    let (_, mut other_host) = register_host(h, &mut admin, "host-b").await;
    let node = node_lifecycle(&mut admin, &mut host_client, &host.host_id).await;
    // A host cannot see other hosts' nodes.
    let hidden = other_host
        .nodes
        .get(pb::GetNodeRequest {
            node_id: node.node_id.clone(),
        })
        .await;
    assert_eq!(hidden.map_err(|e| e.code()).err(), Some(Code::NotFound));
    archives(&mut host_client, &node).await;
    secrets(h, &mut host_client, &mut other_host, &node.node_id).await;

    let mut stream = host_client
        .commands
        .stream(pb::StreamCommandsRequest::default())
        .await
        .expect("stream")
        .into_inner();
    admin
        .nodes
        .delete(pb::NodeIdRequest {
            node_id: node.node_id.clone(),
        })
        .await
        .expect("delete");
    let del = next_command(&mut stream).await;
    assert!(matches!(
        node_command(&del),
        pb::node_command::Command::Delete(_)
    ));
    complete(&mut host_client, &del).await;
    let gone = admin
        .nodes
        .get(pb::GetNodeRequest {
            node_id: node.node_id.clone(),
        })
        .await
        .expect("get deleted")
        .into_inner();
    assert_eq!(
        gone.status.map(|s| s.state),
        Some(pb::NodeState::Deleted as i32)
    );
    let listed = admin
        .nodes
        .list(pb::ListNodesRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.total, 0);
    let online = admin
        .hosts
        .get_host(pb::GetHostRequest {
            host_id: host.host_id.clone(),
        })
        .await
        .expect("host")
        .into_inner();
    assert!(online.online, "host holds a stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_end_to_end() {
    let h = Harness::sqlite().await;
    scenario(&h).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_end_to_end() {
    let Some(h) = Harness::postgres().await else {
        return;
    };
    scenario(&h).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_data_and_admin_token() {
    let h = Harness::sqlite().await;
    let dir = h.data_dir.path().to_path_buf();
    let token = h.admin_token.clone();
    let mut admin = Clients::new(h.channel().await, bearer(&token));
    admin
        .protocols
        .add_protocol(pb::AddProtocolRequest {
            key: "kept".into(),
            name: "Kept".into(),
            ..Default::default()
        })
        .await
        .expect("add");
    let Harness {
        server, data_dir, ..
    } = h;
    server.shutdown().await.expect("shutdown");
    let again = api::server::start(api::config::Config::new(dir.clone()))
        .await
        .expect("restart");
    assert!(again.new_admin_token.is_none());
    let file = std::fs::read_to_string(dir.join("admin.token")).expect("token file");
    assert_eq!(file.trim(), token);
    let channel = tonic::transport::Channel::from_shared(again.url())
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let mut admin = Clients::new(channel, bearer(&token));
    let got = admin
        .protocols
        .get_protocol(pb::GetProtocolRequest {
            protocol: Some(pb::get_protocol_request::Protocol::ProtocolKey(
                "kept".into(),
            )),
        })
        .await
        .expect("still there")
        .into_inner();
    assert_eq!(got.name, "Kept");
    again.shutdown().await.expect("shutdown");
    drop(data_dir);
}
