//! Shared fixtures for the image store tests: synthetic layers, OCI layouts, docker archives,
//! tree snapshots, a local registry.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use sha2::{Digest, Sha256};

pub fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn header(kind: tar::EntryType, mode: u32, uid: u64, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(uid);
    h.set_gid(uid);
    h.set_mtime(1_650_000_000);
    h.set_size(size);
    h
}

pub struct LayerBuilder(tar::Builder<Vec<u8>>);

impl Default for LayerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl LayerBuilder {
    pub fn new() -> Self {
        LayerBuilder(tar::Builder::new(Vec::new()))
    }
    pub fn dir(mut self, p: &str, mode: u32) -> Self {
        let mut h = header(tar::EntryType::Directory, mode, 0, 0);
        self.0.append_data(&mut h, p, &[][..]).unwrap();
        self
    }
    pub fn file(mut self, p: &str, data: &[u8], mode: u32, uid: u64) -> Self {
        let mut h = header(tar::EntryType::Regular, mode, uid, data.len() as u64);
        self.0.append_data(&mut h, p, data).unwrap();
        self
    }
    pub fn symlink(mut self, p: &str, target: &str) -> Self {
        let mut h = header(tar::EntryType::Symlink, 0o777, 0, 0);
        self.0.append_link(&mut h, p, target).unwrap();
        self
    }
    pub fn hardlink(mut self, p: &str, target: &str) -> Self {
        let mut h = header(tar::EntryType::Link, 0o755, 0, 0);
        self.0.append_link(&mut h, p, target).unwrap();
        self
    }
    pub fn finish(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

/// A small but realistic 3-layer image: busybox, files/links, then deletions (regular and
/// opaque whiteouts, a re-created directory) and a hard link into a lower layer.
pub fn fixture_layers() -> Vec<Vec<u8>> {
    fixture(true)
}

/// The same without the cross-layer hard link, which `docker load` cannot apply.
pub fn fixture_layers_for_docker() -> Vec<Vec<u8>> {
    fixture(false)
}

fn fixture(cross_layer_link: bool) -> Vec<Vec<u8>> {
    let busybox = std::fs::read("/bin/busybox").expect("busybox-static is installed");
    let l1 = LayerBuilder::new()
        .dir("bin", 0o755)
        .file("bin/busybox", &busybox, 0o755, 0)
        .hardlink("bin/sh", "bin/busybox")
        .symlink("bin/ls", "busybox")
        .dir("etc", 0o755)
        .file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644, 0)
        .dir("tmp", 0o1777)
        .dir("srv", 0o755)
        .finish();
    let mut l2 = LayerBuilder::new()
        .dir("srv", 0o755)
        .dir("srv/data", 0o750)
        .file("srv/data/owned", b"owned by 1000", 0o640, 1000)
        .file("srv/secret", b"to be deleted", 0o600, 0)
        .dir("srv/cache", 0o755)
        .file("srv/cache/a", b"a", 0o644, 0)
        .file("srv/cache/b", b"b", 0o644, 0)
        .dir("srv/gone", 0o755)
        .file("srv/gone/x", b"x", 0o644, 0)
        .symlink("srv/abs", "/etc/passwd");
    for i in 0..50 {
        l2 = l2.file(
            &format!("srv/many{i:02}"),
            format!("{i}").as_bytes(),
            0o644,
            0,
        );
    }
    let l2 = l2.finish();
    let mut l3 = LayerBuilder::new()
        .dir("srv", 0o755)
        .file("srv/.wh.secret", b"", 0o644, 0)
        .file("srv/.wh.gone", b"", 0o644, 0)
        .dir("srv/cache", 0o700)
        .file("srv/cache/.wh..wh..opq", b"", 0o644, 0)
        .file("srv/cache/c", b"c", 0o644, 0);
    if cross_layer_link {
        l3 = l3.hardlink("srv/bb", "bin/busybox");
    }
    let l3 = l3.finish();
    vec![l1, l2, l3]
}

pub fn config_json(layers: &[Vec<u8>]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| sha(l)).collect();
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/bin", "MODE=test"],
            "Entrypoint": ["/bin/sh", "-c"],
            "Cmd": ["sleep 1"],
            "WorkingDir": "/srv",
            "User": "0:0",
            "Labels": {"org.example": "yes"}
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids}
    }))
    .unwrap()
}

