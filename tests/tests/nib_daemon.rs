//! `nib image check` / `play` / `upgrade` against a real blockvisord (temp root, own socket,
//! dev nodes, no API), with an image scaffolded by `nib image create` and built here.

mod bv_support;

use std::path::Path;
use std::process::{Command, Output};

use bv_support::{Daemon, remove_image, unique};

fn nib(args: &[&str], cwd: &Path, socket: &Path) -> Output {
    Command::new(e2e::bin_dir().join("nib"))
        .args(args)
        .current_dir(cwd)
        .env("BV_SOCKET", socket)
        .env("NIB_CONFIG", cwd.join("no-credentials.json"))
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run nib")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn check_play_and_upgrade_dev_nodes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = nib(
        &["image", "create", "nibe2e", "cl-net-full"],
        tmp.path(),
        Path::new("/none"),
    );
    assert!(out.status.success(), "{}", text(&out));
    let img = tmp.path().join("nibe2e_cl-net-full");
    std::fs::copy("/bin/busybox", img.join("busybox")).expect("busybox-static");
    // Blockvisor habits: the service waits for the init job (`needs`), and carries a key
    // this host does not know (ignored with a warning; the node still runs).
    let rhai = img.join("main.rhai");
    let plugin = std::fs::read_to_string(&rhai).unwrap();
    let habits = plugin.replacen(
        "                name: \"counter\",\n",
        "                name: \"counter\",\n                needs: [\"init-job\"],\n                restart: \"always\",\n",
        1,
    );
    assert_ne!(habits, plugin);
    std::fs::write(&rhai, habits).unwrap();
    let tag = format!("{}:0.0.1", unique("nibe2e"));
    let built = Command::new("docker")
        .args(["build", "-q", "-t", &tag, "."])
        .env("DOCKER_BUILDKIT", "0")
        .current_dir(&img)
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", text(&built));
    let yaml = img.join("babel.yaml");
    let original = std::fs::read_to_string(&yaml).unwrap();
    let v1 = original.replace(
        "docker-daemon://nibe2e-cl-net-full:0.0.1",
        &format!("docker-daemon://{tag}"),
    );
    std::fs::write(&yaml, &v1).unwrap();

    let mut daemon = Daemon::start();
    let sock = daemon.socket.clone();

    // every check on a throw-away node, deleted afterwards
    let out = nib(
        &[
            "image",
            "check",
            "plugin",
            "jobs-status",
            "jobs-restarts",
            "protocol-status",
            "--start-timeout",
            "60",
            "--jobs-wait",
            "3",
            "--cleanup",
        ],
        &img,
        &sock,
    );
    let log = text(&out);
    assert!(out.status.success(), "{log}\ndaemon log:\n{}", daemon.log());
    assert!(
        log.contains("Node is running") && log.contains("Node deleted"),
        "{log}"
    );
    assert!(log.contains("All checks passed!"), "{log}");
    assert!(
        log.contains("warning: plugin_config.services[0].restart: unknown key ignored (did you mean `restart_config`?)"),
        "{log}"
    );
    assert!(
        daemon
            .log()
            .contains("plugin_config.services[0].restart: unknown key ignored"),
        "{}",
        daemon.log()
    );

    // a dev node that stays, then an upgrade to a new version of the definition
    let out = nib(
        &[
            "image",
            "play",
            "--props",
            "{\"sync-mode\": \"full\"}",
            "--tag",
            "e2e",
        ],
        &img,
        &sock,
    );
    let log = text(&out);
    assert!(out.status.success(), "{log}\ndaemon log:\n{}", daemon.log());
    let name = log
        .split("and name `")
        .nth(1)
        .and_then(|r| r.split('`').next())
        .expect("node name printed")
        .to_string();
    std::fs::write(&yaml, v1.replace("version: 0.0.1", "version: 0.0.2")).unwrap();
    let out = nib(&["image", "upgrade", &name], &img, &sock);
    let log = text(&out);
    assert!(out.status.success(), "{log}\ndaemon log:\n{}", daemon.log());
    assert!(log.contains("to version 0.0.2"), "{log}");
    let info = daemon.ok(&["node", "info", &name]);
    assert!(info.contains("0.0.2"), "{info}");

    // unknown node: clean error
    let out = nib(&["image", "upgrade", "no-such-node"], &img, &sock);
    assert!(!out.status.success());

    daemon.cleanup();
    remove_image(&tag);
}
