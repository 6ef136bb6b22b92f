//! T1c: first unpack of an image cached only as layers (a cold start of a node whose image
//! was pulled but never unpacked).
//!
//! Synthetic 6-layer image like the anchors' (busybox; 100 × 1 MiB random; 200 × 0.5 MiB
//! JSON lines; 20 000 × 4 KiB files in 100 dirs; 2 × 25 MiB random; a layer with regular and
//! opaque whiteouts), as uncompressed, gzip and zstd blobs. Everything runs on a private
//! tmpfs (journal-less ext4 makes create-after-delete slow). Prints, per row, min / median /
//! max seconds and MB/s of uncompressed layer bytes at the median, next to the GNU-tar floor
//! (`tar -c tree | tar -x`) and `docker save` of the same image in the same run.
//!
//! `cargo bench -p bv-host --bench image_unpack`; env: `BENCH_SCALE` (default 1.0),
//! `BENCH_RUNS` (default 5), `BENCH_DOCKER=0` to skip dockerd rows. The docker image is left
//! loaded as `bv-bench-unpack:<scale>` (content-addressed, reused by later runs) so repeated
//! runs do not churn the daemon's disk; `docker rmi` it to clean up.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bv_host::image::unpack::{LayerBlob, UnpackOptions, unpack_layers};
use bv_host::image::{ImageStore, ImageStoreConfig, NoProgress};

type R<T> = Result<T, Box<dyn std::error::Error>>;

struct Rng(u64);

impl Rng {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            let b = self.0.to_le_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
    }
}

struct Layer(tar::Builder<Vec<u8>>);

impl Layer {
    fn new() -> Self {
        Layer(tar::Builder::new(Vec::new()))
    }
    fn entry(&mut self, kind: tar::EntryType, path: &str, data: &[u8], mode: u32) -> R<()> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_size(data.len() as u64);
        self.0.append_data(&mut h, path, data)?;
        Ok(())
    }
    fn dir(&mut self, p: &str) -> R<()> {
        self.entry(tar::EntryType::Directory, p, &[], 0o755)
    }
    fn file(&mut self, p: &str, data: &[u8]) -> R<()> {
        self.entry(tar::EntryType::Regular, p, data, 0o644)
    }
    fn done(self) -> R<Vec<u8>> {
        Ok(self.0.into_inner()?)
    }
}

fn scaled(n: usize, scale: f64) -> usize {
    ((n as f64 * scale).round() as usize).max(1)
}

fn make_layers(scale: f64) -> R<Vec<Vec<u8>>> {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut layers = Vec::new();
    // 1: busybox (a real static binary when installed) plus some applet links.
    let mut l = Layer::new();
    l.dir("bin")?;
    let bb = std::fs::read("/bin/busybox").unwrap_or_else(|_| vec![0x7f; 2 << 20]);
    l.file("bin/busybox", &bb)?;
    for name in ["sh", "ls", "cat", "cp", "mv", "rm"] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_mtime(1_700_000_000);
        h.set_size(0);
        l.0.append_link(&mut h, format!("bin/{name}"), "busybox")?;
    }
    for d in ["etc", "tmp", "var", "data"] {
        l.dir(d)?;
    }
    layers.push(l.done()?);
    // 2: 100 × 1 MiB random.
    let mut l = Layer::new();
    l.dir("data/rand")?;
    let mut buf = vec![0u8; 1 << 20];
    for i in 0..scaled(100, scale) {
        rng.fill(&mut buf);
        l.file(&format!("data/rand/r{i:03}"), &buf)?;
    }
    layers.push(l.done()?);
    // 3: 200 × 0.5 MiB JSON lines.
    let mut l = Layer::new();
    l.dir("data/json")?;
    for i in 0..scaled(200, scale) {
        let mut s = String::with_capacity(512 << 10);
        let mut n = 0u64;
        while s.len() < (512 << 10) - 128 {
            n += 1;
            s.push_str(&format!(
                "{{\"height\":{n},\"hash\":\"{:016x}\",\"txs\":{},\"file\":{i}}}\n",
                n.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                n % 97
            ));
        }
        l.file(&format!("data/json/j{i:03}.jsonl"), s.as_bytes())?;
    }
    layers.push(l.done()?);
    // 4: 20 000 × 4 KiB in 100 dirs.
    let mut l = Layer::new();
    l.dir("data/modules")?;
    let mut small = vec![0u8; 4096];
    let files = scaled(20_000, scale);
    for d in 0..100 {
        l.dir(&format!("data/modules/m{d:02}"))?;
        for f in 0..files / 100 {
            rng.fill(&mut small[..64]);
            l.file(&format!("data/modules/m{d:02}/f{f:03}.js"), &small)?;
        }
    }
    layers.push(l.done()?);
    // 5: 2 × 25 MiB random.
    let mut l = Layer::new();
    let mut big = vec![0u8; scaled(25 << 20, scale)];
    for i in 0..2 {
        rng.fill(&mut big);
        l.file(&format!("data/big{i}"), &big)?;
    }
    layers.push(l.done()?);
    // 6: delete a file, delete a directory, delete and re-create a directory (opaque).
    let mut l = Layer::new();
    l.file("data/rand/.wh.r000", &[])?;
    l.file("data/modules/.wh.m00", &[])?;
    l.dir("data/modules/m01")?;
    l.file("data/modules/m01/.wh..wh..opq", &[])?;
    l.file("data/modules/m01/fresh.js", b"new")?;
    layers.push(l.done()?);
    Ok(layers)
}