#[derive(Clone, Copy, Debug)]
pub enum Comp {
    None,
    Gzip,
    Zstd,
}

pub fn compress(data: &[u8], c: Comp) -> (Vec<u8>, &'static str) {
    match c {
        Comp::None => (data.to_vec(), "application/vnd.oci.image.layer.v1.tar"),
        Comp::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            (
                e.finish().unwrap(),
                "application/vnd.oci.image.layer.v1.tar+gzip",
            )
        }
        Comp::Zstd => (
            zstd::encode_all(data, 3).unwrap(),
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
    }
}

fn put_blob(dir: &Path, bytes: &[u8]) -> String {
    let d = sha(bytes);
    let p = dir.join("blobs/sha256").join(&d[7..]);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
    d
}

/// Write an OCI image layout at `dir` with one image tagged `tag`; returns the config digest.
pub fn write_oci_layout(dir: &Path, tag: &str, layers: &[Vec<u8>], c: Comp) -> String {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let config = config_json(layers);
    let config_digest = put_blob(dir, &config);
    let layer_descs: Vec<_> = layers
        .iter()
        .map(|l| {
            let (blob, media) = compress(l, c);
            let d = put_blob(dir, &blob);
            serde_json::json!({"mediaType": media, "digest": d, "size": blob.len()})
        })
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config.len()},
        "layers": layer_descs,
    }))
    .unwrap();
    let md = put_blob(dir, &manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": md, "size": manifest.len(),
                       "annotations": {"org.opencontainers.image.ref.name": tag}}]
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    config_digest
}

/// Write a legacy `docker save` archive (what `docker load` reads); returns the image ID.
pub fn write_docker_archive(path: &Path, repo_tag: &str, layers: &[Vec<u8>]) -> String {
    let config = config_json(layers);
    let id = sha(&config);
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = header(tar::EntryType::Regular, 0o644, 0, data.len() as u64);
        b.append_data(&mut h, name, data).unwrap();
    };
    let mut names = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let name = format!("layer{i}/layer.tar");
        add(&name, l);
        names.push(name);
    }
    add(&format!("{}.json", &id[7..]), &config);
    let manifest = serde_json::json!([{
        "Config": format!("{}.json", &id[7..]),
        "RepoTags": [repo_tag],
        "Layers": names,
    }]);
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    b.into_inner().unwrap().sync_all().unwrap();
    id
}

/// Path → (type, mode, owner, content/target, mtime for files) for every entry under `root`.
pub fn snapshot(root: &Path, skip: &[&str]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).min_depth(1) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(root).unwrap().display().to_string();
        if skip
            .iter()
            .any(|s| rel == *s || rel.starts_with(&format!("{s}/")))
        {
            continue;
        }
        let md = e.path().symlink_metadata().unwrap();
        let mode = md.permissions().mode() & 0o7777;
        let own = format!("{}:{}", md.uid(), md.gid());
        let desc = if md.file_type().is_symlink() {
            format!(
                "sym {own} -> {}",
                std::fs::read_link(e.path()).unwrap().display()
            )
        } else if md.is_dir() {
            format!("dir {mode:o} {own}")
        } else if md.is_file() {
            let data = std::fs::read(e.path()).unwrap();
            format!("file {mode:o} {own} {} {}", sha(&data), md.mtime())
        } else {
            format!("other {mode:o} {own} {}", md.rdev())
        };
        out.insert(rel, desc);
    }
    out
}

/// Kills the child on drop.
pub struct Reaper(pub Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `docker-registry` on 127.0.0.1 with an OS-chosen port; returns `host:port`.
pub fn start_registry(dir: &Path) -> (Reaper, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let config = dir.join("registry.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            dir.join("storage").display()
        ),
    )
    .unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker-registry is installed");
    let reaper = Reaper(child);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "registry did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    (reaper, addr)
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn tmpdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("bvimg")
        .tempdir_in("/tmp")
        .unwrap()
}

pub fn paths(dir: &Path, names: &[&str]) -> Vec<PathBuf> {
    names.iter().map(|n| dir.join(n)).collect()
}
