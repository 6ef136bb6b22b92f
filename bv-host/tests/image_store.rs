//! Image store against real sources: dockerd, a local registry, OCI layouts (checked against
//! `umoci raw unpack` and `docker export`), and real overlay mounts. Runs as root.

#![allow(clippy::unwrap_used)]

mod image_support;

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use bv_host::image::{ImageError, ImageStore, ImageStoreConfig, NoProgress, Phase, ProgressSink};
use image_support::*;

#[derive(Default)]
struct Recorder {
    begins: Mutex<Vec<(Phase, Option<u64>)>>,
    bytes: AtomicU32,
}

impl ProgressSink for Recorder {
    fn begin(&self, phase: Phase, total: Option<u64>) {
        self.begins.lock().unwrap().push((phase, total));
    }
    fn advance(&self, bytes: u64) {
        self.bytes.fetch_add(bytes as u32, Ordering::Relaxed);
    }
    fn finish(&self) {}
}

impl Recorder {
    fn unpacks(&self) -> usize {
        self.begins
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| *p == Phase::Unpack)
            .count()
    }
}

fn store(root: &Path) -> ImageStore {
    ImageStore::new(ImageStoreConfig::new(root.join("images")))
}

fn check_config(img: &bv_host::image::Image) {
    assert_eq!(img.config.env, vec!["PATH=/bin", "MODE=test"]);
    assert_eq!(img.config.entrypoint, vec!["/bin/sh", "-c"]);
    assert_eq!(img.config.cmd, vec!["sleep 1"]);
    assert_eq!(img.config.working_dir.as_deref(), Some("/srv"));
    assert_eq!(img.config.user.as_deref(), Some("0:0"));
    assert_eq!(img.config.labels["org.example"], "yes");
}

#[tokio::test]
async fn oci_layouts_match_umoci_raw_unpack() {
    let tmp = tmpdir();
    let layers = fixture_layers();
    let gz = tmp.path().join("gz");
    let digest = write_oci_layout(&gz, "v1", &layers, Comp::Gzip);
    // The reference: umoci (gzip layers only).
    let reference = tmp.path().join("umoci-rootfs");
    run(Command::new("umoci")
        .args(["raw", "unpack", "--image"])
        .arg(format!("{}:v1", gz.display()))
        .arg(&reference));
    let expected = snapshot(&reference, &[]);
    assert!(expected.contains_key("srv/cache/c"));
    let s = store(tmp.path());
    let rec = Recorder::default();
    let img = s
        .ensure(&format!("oci:{}:v1", gz.display()), &rec)
        .await
        .unwrap();
    assert_eq!(img.digest, digest);
    check_config(&img);
    assert_eq!(snapshot(&img.rootfs, &[]), expected);
    assert_eq!(rec.unpacks(), 1);
    // Same image with zstd and uncompressed layers: same config digest, same tree.
    for (name, c) in [("zst", Comp::Zstd), ("raw", Comp::None)] {
        let dir = tmp.path().join(name);
        write_oci_layout(&dir, "v1", &layers, c);
        let s2 = store(&tmp.path().join(format!("store-{name}")));
        let img2 = s2
            .ensure(&format!("oci:{}:v1", dir.display()), &NoProgress)
            .await
            .unwrap();
        assert_eq!(img2.digest, digest);
        assert_eq!(snapshot(&img2.rootfs, &[]), expected, "{name} layers");
    }
    // Errors name the URI and the problem.
    let err = s
        .ensure(&format!("oci:{}:nope", gz.display()), &NoProgress)
        .await
        .unwrap_err();
    assert!(matches!(err, ImageError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains(":nope`"), "{err}");
    let err = s
        .ensure("oci:/does/not/exist", &NoProgress)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("/does/not/exist/index.json"),
        "{err}"
    );
}

#[tokio::test]
async fn corrupted_layout_blob_is_rejected_and_nothing_is_recorded() {
    let tmp = tmpdir();
    let layers = fixture_layers();
    let dir = tmp.path().join("lay");
    write_oci_layout(&dir, "v1", &layers, Comp::Zstd);
    // Flip a byte in the biggest layer blob.
    let blobs = dir.join("blobs/sha256");
    let big = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| p.metadata().unwrap().len())
        .unwrap();
    let mut b = std::fs::read(&big).unwrap();
    let n = b.len() / 2;
    b[n] ^= 0xff;
    std::fs::write(&big, b).unwrap();
    let s = store(tmp.path());
    let err = s
        .ensure(&format!("oci:{}:v1", dir.display()), &NoProgress)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&big.file_name().unwrap().to_string_lossy().to_string()),
        "{text}"
    );
    assert!(s.list().unwrap().is_empty());
    let leftovers = std::fs::read_dir(tmp.path().join("images/tmp"))
        .unwrap()
        .count();
    assert_eq!(leftovers, 0, "staging is cleaned up");
}

