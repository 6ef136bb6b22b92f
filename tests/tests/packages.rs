//! The Debian packages from `scripts/build-debs`: installed into a clean root with dpkg, the
//! packaged daemon starts on its packaged config and agent, an upgrade keeps an edited
//! conffile, removal leaves the configuration and purge removes it.

mod bv_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bv_support::wait_for;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds the three packages of `version` from the test profile's binaries into `out`.
fn build(version: &str, out: &Path) -> Vec<PathBuf> {
    let profile = e2e::bin_dir()
        .file_name()
        .map(|p| p.to_string_lossy().into_owned())
        .expect("profile dir");
    let built = run(Command::new(repo().join("scripts/build-debs"))
        .args([
            "--profile",
            &profile,
            "--version",
            version,
            "--compress",
            "none",
        ])
        .arg("--out")
        .arg(out));
    let debs: Vec<PathBuf> = built.lines().map(PathBuf::from).collect();
    assert_eq!(debs.len(), 3, "{built}");
    debs
}

/// dpkg on the clean root `root` (maintainer scripts run outside it, with `DPKG_ROOT` set).
fn dpkg(root: &Path, args: &[&str]) -> String {
    run(Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .args([
            "--force-script-chrootless",
            "--force-depends",
            "--log=/dev/null",
        ])
        .args(args))
}

fn installed_version(root: &Path, package: &str) -> String {
    run(Command::new("dpkg-query")
        .arg(format!("--root={}", root.display()))
        .args(["-W", "-f=${Version} ${Status}", package]))
}

#[test]
fn packages_install_upgrade_and_remove_in_a_clean_root() {
    let tmp = tempfile::Builder::new()
        .prefix("debs")
        .tempdir_in("/tmp")
        .expect("tempdir");
    let v1 = build("0.1.0", &tmp.path().join("v1"));
    let v2 = build("0.1.1", &tmp.path().join("v2"));
    let root = tmp.path().join("root");
    for dir in [
        "var/lib/dpkg/info",
        "var/lib/dpkg/updates",
        "var/lib/dpkg/triggers",
    ] {
        std::fs::create_dir_all(root.join(dir)).expect("dpkg admin dir");
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "").expect("status");

    let paths =
        |v: &[PathBuf]| -> Vec<String> { v.iter().map(|p| p.display().to_string()).collect() };
    let mut install = vec!["-i"];
    let first = paths(&v1);
    install.extend(first.iter().map(String::as_str));
    dpkg(&root, &install);
    for package in ["blockvisor", "bv-api", "nib"] {
        assert_eq!(
            installed_version(&root, package),
            "0.1.0 install ok installed"
        );
    }
    for file in [
        "usr/bin/blockvisord",
        "usr/bin/bv",
        "usr/bin/bv-api",
        "usr/bin/nib",
        "usr/lib/blockvisor/babel-static/babel",
        "usr/lib/blockvisor/babel-static/babel-job-runner",
        "lib/systemd/system/blockvisord.service",
        "lib/systemd/system/bv-api.service",
        "etc/blockvisor/blockvisord.toml",
        "etc/default/bv-api",
        "usr/share/doc/blockvisor/copyright",
    ] {
        assert!(root.join(file).exists(), "{file} not installed");
    }
    let unit =
        std::fs::read_to_string(root.join("lib/systemd/system/blockvisord.service")).expect("unit");
    assert!(unit.contains("StandardOutput=journal") && unit.contains("KillMode=process"));
    for b in ["bv", "nib", "bv-api"] {
        let v = run(Command::new(root.join("usr/bin").join(b)).arg("--version"));
        assert!(v.contains("0.1.0"), "{b}: {v}");
    }

    // The packaged daemon starts on the packaged config and finds the packaged agent (its
    // absolute paths pointed into the test root).
    let state = tmp.path().join("state");
    let socket = tmp.path().join("bv.sock");
    let mut daemon = Command::new(root.join("usr/bin/blockvisord"))
        .arg("--config")
        .arg(root.join("etc/blockvisor/blockvisord.toml"))
        .arg("--root")
        .arg(&state)
        .arg("--socket")
        .arg(&socket)
        .arg("--babel-dir")
        .arg(root.join("usr/lib/blockvisor/babel-static"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the packaged blockvisord");
    let bv = root.join("usr/bin/bv");
    wait_for(Duration::from_secs(20), "packaged daemon answers", || {
        Command::new(&bv)
            .arg("--socket")
            .arg(&socket)
            .arg("status")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).starts_with("Service running"))
    });
    let _ = daemon.kill();
    let _ = daemon.wait();

    // Upgrade: an edited conffile is kept.
    let conf = root.join("etc/blockvisor/blockvisord.toml");
    let edited = format!(
        "{}\nstatus_interval_secs = 7\n",
        std::fs::read_to_string(&conf).expect("conffile")
    );
    std::fs::write(&conf, &edited).expect("edit conffile");
    let second = paths(&v2);
    let mut upgrade = vec!["--force-confold", "-i"];
    upgrade.extend(second.iter().map(String::as_str));
    dpkg(&root, &upgrade);
    assert_eq!(
        installed_version(&root, "blockvisor"),
        "0.1.1 install ok installed"
    );
    assert_eq!(std::fs::read_to_string(&conf).expect("conffile"), edited);

    // Remove keeps the configuration; purge removes it.
    dpkg(&root, &["-r", "blockvisor", "nib"]);
    assert!(!root.join("usr/bin/blockvisord").exists());
    assert!(!root.join("usr/bin/nib").exists());
    assert!(conf.exists(), "remove keeps conffiles");
    dpkg(&root, &["-P", "blockvisor", "bv-api"]);
    assert!(!conf.exists(), "purge removes the configuration");
    assert!(!root.join("etc/default/bv-api").exists());
    assert!(!root.join("usr/bin/bv-api").exists());
}

