//! `cleanup_job` of archive jobs removes their transfer state, including the files of chunks
//! that were started (`download.parts`), through the real agent.
#![allow(clippy::unwrap_used)]

mod common;

use babel::archive::model::{Checksum, Chunk, FileLocation};
use babel::archive::state::{
    DOWNLOAD_CHUNKS, DOWNLOAD_METADATA, DOWNLOAD_PARTS, StateDir, UPLOAD_BLUEPRINT, UPLOAD_CHUNKS,
};
use babel_api::job::{JobConfig, JobType, RestartPolicy};
use babel_api::pb::babel::v1 as pb;
use common::TestAgent;

fn chunk(index: u32, path: &str) -> Chunk {
    Chunk {
        index,
        key: format!("k{index}"),
        url: None,
        checksum: Checksum::Sha1(vec![0; 20]),
        size: 3,
        destinations: vec![FileLocation {
            path: path.into(),
            pos: 0,
            size: 3,
            mode: None,
        }],
    }
}

async fn cleanup(a: &mut TestAgent, name: &str) -> Result<(), tonic::Status> {
    a.client
        .cleanup_job(pb::JobRequest { name: name.into() })
        .await
        .map(|_| ())
}

#[tokio::test]
async fn download_cleanup_removes_chunks_parts_files_and_metadata() {
    let mut a = TestAgent::start().await;
    a.setup().await;
    let env = a.node_env();
    let protocol_data = std::path::PathBuf::from(&env.protocol_data_path);
    std::fs::create_dir_all(protocol_data.join("sub")).unwrap();
    std::fs::write(protocol_data.join("sub/a.bin"), b"abc").unwrap();
    std::fs::write(protocol_data.join("b.bin"), b"abc").unwrap();
    std::fs::write(protocol_data.join("keep.bin"), b"mine").unwrap();
    let state = StateDir::new(&a.data());
    state.ensure_dir().unwrap();
    state
        .append_lines(
            DOWNLOAD_PARTS,
            &[chunk(0, "sub/a.bin"), chunk(1, "b.bin")],
            false,
        )
        .unwrap();
    state
        .append_lines(DOWNLOAD_CHUNKS, &[chunk(0, "sub/a.bin")], false)
        .unwrap();
    std::fs::write(state.path(DOWNLOAD_METADATA), "{}").unwrap();

    let cfg = JobConfig::new(
        JobType::Download {
            max_connections: None,
            max_runners: None,
        },
        RestartPolicy::Never,
    );
    a.create("download", cfg).await.unwrap();
    cleanup(&mut a, "download").await.unwrap();

    for f in [DOWNLOAD_PARTS, DOWNLOAD_CHUNKS, DOWNLOAD_METADATA] {
        assert!(!state.exists(f), "{f} left behind");
    }
    assert!(!protocol_data.join("sub/a.bin").exists());
    assert!(!protocol_data.join("b.bin").exists());
    assert_eq!(
        std::fs::read(protocol_data.join("keep.bin")).unwrap(),
        b"mine"
    );
    // A second cleanup has nothing to do and still succeeds.
    cleanup(&mut a, "download").await.unwrap();
}

#[tokio::test]
async fn upload_cleanup_removes_blueprint_and_chunks_and_unknown_job_fails() {
    let mut a = TestAgent::start().await;
    a.setup().await;
    let state = StateDir::new(&a.data());
    state.ensure_dir().unwrap();
    std::fs::write(state.path(UPLOAD_BLUEPRINT), "{}").unwrap();
    std::fs::write(state.path(UPLOAD_CHUNKS), "").unwrap();
    let cfg = JobConfig::new(
        JobType::Upload {
            exclude: None,
            compression: None,
            max_connections: None,
            max_runners: None,
            number_of_chunks: None,
            url_expires_secs: None,
            data_version: None,
        },
        RestartPolicy::Never,
    );
    a.create("upload", cfg).await.unwrap();
    cleanup(&mut a, "upload").await.unwrap();
    assert!(!state.exists(UPLOAD_BLUEPRINT));
    assert!(!state.exists(UPLOAD_CHUNKS));

    let err = cleanup(&mut a, "nope").await.unwrap_err();
    assert!(
        err.message().contains("'nope' not found"),
        "{}",
        err.message()
    );
}