fn stats(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let s = |d: Duration| d.as_secs_f64();
    (s(v[0]), s(v[v.len() / 2]), s(v[v.len() - 1]))
}

fn row(what: &str, times: Vec<Duration>, bytes: u64) -> f64 {
    let (min, med, max) = stats(times);
    let mbps = bytes as f64 / 1e6 / med;
    println!("{what:<58} {min:>7.3} {med:>7.3} {max:>7.3} {mbps:>8.0}");
    med
}

struct Tmpfs(PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn tmpfs() -> R<(Tmpfs, PathBuf)> {
    let dir = std::env::temp_dir().join(format!("bv-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mounted = nix::mount::mount(
        Some("tmpfs"),
        &dir,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some("size=6g"),
    );
    if let Err(e) = mounted {
        std::fs::remove_dir(&dir)?;
        return Err(format!("cannot mount a tmpfs (run as root): {e}").into());
    }
    Ok((Tmpfs(dir.clone()), dir))
}

fn timed(mut f: impl FnMut() -> R<()>) -> R<Duration> {
    let t = Instant::now();
    f()?;
    Ok(t.elapsed())
}

fn sh(cmd: &str) -> R<()> {
    let st = Command::new("sh").arg("-c").arg(cmd).status()?;
    if !st.success() {
        return Err(format!("`{cmd}` failed: {st}").into());
    }
    Ok(())
}

fn docker_archive(path: &Path, tag: &str, layers: &[Vec<u8>]) -> R<()> {
    use sha2::Digest;
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", hex::encode(sha2::Sha256::digest(l))))
        .collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids}
    }))?;
    let mut b = tar::Builder::new(std::fs::File::create(path)?);
    let mut add = |name: &str, data: &[u8]| -> R<()> {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, data)?;
        Ok(())
    };
    let mut names = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        names.push(format!("l{i}/layer.tar"));
        add(&names[i], l)?;
    }
    add("config.json", &config)?;
    let manifest =
        serde_json::json!([{"Config": "config.json", "RepoTags": [tag], "Layers": names}]);
    add("manifest.json", &serde_json::to_vec(&manifest)?)?;
    b.into_inner()?.sync_all()?;
    Ok(())
}