#[tokio::test]
async fn concurrent_ensure_unpacks_once_and_caches() {
    let tmp = tmpdir();
    let dir = tmp.path().join("lay");
    write_oci_layout(&dir, "v1", &fixture_layers(), Comp::Gzip);
    let uri = format!("oci:{}:v1", dir.display());
    let s = store(tmp.path());
    let rec = std::sync::Arc::new(Recorder::default());
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (s, uri, rec) = (s.clone(), uri.clone(), rec.clone());
        tasks.push(tokio::spawn(async move { s.ensure(&uri, &*rec).await }));
    }
    let mut digests = Vec::new();
    for t in tasks {
        digests.push(t.await.unwrap().unwrap().digest);
    }
    digests.dedup();
    assert_eq!(digests.len(), 1);
    assert_eq!(rec.unpacks(), 1, "one unpack for four callers");
    assert!(rec.bytes.load(Ordering::Relaxed) > 1_000_000);
    assert_eq!(s.list().unwrap().len(), 1);
    // A new store over the same root finds it without unpacking.
    let again = Recorder::default();
    store(tmp.path()).ensure(&uri, &again).await.unwrap();
    assert_eq!(again.unpacks(), 0);
}

#[tokio::test]
async fn node_rootfs_overlay_keeps_changes_in_upper() {
    let tmp = tmpdir();
    let dir = tmp.path().join("lay");
    write_oci_layout(&dir, "v1", &fixture_layers(), Comp::Gzip);
    let s = store(tmp.path());
    let img = s
        .ensure(&format!("oci:{}:v1", dir.display()), &NoProgress)
        .await
        .unwrap();
    let node = tmp.path().join("node");
    let r = s.mount_node_rootfs(&img, &node).unwrap();
    assert!(r.overlay);
    assert!(s.is_mounted(&node));
    assert_eq!(s.mount_node_rootfs(&img, &node).unwrap(), r, "idempotent");
    std::fs::write(r.path.join("srv/new"), b"node").unwrap();
    std::fs::remove_file(r.path.join("etc/passwd")).unwrap();
    assert!(img.rootfs.join("etc/passwd").exists(), "lower untouched");
    assert!(node.join("overlay/upper/srv/new").exists());
    let err = s.remove(&img.digest).unwrap_err();
    assert!(matches!(err, ImageError::InUse { .. }), "{err}");
    s.unmount_node_rootfs(&node).unwrap();
    s.unmount_node_rootfs(&node).unwrap();
    assert!(!s.is_mounted(&node));
    // Remount: the node's changes are still there.
    let r = s.mount_node_rootfs(&img, &node).unwrap();
    assert_eq!(std::fs::read(r.path.join("srv/new")).unwrap(), b"node");
    assert!(!r.path.join("etc/passwd").exists());
    s.unmount_node_rootfs(&node).unwrap();
    s.remove(&img.digest).unwrap();
    assert!(s.list().unwrap().is_empty());
    assert!(!img.rootfs.exists());
    let err = s.remove(&img.digest).unwrap_err();
    assert!(matches!(err, ImageError::UnknownDigest { .. }), "{err}");
}

#[tokio::test]
async fn copy_fallback_when_overlay_is_disabled() {
    let tmp = tmpdir();
    let dir = tmp.path().join("lay");
    write_oci_layout(&dir, "v1", &fixture_layers(), Comp::Gzip);
    let mut cfg = ImageStoreConfig::new(tmp.path().join("images"));
    cfg.overlay = false;
    let s = ImageStore::new(cfg);
    let img = s
        .ensure(&format!("oci:{}:v1", dir.display()), &NoProgress)
        .await
        .unwrap();
    let node = tmp.path().join("node");
    let r = s.mount_node_rootfs(&img, &node).unwrap();
    assert!(!r.overlay);
    assert_eq!(snapshot(&r.path, &[]), snapshot(&img.rootfs, &[]));
    assert!(s.is_mounted(&node));
    s.unmount_node_rootfs(&node).unwrap();
    assert!(
        r.path.join("bin/busybox").exists(),
        "a copy survives unmount"
    );
}

#[tokio::test]
async fn registry_pull_over_plain_http() {
    let tmp = tmpdir();
    let layers = fixture_layers();
    let dir = tmp.path().join("lay");
    let digest = write_oci_layout(&dir, "v1", &layers, Comp::Gzip);
    let (_reg, addr) = start_registry(tmp.path());
    run(Command::new("skopeo")
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:v1", dir.display()))
        .arg(format!("docker://{addr}/bv/test:v1")));
    let mut cfg = ImageStoreConfig::new(tmp.path().join("images"));
    cfg.registry_insecure = vec![addr.clone()];
    let s = ImageStore::new(cfg);
    let rec = Recorder::default();
    let uri = format!("docker://{addr}/bv/test:v1");
    let img = s.ensure(&uri, &rec).await.unwrap();
    assert_eq!(img.digest, digest);
    check_config(&img);
    let phases: Vec<Phase> = rec.begins.lock().unwrap().iter().map(|b| b.0).collect();
    assert_eq!(phases, vec![Phase::Pull, Phase::Unpack]);
    let reference = store(&tmp.path().join("ref"))
        .ensure(&format!("oci:{}:v1", dir.display()), &NoProgress)
        .await
        .unwrap();
    assert_eq!(snapshot(&img.rootfs, &[]), snapshot(&reference.rootfs, &[]));
    // Within registry_refresh the mapping is trusted: no unpack, no pull.
    let again = Recorder::default();
    s.ensure(&uri, &again).await.unwrap();
    assert!(again.begins.lock().unwrap().is_empty());
    let err = s
        .ensure(&format!("docker://{addr}/bv/test:missing"), &NoProgress)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("bv/test:missing"), "{err}");
    // Without the insecure allowance the store talks HTTPS and fails clearly.
    let strict = store(&tmp.path().join("strict"));
    let err = strict.ensure(&uri, &NoProgress).await.unwrap_err();
    assert!(matches!(err, ImageError::Registry { .. }), "{err}");
}

