//! Unpacker tests: edge-case tables and a randomized comparison against a model.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::*;
use crate::image::NoProgress;

/// One tar entry to build.
#[derive(Debug, Clone)]
enum E {
    Dir(&'static str, u32),
    File(String, Vec<u8>, u32),
    Sym(String, String),
    Link(String, String),
    Raw(Vec<u8>, tar::EntryType, Vec<u8>), // raw name bytes (may contain `..`), type, data
}

fn f(p: &str, data: &str) -> E {
    E::File(p.into(), data.as_bytes().to_vec(), 0o644)
}

fn set_name(h: &mut tar::Header, name: &[u8]) {
    let old = h.as_old_mut();
    old.name = [0; 100];
    old.name[..name.len()].copy_from_slice(name);
}

fn build(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        match e {
            E::Dir(p, mode) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*mode);
                h.set_size(0);
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            E::File(p, data, mode) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, p, &data[..]).unwrap();
            }
            E::Sym(p, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, p, target).unwrap();
            }
            E::Link(p, target) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                h.set_size(0);
                b.append_link(&mut h, p, target).unwrap();
            }
            E::Raw(name, kind, data) => {
                h.set_entry_type(*kind);
                h.set_mode(0o644);
                h.set_size(if *kind == tar::EntryType::Regular {
                    data.len() as u64
                } else {
                    0
                });
                set_name(&mut h, name);
                if *kind != tar::EntryType::Regular {
                    h.set_link_name_literal(&data[..]).unwrap();
                }
                h.set_cksum();
                let body: &[u8] = if *kind == tar::EntryType::Regular {
                    data
                } else {
                    &[]
                };
                b.append(&h, body).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn unpack_all(root: &Path, layers: &[Vec<u8>]) -> Result<(), ImageError> {
    let dir = tempfile::tempdir().unwrap();
    let blobs: Vec<LayerBlob> = layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let p = dir.path().join(format!("l{i}"));
            std::fs::write(&p, l).unwrap();
            LayerBlob::file(p)
        })
        .collect();
    unpack_layers(root, &blobs, UnpackOptions::default(), &NoProgress)
}

/// Snapshot of a tree: path → description.
fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).min_depth(1).follow_links(false) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(root).unwrap().display().to_string();
        let md = e.path().symlink_metadata().unwrap();
        let mode = md.permissions().mode() & 0o7777;
        let desc = if md.file_type().is_symlink() {
            format!("sym {}", std::fs::read_link(e.path()).unwrap().display())
        } else if md.is_dir() {
            format!("dir {mode:o}")
        } else {
            let data = std::fs::read(e.path()).unwrap();
            format!("file {mode:o} {}", String::from_utf8_lossy(&data))
        };
        out.insert(rel, desc);
    }
    out
}

fn tree(root: &Path) -> Vec<String> {
    snapshot(root)
        .into_iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect()
}

#[test]
fn whiteouts_and_opaque_dirs() {
    let root = tempfile::tempdir().unwrap();
    let l1 = build(&[
        E::Dir("a", 0o755),
        f("a/keep", "1"),
        f("a/gone", "1"),
        E::Dir("d", 0o755),
        f("d/old", "1"),
        E::Dir("d/sub", 0o755),
        f("d/sub/old", "1"),
        E::Dir("o", 0o755),
        f("o/x", "1"),
        f("top", "1"),
    ]);
    // Layer 2: the opaque marker comes AFTER some of this layer's own entries in `d`
    // and BEFORE others; both must survive, lower content must not.
    let l2 = build(&[
        E::Dir("d", 0o750),
        f("d/new1", "2"),
        E::Dir("d/sub", 0o755),
        f("d/sub/new", "2"),
        f("d/.wh..wh..opq", ""),
        f("d/new2", "2"),
        f("a/.wh.gone", ""),
        f(".wh.top", ""),
        f(".wh.missing", ""),
        f(".wh.o", ""),
        f("a/.wh..wh.plnk", ""),
    ]);
    unpack_all(root.path(), &[l1, l2]).unwrap();
    assert_eq!(
        tree(root.path()),
        vec![
            "a: dir 755",
            "a/keep: file 644 1",
            "d: dir 750",
            "d/new1: file 644 2",
            "d/new2: file 644 2",
            "d/sub: dir 755",
            "d/sub/new: file 644 2",
        ]
    );
}

