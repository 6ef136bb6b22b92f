//! The flows several API tests share: nib login and image push, host registration,
//! reading and completing commands.

use std::time::Duration;

use babel_api::pb::api::v1 as pb;
use tonic::Code;

use super::{Bearer, Clients, Harness, bearer};

pub fn key(p: &str, v: &str) -> pb::ProtocolVersionKey {
    pb::ProtocolVersionKey {
        protocol_key: p.into(),
        variant_key: v.into(),
    }
}

pub fn prop(
    key: &str,
    group: Option<&str>,
    value: &str,
    default: bool,
    new_archive: bool,
    ui: pb::UiType,
) -> pb::ImageProperty {
    pb::ImageProperty {
        key: key.into(),
        key_group: group.map(Into::into),
        is_group_default: default,
        new_archive,
        default_value: value.into(),
        dynamic_value: group.is_none(),
        ui_type: ui as i32,
        ..Default::default()
    }
}

/// `nib login`: email + password, then an API key with the nib scopes.
pub async fn nib_login(h: &Harness, anon: &mut Clients) -> String {
    let password =
        std::fs::read_to_string(h.data_dir.path().join("admin.password")).expect("admin.password");
    let bad = anon
        .auth
        .login(pb::LoginRequest {
            email: "admin@localhost".into(),
            password: "wrong".into(),
        })
        .await;
    assert_eq!(bad.map_err(|e| e.code()).err(), Some(Code::Unauthenticated));
    let session = anon
        .auth
        .login(pb::LoginRequest {
            email: "admin@localhost".into(),
            password: password.trim().into(),
        })
        .await
        .expect("login")
        .into_inner();
    let mut user = Clients::new(h.channel().await, bearer(&session.token));
    let key = user
        .keys
        .create(pb::CreateApiKeyRequest {
            label: "nib_token".into(),
            scopes: [
                "protocol:read",
                "protocol:write",
                "image:read",
                "image:write",
            ]
            .map(String::from)
            .to_vec(),
        })
        .await
        .expect("api key")
        .into_inner();
    let who = Clients::new(h.channel().await, bearer(&key.api_key))
        .auth
        .who_am_i(pb::WhoAmIRequest {})
        .await
        .expect("whoami")
        .into_inner();
    assert_eq!(who.kind, pb::PrincipalKind::ApiKey as i32);
    assert!(!who.admin);
    key.api_key
}

