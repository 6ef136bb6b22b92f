//! `nib` commands that need neither the API nor blockvisord: scaffold, validate, lint,
//! container-uri, and plugin extraction from images (docker-daemon:// and oci: layouts).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn nib(args: &[&str], cwd: &Path) -> Output {
    Command::new(e2e::bin_dir().join("nib"))
        .args(args)
        .current_dir(cwd)
        .env("NIB_CONFIG", cwd.join("no-credentials.json"))
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run nib")
}

fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn scaffold(dir: &Path, protocol: &str, variant: &str) -> PathBuf {
    let out = nib(&["image", "create", protocol, variant], dir);
    assert!(out.status.success(), "{}", text(&out));
    dir.join(format!("{protocol}_{variant}"))
}

#[test]
fn scaffold_passes_check_plugin_out_of_the_box() {
    let tmp = tempfile::tempdir().unwrap();
    let img = scaffold(tmp.path(), "my-chain", "geth-mainnet-full");
    for f in [
        "babel.yaml",
        "main.rhai",
        "Dockerfile",
        "babel.d.rhai",
        ".vscode/settings.json",
    ] {
        assert!(img.join(f).is_file(), "{f} missing");
    }
    let defs = std::fs::read_to_string(img.join("babel.d.rhai")).unwrap();
    assert!(
        defs.contains("run_sh"),
        "definitions do not describe engine functions"
    );
    let out = nib(&["image", "check", "plugin"], &img);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("All checks passed!"));
    let out = nib(&["image", "container-uri"], &img);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "docker-daemon://my-chain-geth-mainnet-full:0.0.1"
    );
    // check from another directory with --path
    let out = nib(
        &[
            "image",
            "check",
            "plugin",
            "--path",
            "my-chain_geth-mainnet-full/babel.yaml",
        ],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn invalid_definitions_fail_with_file_line_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let img = scaffold(tmp.path(), "chain", "cl-net-full");
    let yaml = img.join("babel.yaml");
    let good = std::fs::read_to_string(&yaml).unwrap();

    std::fs::write(&yaml, good.replace("sku_code: TST-TN-N", "sku_code: A--B")).unwrap();
    let out = nib(&["image", "check", "plugin"], &img);
    assert!(!out.status.success());
    let line = good
        .lines()
        .position(|l| l.contains("sku_code: TST-TN-N"))
        .unwrap()
        + 1;
    assert!(
        text(&out).contains(&format!("babel.yaml:{line}:"))
            && text(&out).contains("variants[0].sku_code"),
        "{}",
        text(&out)
    );

    std::fs::write(
        &yaml,
        good.replace(
            "    min_disk_gb: 2",
            "    min_disk_gb: 2\n    min_dsk_gb: 3",
        ),
    )
    .unwrap();
    let out = nib(&["image", "container-uri"], &img);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("unknown field `min_dsk_gb`"),
        "{}",
        text(&out)
    );

    std::fs::write(&yaml, &good).unwrap();
    let rhai = img.join("main.rhai");
    let plugin = std::fs::read_to_string(&rhai).unwrap();
    std::fs::write(
        &rhai,
        plugin.replace(
            r#"node_params()["sync-mode"]"#,
            r#"node_params()["sync-moed"]"#,
        ),
    )
    .unwrap();
    // An undefined property is a warning: it passes, unless warnings are denied.
    let out = nib(&["image", "check", "plugin"], &img);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("warning: 'sync-moed'"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("variant 'cl-net-full': plugin ok (0 error(s), 1 warning(s))"),
        "{}",
        text(&out)
    );
    let out = nib(&["image", "check", "--lint-only", "--deny-warnings"], &img);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("sync-moed"), "{}", text(&out));
    // An error fails without any flag.
    std::fs::write(
        &rhai,
        plugin.replace("fn height() {", "fn height() { run_shell(\"x\");"),
    )
    .unwrap();
    let out = nib(&["image", "check", "--lint-only"], &img);
    assert!(!out.status.success(), "{}", text(&out));
}