struct DockerImage(String);

impl Drop for DockerImage {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rmi", "-f", "--no-prune", &self.0])
            .output();
    }
}

#[tokio::test]
async fn docker_daemon_image_matches_docker_export() {
    let tmp = tmpdir();
    let layers = fixture_layers_for_docker();
    let tag = format!("{}:v1", unique("bvimgtest"));
    let archive = tmp.path().join("archive.tar");
    let id = write_docker_archive(&archive, &tag, &layers);
    run(Command::new("docker").arg("load").arg("-i").arg(&archive));
    let _cleanup = DockerImage(tag.clone());
    let s = store(tmp.path());
    let rec = Recorder::default();
    let uri = format!("docker-daemon://{tag}");
    let img = s.ensure(&uri, &rec).await.unwrap();
    assert_eq!(img.digest, id);
    check_config(&img);
    let phases: Vec<Phase> = rec.begins.lock().unwrap().iter().map(|b| b.0).collect();
    assert_eq!(phases, vec![Phase::Pull, Phase::Unpack]);
    // docker's own flattened rootfs of the same image.
    let cid = run(Command::new("docker").args(["create", &tag]))
        .trim()
        .to_string();
    let exported = tmp.path().join("export.tar");
    let res = Command::new("docker")
        .args(["export", "-o"])
        .arg(&exported)
        .arg(&cid)
        .output();
    let _ = Command::new("docker").args(["rm", "-f", &cid]).output();
    assert!(res.unwrap().status.success());
    let docker_root = tmp.path().join("docker-rootfs");
    std::fs::create_dir(&docker_root).unwrap();
    run(Command::new("tar")
        .args(["--numeric-owner", "-xpf"])
        .arg(&exported)
        .arg("-C")
        .arg(&docker_root));
    let skip = [
        ".dockerenv",
        "dev",
        "proc",
        "sys",
        "etc/hosts",
        "etc/hostname",
        "etc/resolv.conf",
        "etc/mtab",
    ];
    let mut ours = snapshot(&img.rootfs, &skip);
    let mut theirs = snapshot(&docker_root, &skip);
    // docker export changes the mtime of directories it touches (etc); compare files fully.
    ours.retain(|_, v| !v.starts_with("dir"));
    theirs.retain(|_, v| !v.starts_with("dir"));
    assert_eq!(ours, theirs);
    // Cached: a second ensure only inspects.
    let again = Recorder::default();
    let img2 = s.ensure(&uri, &again).await.unwrap();
    assert_eq!(img2.digest, id);
    assert!(again.begins.lock().unwrap().is_empty());
    let err = s
        .ensure(
            &format!("docker-daemon://{}:nope", unique("bvimgmissing")),
            &NoProgress,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ImageError::NotFound { .. }), "{err}");
}

/// A pull that dies once its spool exists leaves `tmp/pull-*`; the start-up sweep removes it
/// at once and the next pull works.
#[tokio::test]
async fn crashed_pull_leaves_a_spool_that_the_sweep_removes() {
    let tmp = tmpdir();
    let layers = fixture_layers_for_docker();
    let tag = format!("{}:v1", unique("bvimgcrash"));
    let archive = tmp.path().join("archive.tar");
    write_docker_archive(&archive, &tag, &layers);
    run(Command::new("docker").arg("load").arg("-i").arg(&archive));
    let _cleanup = DockerImage(tag.clone());
    let s = store(tmp.path());
    let uri = format!("docker-daemon://{tag}");
    let crashed = tokio::task::LocalSet::new()
        .run_until(async {
            bv_base::fault::arm(Some("pull.after_scratch"));
            let (s2, uri2) = (s.clone(), uri.clone());
            let out =
                tokio::task::spawn_local(
                    async move { s2.ensure(&uri2, &NoProgress).await.map(|_| ()) },
                )
                .await;
            bv_base::fault::arm(None);
            out
        })
        .await;
    assert!(crashed.is_err_and(|e| e.is_panic()));
    let spool: Vec<_> = std::fs::read_dir(tmp.path().join("images/tmp"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(spool.iter().any(|n| n.starts_with("pull-")), "{spool:?}");
    let swept = s.sweep_tmp();
    assert_eq!(swept.len(), spool.len());
    assert_eq!(
        std::fs::read_dir(tmp.path().join("images/tmp"))
            .unwrap()
            .count(),
        0
    );
    s.ensure(&uri, &NoProgress).await.unwrap();
}