fn main() -> R<()> {
    let scale: f64 = std::env::var("BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
        .max(1);
    let with_docker = std::env::var("BENCH_DOCKER")
        .map(|v| v != "0")
        .unwrap_or(true);
    let (_guard, base) = tmpfs()?;
    let t = Instant::now();
    let layers = make_layers(scale)?;
    let bytes: u64 = layers.iter().map(|l| l.len() as u64).sum();
    let mut variants = Vec::new();
    for (name, ext) in [
        ("uncompressed", "tar"),
        ("gzip", "tar.gz"),
        ("zstd-3", "tar.zst"),
    ] {
        let mut blobs = Vec::new();
        for (i, l) in layers.iter().enumerate() {
            let p = base.join(format!("layer{i}.{ext}"));
            let data = match ext {
                "tar" => l.clone(),
                "tar.gz" => {
                    let mut e =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(1));
                    e.write_all(l)?;
                    e.finish()?
                }
                _ => zstd::encode_all(&l[..], 3)?,
            };
            std::fs::write(&p, data)?;
            blobs.push(LayerBlob::file(p));
        }
        variants.push((name, blobs));
    }
    println!(
        "T1c image unpack: 6 layers, {:.1} MB uncompressed layer bytes, scale {scale}, {runs} runs, tmpfs; generated in {:.1}s",
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    println!(
        "{:<58} {:>7} {:>7} {:>7} {:>8}",
        "what", "min s", "med s", "max s", "MB/s"
    );
    let opts = UnpackOptions::default();
    let mut n = 0;
    let mut fresh = |what: &str| {
        n += 1;
        base.join(format!("{what}-{n}"))
    };
    let mut ours = Vec::new();
    for (name, blobs) in &variants {
        let mut times = Vec::new();
        for _ in 0..runs + 1 {
            let dir = fresh("ours");
            std::fs::create_dir(&dir)?;
            times.push(timed(|| {
                Ok(unpack_layers(&dir, blobs, opts, &NoProgress)?)
            })?);
            std::fs::remove_dir_all(&dir)?;
        }
        times.remove(0); // warm-up
        let med = row(
            &format!("ours: unpack {name} layers (whiteouts applied)"),
            times,
            bytes,
        );
        ours.push((name, med));
    }
    // The GNU-tar floor on the same final tree.
    let tree = fresh("tree");
    std::fs::create_dir(&tree)?;
    unpack_layers(&tree, &variants[0].1, opts, &NoProgress)?;
    let mut times = Vec::new();
    for _ in 0..runs + 1 {
        let dir = fresh("floor");
        std::fs::create_dir(&dir)?;
        let cmd = format!(
            "tar -C {} --numeric-owner -cf - . | tar -C {} --numeric-owner -xpf -",
            tree.display(),
            dir.display()
        );
        times.push(timed(|| sh(&cmd))?);
        std::fs::remove_dir_all(&dir)?;
    }
    times.remove(0);
    let floor = row(
        "floor: tar -c tree | tar -x (GNU tar, same tree)",
        times,
        bytes,
    );
    // GNU tar with its own decompressor, layer by layer (whiteouts NOT handled: a floor).
    let mut floors = vec![("uncompressed", floor)];
    for (name, ext, flag) in [("gzip", "tar.gz", "-z"), ("zstd-3", "tar.zst", "--zstd")] {
        let mut times = Vec::new();
        for _ in 0..runs + 1 {
            let dir = fresh("tarz");
            std::fs::create_dir(&dir)?;
            let cmd = format!(
                "for f in {base}/layer*.{ext}; do tar -C {dir} --numeric-owner {flag} -xpf \"$f\" || exit 1; done",
                base = base.display(),
                dir = dir.display()
            );
            times.push(timed(|| sh(&cmd))?);
            std::fs::remove_dir_all(&dir)?;
        }
        times.remove(0);
        let med = row(
            &format!("floor: GNU tar {flag} -x per {name} layer (no whiteouts)"),
            times,
            bytes,
        );
        floors.push((name, med));
    }
    for ((name, med), (_, own_floor)) in ours.iter().zip(&floors) {
        println!(
            "  ours/{name}: {:.0}% of the GNU-tar tree floor, {:.0}% of GNU tar on the same {name} layers",
            floor / med * 100.0,
            own_floor / med * 100.0
        );
    }
    println!("  targets: >= 150 MB/s and >= 85% of the GNU-tar floor");
    if with_docker {
        docker_rows(&base, &layers, bytes, scale, runs.min(3))?;
    }
    Ok(())
}

fn docker_rows(base: &Path, layers: &[Vec<u8>], bytes: u64, scale: f64, runs: usize) -> R<()> {
    let tag = format!("bv-bench-unpack:{}", scale.to_string().replace('.', "_"));
    let present = Command::new("docker")
        .args(["image", "inspect", &tag])
        .output()?
        .status
        .success();
    if !present {
        let archive = base.join("docker-archive.tar");
        docker_archive(&archive, &tag, layers)?;
        sh(&format!(
            "docker load -q -i {} >/dev/null",
            archive.display()
        ))?;
        std::fs::remove_file(&archive)?;
    }
    let mut times = Vec::new();
    for i in 0..runs {
        let out = base.join(format!("save-{i}.tar"));
        times.push(timed(|| {
            sh(&format!("docker save -o {} {tag}", out.display()))
        })?);
        std::fs::remove_file(&out)?;
    }
    row("docker save IMG -o file (reference)", times, bytes);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut times = Vec::new();
    for i in 0..runs {
        let root = base.join(format!("store-{i}"));
        let store = ImageStore::new(ImageStoreConfig::new(&root));
        times.push(timed(|| {
            rt.block_on(store.ensure(&format!("docker-daemon://{tag}"), &NoProgress))?;
            Ok(())
        })?);
        std::fs::remove_dir_all(&root)?;
    }
    row(
        "ours: ensure(docker-daemon://) = docker save + unpack",
        times,
        bytes,
    );
    Ok(())
}
