//! The whole image engineer's loop from an empty directory, on a real blockvisord and a real
//! bv-api: create → build → test → check → play → run → bump → build → upgrade → push, with
//! the surprises of the loop caught on the way (a second create, a stale image, a no-op
//! upgrade, a push before the protocol exists).

mod api_support;
mod bv_support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use bv_support::{Daemon, remove_image, unique, wait_for};

fn nib(args: &[&str], cwd: &Path, socket: &Path, config: &Path) -> Output {
    Command::new(e2e::bin_dir().join("nib"))
        .args(args)
        .current_dir(cwd)
        .env("BV_SOCKET", socket)
        .env("NIB_CONFIG", config)
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
fn from_an_empty_dir_to_a_pushed_tested_image() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    let config = work.join("nib.json");
    let protocol = unique("nibloop");
    let mut daemon = Daemon::start();
    let sock = daemon.socket.clone();
    let run = |args: &[&str], cwd: &Path| nib(args, cwd, &sock, &config);
    let ok = |args: &[&str], cwd: &Path| {
        let out = run(args, cwd);
        let log = text(&out);
        assert!(out.status.success(), "nib {args:?}:\n{log}");
        log
    };
    let started = Instant::now();

    // create; a second create refuses and keeps the work
    ok(&["image", "create", &protocol, "cl-net-full"], work);
    let img = work.join(format!("{protocol}_cl-net-full"));
    for f in ["protocols.yaml", "tests/main_test.rhai", "babel.d.rhai"] {
        assert!(img.join(f).is_file(), "{f}");
    }
    let again = run(&["image", "create", &protocol, "cl-net-full"], work);
    assert!(!again.status.success());
    assert!(text(&again).contains("--force"), "{}", text(&again));

    // build as generated (no busybox copied by hand), then the unit tests and the checks
    assert!(!img.join("busybox").exists());
    let tag_v1 = format!("{protocol}-cl-net-full:0.0.1");
    let log = ok(&["image", "build"], &img);
    assert!(
        log.contains(&format!("Built docker-daemon://{tag_v1}")),
        "{log}"
    );
    let log = ok(&["image", "test"], &img);
    assert!(log.contains("test result: ok. 4 passed; 0 failed"), "{log}");
    let log = ok(
        &[
            "image",
            "check",
            "plugin",
            "jobs-status",
            "protocol-status",
            "--start-timeout",
            "60",
            "--jobs-wait",
            "3",
            "--cleanup",
        ],
        &img,
    );
    assert!(log.contains("All checks passed!"), "{log}");
    assert!(!log.contains("stale"), "{log}");

    // a new plugin function: play warns that the image is stale; --build fixes it
    let rhai = img.join("main.rhai");
    let mut plugin = std::fs::read_to_string(&rhai).unwrap();
    plugin.push_str("\nfn newfn() { \"new \" + node_env().node_version }\n");
    std::fs::write(&rhai, plugin).unwrap();
    let out = run(&["--format", "json", "image", "play"], &img);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("is stale") && log.contains("main.rhai: local sha256"),
        "{log}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["stale_image"], true, "{doc}");
    let stale_node = doc["name"].as_str().unwrap().to_string();
    daemon.ok(&["node", "delete", &stale_node, "--yes"]);

    let log = ok(&["image", "play", "--build"], &img);
    assert!(!log.contains("is stale"), "{log}");
    let name = log
        .split("and name `")
        .nth(1)
        .and_then(|r| r.split('`').next())
        .expect("node name printed")
        .to_string();
    daemon.ok(&["node", "start", &name]);
    let mut answer = String::new();
    wait_for(Duration::from_secs(60), "newfn answers", || {
        let out = daemon.bv(&["node", "run", "newfn", &name]);
        answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
        out.status.success()
    });
    assert_eq!(answer, "new 0.0.1");
    eprintln!(
        "create -> dev node answering a new method: {:.1}s",
        started.elapsed().as_secs_f64()
    );

    // upgrade without a bump refuses; bump + build + upgrade says what changed
    let out = run(&["image", "upgrade", &name], &img);
    assert!(!out.status.success());
    assert!(text(&out).contains("nib image bump"), "{}", text(&out));
    let log = ok(&["image", "bump"], &img);
    assert!(log.contains("version: 0.0.1 -> 0.0.2"), "{log}");
    let yaml = std::fs::read_to_string(img.join("babel.yaml")).unwrap();
    let tag_v2 = format!("{protocol}-cl-net-full:0.0.2");
    assert!(
        yaml.contains(&format!("container_uri: docker-daemon://{tag_v2}")),
        "{yaml}"
    );
    let rhai_v2 = std::fs::read_to_string(&rhai)
        .unwrap()
        .replace("\"new \"", "\"newer \"");
    std::fs::write(&rhai, rhai_v2).unwrap();
    ok(&["image", "build"], &img);
    let log = ok(&["image", "upgrade", &name], &img);
    assert!(
        log.contains("version 0.0.1 -> 0.0.2")
            && log.contains(&format!("-> docker-daemon://{tag_v2}"))
            && log.contains("plugin changed: main.rhai"),
        "{log}\ndaemon log:\n{}",
        daemon.log()
    );
    wait_for(Duration::from_secs(60), "upgraded newfn answers", || {
        let out = daemon.bv(&["node", "run", "newfn", &name]);
        String::from_utf8_lossy(&out.stdout).trim() == "newer 0.0.2"
    });

    // push: the missing protocol names the next step; the scaffold's protocols.yaml is it
    let api = api_support::start_api(&work.join("api"));
    ok(
        &[
            "login",
            "--api",
            &api.url,
            "--email",
            "admin@localhost",
            "--password",
            &api.password,
        ],
        work,
    );
    let out = run(&["image", "push"], &img);
    assert!(!out.status.success());
    assert!(text(&out).contains("nib protocol push"), "{}", text(&out));
    ok(&["protocol", "push"], &img);
    let out = run(&["--format", "json", "image", "push"], &img);
    assert!(out.status.success(), "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["variants"][0]["image_action"], "added", "{doc}");
    assert_eq!(doc["variants"][0]["version"], "0.0.2", "{doc}");

    daemon.cleanup();
    remove_image(&tag_v1);
    remove_image(&tag_v2);
}