#[test]
fn opaque_dir_recreated_after_delete() {
    // "delete then re-create a directory": opaque marker first in tar order.
    let root = tempfile::tempdir().unwrap();
    let l1 = build(&[E::Dir("r", 0o755), f("r/a", "1"), f("r/b", "1")]);
    let l2 = build(&[E::Dir("r", 0o755), f("r/.wh..wh..opq", ""), f("r/c", "2")]);
    unpack_all(root.path(), &[l1, l2]).unwrap();
    assert_eq!(tree(root.path()), vec!["r: dir 755", "r/c: file 644 2"]);
}

#[test]
fn replaces_files_dirs_and_links() {
    let root = tempfile::tempdir().unwrap();
    let l1 = build(&[
        f("fd", "file"),
        E::Dir("df", 0o755),
        f("df/child", "x"),
        E::Sym("sf".into(), "target".into()),
        f("ff", "old"),
    ]);
    let l2 = build(&[
        E::Dir("fd", 0o700),
        f("df", "now a file"),
        f("sf", "not a link"),
        E::Sym("ff".into(), "/elsewhere".into()),
    ]);
    unpack_all(root.path(), &[l1, l2]).unwrap();
    assert_eq!(
        tree(root.path()),
        vec![
            "df: file 644 now a file",
            "fd: dir 700",
            "ff: sym /elsewhere",
            "sf: file 644 not a link",
        ]
    );
}

#[test]
fn hard_links_into_lower_layers() {
    let root = tempfile::tempdir().unwrap();
    let l1 = build(&[E::Dir("bin", 0o755), f("bin/busybox", "bb")]);
    let l2 = build(&[
        E::Link("bin/sh".into(), "bin/busybox".into()),
        E::Link("ls".into(), "./bin/busybox".into()),
    ]);
    unpack_all(root.path(), &[l1, l2]).unwrap();
    let ino = |p: &str| root.path().join(p).metadata().unwrap().ino();
    assert_eq!(ino("bin/sh"), ino("bin/busybox"));
    assert_eq!(ino("ls"), ino("bin/busybox"));
    let bad = build(&[E::Link("x".into(), "nope/missing".into())]);
    let err = unpack_all(root.path(), &[bad]).unwrap_err().to_string();
    assert!(err.contains("nope/missing") && err.contains("`x`"), "{err}");
}

#[test]
fn nothing_escapes_the_root() {
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    std::fs::write(&victim, b"original").unwrap();
    let root = tempfile::tempdir().unwrap();
    let out = outside.path().display().to_string();
    let l1 = build(&[
        E::Sym("abs".into(), out.clone()),
        E::Sym("rel".into(), "../../../../../..".into()),
        E::Sym("vlink".into(), victim.display().to_string()),
    ]);
    let l2 = build(&[
        // Through a planted absolute symlink: lands in <root><outside>/x.
        f("abs/x", "in"),
        // Through a relative symlink climbing out: lands in <root>/y.
        f("rel/y", "in"),
        // The final component is never followed: the link itself is replaced.
        f("vlink", "replaced"),
        // `..` in names is clamped to the root.
        E::Raw(b"../../z".to_vec(), tar::EntryType::Regular, b"in".to_vec()),
        // A hard link to a file outside, spelled through the symlink: resolves inside.
        E::Raw(
            b"hl".to_vec(),
            tar::EntryType::Link,
            format!("{out}/victim").into_bytes(),
        ),
    ]);
    let res = unpack_all(root.path(), &[l1, l2]);
    // The hard link target does not exist inside the root: an error, not an escape.
    let err = res.unwrap_err().to_string();
    assert!(err.contains("`hl`"), "{err}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"original");
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 1);
    let inner = root.path().join(outside.path().strip_prefix("/").unwrap());
    assert_eq!(std::fs::read(inner.join("x")).unwrap(), b"in");
    assert_eq!(std::fs::read(root.path().join("y")).unwrap(), b"in");
    assert_eq!(std::fs::read(root.path().join("z")).unwrap(), b"in");
    assert_eq!(
        std::fs::read(root.path().join("vlink")).unwrap(),
        b"replaced"
    );
}

#[test]
fn whiteout_through_symlink_stays_inside() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("precious"), b"keep").unwrap();
    let root = tempfile::tempdir().unwrap();
    let l1 = build(&[E::Sym("esc".into(), outside.path().display().to_string())]);
    let l2 = build(&[f("esc/.wh.precious", ""), f("esc/.wh..wh..opq", "")]);
    unpack_all(root.path(), &[l1, l2]).unwrap();
    assert_eq!(
        std::fs::read(outside.path().join("precious")).unwrap(),
        b"keep"
    );
}