/// `nib protocol push` + `nib image push`; returns the second image build.
pub async fn nib_push(nib: &mut Clients) -> pb::Image {
    let protocol = nib
        .protocols
        .add_protocol(pb::AddProtocolRequest {
            key: "testing".into(),
            name: "Testing protocol".into(),
            ..Default::default()
        })
        .await
        .expect("add protocol")
        .into_inner();
    assert_eq!(protocol.visibility, pb::Visibility::Private as i32);
    let dup = nib
        .protocols
        .add_protocol(pb::AddProtocolRequest {
            key: "testing".into(),
            name: "again".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(dup.map_err(|e| e.code()).err(), Some(Code::AlreadyExists));
    let bad = nib
        .protocols
        .add_protocol(pb::AddProtocolRequest {
            key: "Not_Kebab".into(),
            name: "x".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(bad.map_err(|e| e.code()).err(), Some(Code::InvalidArgument));
    let updated = nib
        .protocols
        .update_protocol(pb::UpdateProtocolRequest {
            protocol_id: protocol.protocol_id.clone(),
            visibility: Some(pb::Visibility::Public as i32),
            ..Default::default()
        })
        .await
        .expect("update protocol")
        .into_inner();
    assert_eq!(updated.visibility, pb::Visibility::Public as i32);

    let vkey = key("testing", "busybox-dev-node");
    let missing = nib
        .protocols
        .get_latest(pb::GetLatestRequest {
            version_key: Some(vkey.clone()),
            org_id: None,
        })
        .await;
    assert_eq!(missing.map_err(|e| e.code()).err(), Some(Code::NotFound));
    for ver in ["0.1.0", "0.10.0", "0.2.0"] {
        nib.protocols
            .add_version(pb::AddVersionRequest {
                version_key: Some(vkey.clone()),
                semantic_version: ver.into(),
                sku_code: "TST-BB-DEV".into(),
                metadata: vec![pb::VersionMetadata {
                    metadata_key: "network".into(),
                    value: "dev".into(),
                    description: None,
                }],
                ..Default::default()
            })
            .await
            .expect("add version");
    }
    let latest = nib
        .protocols
        .get_latest(pb::GetLatestRequest {
            version_key: Some(vkey.clone()),
            org_id: None,
        })
        .await
        .expect("latest")
        .into_inner();
    assert_eq!(
        latest.semantic_version, "0.10.0",
        "semver order, not text order"
    );
    assert_eq!(latest.metadata.len(), 1);

    let add = pb::AddImageRequest {
        protocol_version_id: latest.protocol_version_id.clone(),
        image_uri: "docker-daemon://busybox:latest".into(),
        min_cpu_cores: 1,
        min_memory_bytes: 100_000_000,
        min_disk_bytes: 1_000_000_000,
        min_babel_version: "0.1.0".into(),
        properties: vec![
            prop("greeting", None, "hello", false, false, pb::UiType::Text),
            prop(
                "network-dev",
                Some("network"),
                "dev",
                true,
                true,
                pb::UiType::Enum,
            ),
            prop(
                "network-test",
                Some("network"),
                "test",
                false,
                true,
                pb::UiType::Enum,
            ),
        ],
        archive_pointers: vec![
            pb::ArchivePointer {
                new_archive_keys: vec!["network-dev".into()],
                pointer: Some(pb::archive_pointer::Pointer::StoreKey("testing-dev".into())),
            },
            pb::ArchivePointer {
                new_archive_keys: vec!["network-test".into()],
                pointer: Some(pb::archive_pointer::Pointer::Disallowed(true)),
            },
        ],
        firewall: Some(pb::FirewallConfig {
            default_in: pb::FirewallAction::Deny as i32,
            default_out: pb::FirewallAction::Allow as i32,
            rules: vec![pb::FirewallRule {
                key: "p2p".into(),
                protocol: pb::FirewallProtocol::Tcp as i32,
                direction: pb::FirewallDirection::Inbound as i32,
                action: pb::FirewallAction::Allow as i32,
                ports: vec![pb::PortName {
                    port: 30303,
                    name: None,
                }],
                ..Default::default()
            }],
        }),
        ..Default::default()
    };
    let first = nib
        .images
        .add_image(add.clone())
        .await
        .expect("add image")
        .into_inner();
    assert_eq!(first.build_version, 1);
    let second = nib
        .images
        .add_image(add)
        .await
        .expect("add image")
        .into_inner();
    assert_eq!(second.build_version, 2);
    let got = nib
        .images
        .get_image(pb::GetImageRequest {
            version_key: Some(vkey.clone()),
            ..Default::default()
        })
        .await
        .expect("get image")
        .into_inner();
    assert_eq!(got.image_id, second.image_id);
    assert_eq!(got.semantic_version, "0.10.0");
    assert_eq!(got.properties.len(), 3);
    let pinned = nib
        .images
        .get_image(pb::GetImageRequest {
            version_key: Some(vkey.clone()),
            semantic_version: Some("0.10.0".into()),
            build_version: Some(1),
            org_id: None,
        })
        .await
        .expect("get build 1")
        .into_inner();
    assert_eq!(pinned.image_id, first.image_id);
    let shown = nib
        .images
        .update_image(pb::UpdateImageRequest {
            image_id: second.image_id.clone(),
            visibility: Some(pb::Visibility::Public as i32),
        })
        .await
        .expect("update image")
        .into_inner();
    assert_eq!(shown.visibility, pb::Visibility::Public as i32);
    let archives = nib
        .images
        .list_archives(pb::ListArchivesRequest {
            image_id: second.image_id.clone(),
        })
        .await
        .expect("archives")
        .into_inner()
        .archives;
    assert_eq!(archives.len(), 1);
    assert_eq!(archives[0].store_key, "testing-dev");
    // The nib key has no node scope.
    let denied = nib.nodes.list(pb::ListNodesRequest::default()).await;
    assert_eq!(
        denied.map_err(|e| e.code()).err(),
        Some(Code::PermissionDenied)
    );
    shown
}

/// Admin makes a provision token; the host registers with it (no other credential).
pub async fn register_host(h: &Harness, admin: &mut Clients, name: &str) -> (pb::Host, Clients) {
    let (host, token) = register_host_token(h, admin, name).await;
    (host, Clients::new(h.channel().await, bearer(&token)))
}

/// As [`register_host`], returning the host's token.
pub async fn register_host_token(
    h: &Harness,
    admin: &mut Clients,
    name: &str,
) -> (pb::Host, String) {
    let provision = admin
        .hosts
        .create_provision_token(pb::CreateProvisionTokenRequest::default())
        .await
        .expect("provision token")
        .into_inner()
        .provision_token;
    let mut anon = Clients::new(h.channel().await, Bearer(None));
    let reg = pb::RegisterHostRequest {
        provision_token: provision.clone(),
        network_name: name.into(),
        bv_version: "0.1.0".into(),
        os: "debian".into(),
        os_version: "12".into(),
        cpu_cores: 2,
        memory_bytes: 4_000_000_000,
        disk_bytes: 100_000_000_000,
        ip_address: "10.0.0.2".into(),
        ip_gateway: "10.0.0.1".into(),
        ..Default::default()
    };
    let resp = anon
        .hosts
        .register_host(reg.clone())
        .await
        .expect("register")
        .into_inner();
    let again = anon.hosts.register_host(reg).await;
    assert_eq!(
        again.map_err(|e| e.code()).err(),
        Some(Code::Unauthenticated),
        "provision tokens are single-use"
    );
    let host = resp.host.expect("host");
    (host, resp.token)
}

pub async fn next_command(stream: &mut tonic::Streaming<pb::Command>) -> pb::Command {
    tokio::time::timeout(Duration::from_secs(20), stream.message())
        .await
        .expect("a command arrives in time")
        .expect("stream ok")
        .expect("stream open")
}

pub fn node_command(cmd: &pb::Command) -> &pb::node_command::Command {
    match &cmd.command {
        Some(pb::command::Command::Node(n)) => n.command.as_ref().expect("node command"),
        other => panic!("expected a node command, got {other:?}"),
    }
}

pub async fn complete(host: &mut Clients, cmd: &pb::Command) {
    host.commands
        .ack(pb::AckCommandRequest {
            command_id: cmd.command_id.clone(),
        })
        .await
        .expect("ack");
    let done = host
        .commands
        .update(pb::UpdateCommandRequest {
            command_id: cmd.command_id.clone(),
            exit_code: pb::CommandExitCode::Ok as i32,
            exit_message: None,
            retry_hint_seconds: None,
        })
        .await
        .expect("update")
        .into_inner();
    assert!(done.completed_at.is_some());
}