#[test]
fn check_without_variant_lints_every_variant() {
    let tmp = tempfile::tempdir().unwrap();
    let img = scaffold(tmp.path(), "chain", "cl-net-full");
    let yaml = img.join("babel.yaml");
    let good = std::fs::read_to_string(&yaml).unwrap();
    // A second variant: the first one's block again under another key.
    let block = &good[good.find("  - key: cl-net-full").unwrap()..];
    let second = block
        .replace("cl-net-full", "cl-net-archive")
        .replace("TST-TN-N", "TST-TN-A");
    std::fs::write(&yaml, format!("{good}{second}")).unwrap();
    // The scaffold's plugin knows only its own variant: the new one fails alone.
    let out = nib(&["image", "check", "--lint-only"], &img);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("variant 'cl-net-full': plugin ok")
            && text(&out).contains("variant 'cl-net-archive': plugin FAILED (1 error(s)"),
        "{}",
        text(&out)
    );
    let rhai = img.join("main.rhai");
    let plugin = std::fs::read_to_string(&rhai).unwrap();
    let known = plugin.replace(
        "const NETWORKS = #{",
        "const NETWORKS = #{\n    \"cl-net-archive\": #{ net_name: \"net\" },",
    );
    std::fs::write(&rhai, known).unwrap();
    let out = nib(&["image", "check", "--lint-only"], &img);
    assert!(out.status.success(), "{}", text(&out));
    for key in ["cl-net-full", "cl-net-archive"] {
        assert!(
            text(&out).contains(&format!("variant '{key}': plugin ok")),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn daemon_and_api_commands_fail_cleanly_without_them() {
    let tmp = tempfile::tempdir().unwrap();
    let img = scaffold(tmp.path(), "chain", "cl-net-full");
    let sock = tmp.path().join("none.sock");
    let out = nib(&["image", "play", "--socket", sock.to_str().unwrap()], &img);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("cannot reach blockvisord"),
        "{}",
        text(&out)
    );
    let out = nib(&["image", "play", "--props", r#"{"nope": "1"}"#], &img);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("'nope' is not defined"),
        "{}",
        text(&out)
    );
    let out = nib(&["image", "push"], &img);
    assert!(!out.status.success());
    assert!(text(&out).contains("nib login"), "{}", text(&out));
    let out = nib(&["protocol", "list"], &img);
    assert!(!out.status.success());
    assert!(text(&out).contains("nib login"), "{}", text(&out));
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run");
    assert!(out.status.success(), "{cmd:?}: {}", text(&out));
}

#[test]
fn check_plugin_reads_the_plugin_from_images() {
    let tmp = tempfile::tempdir().unwrap();
    let img = scaffold(tmp.path(), "nibtest", "img-local-node");
    std::fs::copy("/bin/busybox", img.join("busybox")).expect("busybox-static is installed");
    let tag = format!("nibtest-img-{}:0.0.1", std::process::id());
    run(Command::new("docker")
        .args(["build", "-q", "-t", &tag, "."])
        .current_dir(&img));
    let yaml = img.join("babel.yaml");
    let good = std::fs::read_to_string(&yaml).unwrap();
    std::fs::write(
        &yaml,
        good.replace(
            "docker-daemon://nibtest-img-local-node:0.0.1",
            &format!("docker-daemon://{tag}"),
        ),
    )
    .unwrap();
    let out = nib(&["image", "check", "plugin", "--from-image"], &img);
    assert!(out.status.success(), "{}", text(&out));

    // an OCI layout needs no daemon at all
    let layout = tmp.path().join("layout");
    run(Command::new("skopeo").args([
        "copy",
        "--quiet",
        &format!("docker-daemon:{tag}"),
        &format!("oci:{}:v1", layout.display()),
    ]));
    let _ = Command::new("docker")
        .args(["rmi", "-f", "--no-prune", &tag])
        .output();
    std::fs::write(
        &yaml,
        good.replace(
            "docker-daemon://nibtest-img-local-node:0.0.1",
            &format!("oci:{}:v1", layout.display()),
        ),
    )
    .unwrap();
    let out = nib(&["image", "check", "plugin", "--from-image"], &img);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("Checking plugin in /tmp"),
        "{}",
        text(&out)
    );
    // and an image without the plugin is an error
    std::fs::write(
        &yaml,
        good.replace(
            "docker-daemon://nibtest-img-local-node:0.0.1",
            &format!("oci:{}:missing", layout.display()),
        ),
    )
    .unwrap();
    let out = nib(&["image", "check", "plugin", "--from-image"], &img);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("no image tagged 'missing'"),
        "{}",
        text(&out)
    );
}