#[test]
fn ownership_modes_times_xattrs_and_devices_as_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the suite runs as root (CI does)"
    );
    let root = tempfile::tempdir().unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o4755);
    h.set_uid(1234);
    h.set_gid(5678);
    h.set_mtime(1_500_000_000);
    h.set_size(2);
    b.append_pax_extensions([("SCHILY.xattr.user.note", &b"hello"[..])])
        .unwrap();
    b.append_data(&mut h, "suid", &b"hi"[..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Char);
    h.set_mode(0o666);
    h.set_device_major(1).unwrap();
    h.set_device_minor(3).unwrap();
    h.set_size(0);
    b.append_data(&mut h, "null", &[][..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o1777);
    h.set_uid(7);
    h.set_gid(8);
    h.set_mtime(1_400_000_000);
    h.set_size(0);
    b.append_data(&mut h, "tmp", &[][..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o600);
    h.set_size(1);
    b.append_data(&mut h, "tmp/child", &b"c"[..]).unwrap();
    let layer = b.into_inner().unwrap();
    unpack_all(root.path(), &[layer]).unwrap();
    let md = root.path().join("suid").symlink_metadata().unwrap();
    assert_eq!(md.mode() & 0o7777, 0o4755);
    assert_eq!((md.uid(), md.gid()), (1234, 5678));
    assert_eq!(md.mtime(), 1_500_000_000);
    let c = std::ffi::CString::new(root.path().join("suid").to_str().unwrap()).unwrap();
    let mut buf = [0u8; 16];
    // SAFETY: valid NUL-terminated strings and a buffer of the stated length.
    let n = unsafe {
        libc::getxattr(
            c.as_ptr(),
            c"user.note".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    assert_eq!(&buf[..usize::try_from(n).unwrap()], b"hello");
    let md = root.path().join("null").symlink_metadata().unwrap();
    assert_eq!(md.rdev(), libc::makedev(1, 3));
    assert_eq!(md.mode() & libc::S_IFMT, libc::S_IFCHR);
    let md = root.path().join("tmp").symlink_metadata().unwrap();
    assert_eq!(md.mode() & 0o7777, 0o1777);
    assert_eq!((md.uid(), md.gid()), (7, 8));
    assert_eq!(
        md.mtime(),
        1_400_000_000,
        "dir mtime set after its children"
    );
}

#[test]
fn compressed_layers_and_digest_checks() {
    use std::io::Write;
    let tar = build(&[E::Dir("d", 0o755), f("d/a", "gz")]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (i, blob) in [gz, zst].into_iter().enumerate() {
        let p = dir.path().join(format!("b{i}"));
        std::fs::write(&p, &blob).unwrap();
        let good = crate::image::sources::sha256_digest(&blob);
        let root = tempfile::tempdir().unwrap();
        let mut lb = LayerBlob::file(&p);
        lb.verify = Some(good);
        unpack_layers(
            root.path(),
            &[lb.clone()],
            UnpackOptions::default(),
            &NoProgress,
        )
        .unwrap();
        assert_eq!(std::fs::read(root.path().join("d/a")).unwrap(), b"gz");
        lb.verify = Some(format!("sha256:{}", "0".repeat(64)));
        let err =
            unpack_layers(root.path(), &[lb], UnpackOptions::default(), &NoProgress).unwrap_err();
        assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
    }
    // Garbage is reported with the layer name.
    let p = dir.path().join("junk");
    std::fs::write(&p, [0x1f, 0x8b, 1, 2, 3]).unwrap();
    let root = tempfile::tempdir().unwrap();
    let err = unpack_layers(
        root.path(),
        &[LayerBlob::file(&p)],
        UnpackOptions::default(),
        &NoProgress,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("junk"), "{err}");
}

// ---- randomized comparison with a model -------------------------------------------------

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Dir(u32),
    File(String, u32),
    Sym(String),
}

type Model = BTreeMap<PathBuf, Node>;

fn model_desc(m: &Model) -> BTreeMap<String, String> {
    m.iter()
        .map(|(p, n)| {
            let d = match n {
                Node::Dir(mode) => format!("dir {mode:o}"),
                Node::File(c, mode) => format!("file {mode:o} {c}"),
                Node::Sym(t) => format!("sym {t}"),
            };
            (p.display().to_string(), d)
        })
        .collect()
}

fn remove_subtree(m: &mut Model, p: &Path) {
    m.retain(|k, _| !k.starts_with(p));
}

/// Generate one layer against the model: returns tar entries and applies them to the model.
fn gen_layer(rng: &mut Rng, m: &mut Model, layer: usize) -> Vec<E> {
    let lower = m.clone();
    let mut hidden: Vec<E> = Vec::new();
    let mut entries: Vec<E> = Vec::new();
    let mut touched: Vec<PathBuf> = Vec::new();
    // Whiteouts and opaque markers against lower content.
    let lower_paths: Vec<PathBuf> = lower.keys().cloned().collect();
    for _ in 0..rng.below(3) {
        if lower_paths.is_empty() {
            break;
        }
        let p = lower_paths[rng.below(lower_paths.len())].clone();
        if touched
            .iter()
            .any(|t| t.starts_with(&p) || p.starts_with(t))
        {
            continue;
        }
        let is_dir = matches!(m.get(&p), Some(Node::Dir(_)));
        if is_dir && rng.chance(50) {
            let marker = p.join(".wh..wh..opq");
            hidden.push(E::File(marker.display().to_string(), vec![], 0o644));
            let keep = p.clone();
            m.retain(|k, _| !k.starts_with(&keep) || *k == keep);
        } else {
            let marker = p
                .parent()
                .unwrap()
                .join(format!(".wh.{}", p.file_name().unwrap().to_string_lossy()));
            hidden.push(E::File(marker.display().to_string(), vec![], 0o644));
            remove_subtree(m, &p);
        }
        touched.push(p);
    }
    // New entries, under existing (or newly created) directories.
    for i in 0..rng.below(12) + 1 {
        let dirs: Vec<PathBuf> = std::iter::once(PathBuf::new())
            .chain(
                m.iter()
                    .filter(|(_, n)| matches!(n, Node::Dir(_)))
                    .map(|(p, _)| p.clone()),
            )
            .collect();
        let parent = dirs[rng.below(dirs.len())].clone();
        let reuse: Vec<PathBuf> = m
            .keys()
            .filter(|k| k.parent() == Some(parent.as_path()) && !touched.contains(k))
            .cloned()
            .collect();
        let path = if !reuse.is_empty() && rng.chance(40) {
            reuse[rng.below(reuse.len())].clone()
        } else {
            parent.join(format!("n{layer}_{i}"))
        };
        if touched.iter().any(|t| path.starts_with(t)) {
            continue;
        }
        let mode = [0o644, 0o600, 0o755, 0o700][rng.below(4)];
        match rng.below(4) {
            0 => {
                // Directory: merges over a directory, replaces anything else.
                if !matches!(m.get(&path), Some(Node::Dir(_))) {
                    remove_subtree(m, &path);
                }
                m.insert(path.clone(), Node::Dir(mode));
                entries.push(E::Dir(
                    Box::leak(path.display().to_string().into_boxed_str()),
                    mode,
                ));
            }
            1 => {
                let target = format!("t{}", rng.below(100));
                remove_subtree(m, &path);
                m.insert(path.clone(), Node::Sym(target.clone()));
                entries.push(E::Sym(path.display().to_string(), target));
            }
            _ => {
                let content = format!("c{layer}_{i}_{}", rng.below(1000));
                remove_subtree(m, &path);
                m.insert(path.clone(), Node::File(content.clone(), mode));
                entries.push(E::File(
                    path.display().to_string(),
                    content.into_bytes(),
                    mode,
                ));
            }
        }
        touched.push(path);
    }
    // Hard links to lower files nobody touched in this layer.
    let files: Vec<(PathBuf, Node)> = lower
        .iter()
        .filter(|(p, n)| {
            matches!(n, Node::File(..))
                && m.get(*p) == Some(*n)
                && !touched.iter().any(|t| p.starts_with(t))
        })
        .map(|(p, n)| (p.clone(), n.clone()))
        .collect();
    if !files.is_empty() && rng.chance(50) {
        let (target, node) = files[rng.below(files.len())].clone();
        let path = PathBuf::from(format!("hl{layer}"));
        if !m.contains_key(&path) {
            m.insert(path.clone(), node);
            entries.push(E::Link(
                path.display().to_string(),
                target.display().to_string(),
            ));
        }
    }
    // Markers go anywhere in the tar order.
    for h in hidden {
        let at = rng.below(entries.len() + 1);
        entries.insert(at, h);
    }
    entries
}

#[test]
fn random_layers_match_the_model() {
    for seed in 1..=150u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut model = Model::new();
        let mut layers = Vec::new();
        for layer in 0..rng.below(4) + 1 {
            let entries = gen_layer(&mut rng, &mut model, layer);
            layers.push(build(&entries));
        }
        let root = tempfile::tempdir().unwrap();
        unpack_all(root.path(), &layers).unwrap();
        // Parents created implicitly are 0755 dirs in both.
        let mut expected = model_desc(&model);
        let actual = snapshot(root.path());
        for k in actual.keys() {
            expected
                .entry(k.clone())
                .or_insert_with(|| "dir 755".into());
        }
        assert_eq!(actual, expected, "seed {seed}");
    }
}
