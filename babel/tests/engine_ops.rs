//! Node-side engine calls over the real socket: files, templates, HTTP, job runner upload.
#![allow(clippy::unwrap_used)]

mod common;

use babel_api::pb::babel::v1 as pb;
use babel_api::pb::babel::v1::file_chunk::Part;
use common::TestAgent;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn chunks(dest: Option<String>, data: &[u8], crc: u32) -> Vec<pb::FileChunk> {
    let mut v = vec![];
    if let Some(d) = dest {
        v.push(pb::FileChunk {
            part: Some(Part::Destination(d)),
        });
    }
    for c in data.chunks(5) {
        v.push(pb::FileChunk {
            part: Some(Part::Data(c.to_vec())),
        });
    }
    v.push(pb::FileChunk {
        part: Some(Part::Checksum(crc)),
    });
    v
}

#[tokio::test]
async fn file_write_read_and_template() {
    let mut a = TestAgent::start().await;
    let dest = a.data().join("file.txt");
    a.client
        .file_write(futures::stream::iter(chunks(
            Some(dest.display().to_string()),
            b"dummy content",
            2134916024,
        )))
        .await
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"dummy content");
    let err = a
        .client
        .file_write(futures::stream::iter(chunks(
            Some(dest.display().to_string()),
            b"other",
            1,
        )))
        .await
        .unwrap_err();
    assert!(
        err.message().contains("doesn't match expected (1)"),
        "{}",
        err.message()
    );
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        b"dummy content",
        "failed write replaced the file"
    );

    let parts: Vec<pb::FileChunk> = a
        .client
        .file_read(pb::FileReadRequest {
            path: dest.display().to_string(),
        })
        .await
        .unwrap()
        .into_inner()
        .map(|c| c.unwrap())
        .collect()
        .await;
    assert_eq!(parts.last().unwrap().part, Some(Part::Checksum(2134916024)));
    let err = a
        .client
        .file_read(pb::FileReadRequest {
            path: "/no/such/file".into(),
        })
        .await
        .unwrap_err();
    assert!(
        err.message().starts_with("file_read /no/such/file failed:"),
        "{}",
        err.message()
    );

    let tmpl = a.data().join("t.tmpl");
    std::fs::write(&tmpl, "name={{ node_name }}").unwrap();
    let out = a.data().join("etc/app.conf");
    a.client
        .render_template(pb::RenderTemplateRequest {
            template: tmpl.display().to_string(),
            destination: out.display().to_string(),
            params: r#"{"node_name":"node name"}"#.into(),
        })
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "name=node name");
    let err = a
        .client
        .render_template(pb::RenderTemplateRequest {
            template: tmpl.display().to_string(),
            destination: out.display().to_string(),
            params: "{}".into(),
        })
        .await
        .unwrap_err();
    assert!(
        err.message()
            .starts_with("failed to render template file with:"),
        "{}",
        err.message()
    );
}

#[tokio::test]
async fn job_runner_check_and_upload() {
    let mut a = TestAgent::start().await;
    let real = std::fs::read(common::runner_bin()).unwrap();
    let crc = babel::ops::files::checksum(&real);
    let check = |s: i32| pb::BinaryStatus::try_from(s).unwrap();
    let r = a
        .client
        .check_job_runner(pb::CheckJobRunnerRequest { checksum: crc })
        .await
        .unwrap();
    assert_eq!(check(r.into_inner().status), pb::BinaryStatus::Ok);

    // A fresh agent whose runner path (in its root) does not exist yet.
    let mut b = TestAgent::start_with_runner(Some("bin/babel-job-runner")).await;
    std::fs::create_dir_all(b.path("bin")).unwrap();
    let r = b
        .client
        .check_job_runner(pb::CheckJobRunnerRequest { checksum: crc })
        .await
        .unwrap();
    assert_eq!(check(r.into_inner().status), pb::BinaryStatus::Missing);
    let err = b
        .client
        .upload_job_runner(futures::stream::iter(chunks(None, &real[..100], 7)))
        .await
        .unwrap_err();
    assert!(
        err.message().starts_with("upload_job_runner failed"),
        "{}",
        err.message()
    );
    let r = b
        .client
        .check_job_runner(pb::CheckJobRunnerRequest { checksum: crc })
        .await
        .unwrap();
    assert_eq!(check(r.into_inner().status), pb::BinaryStatus::Missing);
    let mut items = vec![];
    for c in real.chunks(16 * 1024) {
        items.push(pb::FileChunk {
            part: Some(Part::Data(c.to_vec())),
        });
    }
    items.push(pb::FileChunk {
        part: Some(Part::Checksum(crc)),
    });
    b.client
        .upload_job_runner(futures::stream::iter(items))
        .await
        .unwrap();
    let r = b
        .client
        .check_job_runner(pb::CheckJobRunnerRequest { checksum: crc })
        .await
        .unwrap();
    assert_eq!(check(r.into_inner().status), pb::BinaryStatus::Ok);
    let r = b
        .client
        .check_job_runner(pb::CheckJobRunnerRequest { checksum: crc ^ 1 })
        .await
        .unwrap();
    assert_eq!(
        check(r.into_inner().status),
        pb::BinaryStatus::ChecksumMismatch
    );

    // The uploaded runner runs jobs.
    b.setup().await;
    b.create("j", common::sh_job("true")).await.unwrap();
    b.start_job("j").await;
    assert_eq!(
        b.wait_finished("j", 10).await,
        babel_api::job::JobStatus::finished(Some(0), "")
    );
}

/// A one-shot HTTP server answering `status` with `body`; returns the request it got.
async fn http_once(status: u16, body: &'static str) -> (String, tokio::task::JoinHandle<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/path", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut req = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = s.read(&mut buf).await.unwrap();
            req.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&req).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let len = text
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if req.len() >= end + 4 + len {
                    break;
                }
            }
        }
        let resp = format!(
            "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(resp.as_bytes()).await.unwrap();
        String::from_utf8_lossy(&req).to_string()
    });
    (url, task)
}

#[tokio::test]
async fn jrpc_and_rest() {
    let mut a = TestAgent::start().await;
    let (url, server) = http_once(201, r#"{"result":1}"#).await;
    let r = a
        .client
        .run_jrpc(pb::RunJrpcRequest {
            host: url,
            method: "eth_blockNumber".into(),
            params: Some("[1]".into()),
            headers: vec![pb::Header {
                name: "x-token".into(),
                value: "abc".into(),
            }],
            timeout_ms: 5000,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((r.status_code, r.body.as_str()), (201, r#"{"result":1}"#));
    let req = server.await.unwrap();
    assert!(req.starts_with("POST /path"), "{req}");
    assert!(req.contains("x-token: abc"), "{req}");
    assert!(
        req.contains(r#""method":"eth_blockNumber""#) && req.contains(r#""params":[1]"#),
        "{req}"
    );

    let (url, server) = http_once(503, "down").await;
    let r = a
        .client
        .run_rest(pb::RunRestRequest {
            url,
            headers: vec![],
            timeout_ms: 5000,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((r.status_code, r.body.as_str()), (503, "down"));
    assert!(server.await.unwrap().starts_with("GET /path"));
}