/// Removes a container and an image when the test ends, passed or not.
struct DockerCleanup {
    container: Option<String>,
    image: String,
}

impl Drop for DockerCleanup {
    fn drop(&mut self) {
        if let Some(c) = &self.container {
            let _ = Command::new("docker").args(["rm", "-f", "-v", c]).output();
        }
        let _ = Command::new("docker")
            .args(["rmi", "-f", &self.image])
            .output();
    }
}

/// The OCI image from `scripts/build-bv-api-image` runs as a non-root user on an empty base,
/// keeps its data in its volume and answers `nib login` on the published port.
#[test]
fn bv_api_image_runs_and_answers() {
    let profile = e2e::bin_dir()
        .file_name()
        .map(|p| p.to_string_lossy().into_owned())
        .expect("profile dir");
    let tag = format!("{}:1", bv_support::unique("bv-api-image-"));
    let mut cleanup = DockerCleanup {
        container: None,
        image: tag.clone(),
    };
    let built = run(
        Command::new(repo().join("scripts/build-bv-api-image")).args([
            "--profile",
            &profile,
            "--tag",
            &tag,
        ]),
    );
    assert_eq!(built.trim(), tag);
    let user =
        run(Command::new("docker").args(["image", "inspect", "-f", "{{.Config.User}}", &tag]));
    assert_eq!(user.trim(), "65532:65532");

    let id = run(Command::new("docker").args(["run", "-d", "-p", "127.0.0.1::8770", &tag]))
        .trim()
        .to_string();
    cleanup.container = Some(id.clone());
    let port = run(Command::new("docker").args(["port", &id, "8770"]));
    let addr = port
        .lines()
        .next()
        .expect("published port")
        .trim()
        .to_string();
    let tmp = tempfile::Builder::new()
        .prefix("bvapi-image")
        .tempdir_in("/tmp")
        .expect("tempdir");
    let password = tmp.path().join("admin.password");
    wait_for(
        Duration::from_secs(30),
        "bv-api in the image made its admin",
        || {
            Command::new("docker")
                .args(["cp", &format!("{id}:/var/lib/bv-api/admin.password")])
                .arg(&password)
                .output()
                .is_ok_and(|o| o.status.success())
                && std::fs::metadata(&password).is_ok_and(|m| m.len() > 0)
        },
    );
    let secret = std::fs::read_to_string(&password).expect("password");
    let login = Command::new(e2e::bin_dir().join("nib"))
        .args(["login", "--api", &format!("http://{addr}")])
        .args(["--email", "admin@localhost", "--password", secret.trim()])
        .env("NIB_CONFIG", tmp.path().join("nib.json"))
        .output()
        .expect("nib login");
    let logs = Command::new("docker")
        .args(["logs", &id])
        .output()
        .expect("logs");
    assert!(
        login.status.success(),
        "{}\n--- container log\n{}",
        String::from_utf8_lossy(&login.stderr),
        String::from_utf8_lossy(&logs.stderr)
    );
}
