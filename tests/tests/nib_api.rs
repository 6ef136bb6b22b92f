//! `nib login`, `nib protocol push/list` and `nib image push` against a real `bv-api`
//! started in a temporary data dir on a free port.

mod api_support;

use std::path::Path;
use std::process::{Command, Output};

use api_support::start_api;

fn nib(args: &[&str], cwd: &Path, config: &Path) -> Output {
    Command::new(e2e::bin_dir().join("nib"))
        .args(args)
        .current_dir(cwd)
        .env("NIB_CONFIG", config)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run nib")
}

fn ok(o: Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{text}");
    text
}

#[test]
fn login_push_protocols_and_images() {
    let tmp = tempfile::tempdir().unwrap();
    let api = start_api(&tmp.path().join("api"));
    let config = tmp.path().join("creds/nib.json");
    let work = tmp.path();

    // wrong password: clean failure, nothing written
    let out = nib(
        &[
            "login",
            "--api",
            &api.url,
            "--email",
            "admin@localhost",
            "--password",
            "wrong",
        ],
        work,
        &config,
    );
    assert!(!out.status.success());
    assert!(!config.exists());

    ok(nib(
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
        &config,
    ));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    std::fs::write(
        work.join("protocols.yaml"),
        "- key: nibtest\n  name: Nib test\n  org_id: null\n  ticker: NIB\n  description: first\n  visibility: public\n",
    )
    .unwrap();
    let out = ok(nib(&["protocol", "push"], work, &config));
    assert!(out.contains("Protocol 'nibtest' added"), "{out}");
    std::fs::write(
        work.join("protocols.yaml"),
        "- key: nibtest\n  name: Nib test\n  ticker: NIB\n  description: second\n  visibility: public\n",
    )
    .unwrap();
    let out = ok(nib(&["protocol", "push"], work, &config));
    assert!(out.contains("Protocol 'nibtest' updated"), "{out}");

    let out = nib(
        &["image", "create", "nibtest", "cl-net-full"],
        work,
        &config,
    );
    ok(out);
    let img = work.join("nibtest_cl-net-full");
    let out = ok(nib(&["image", "push"], &img, &config));
    assert!(
        out.contains("Variant version 'nibtest/cl-net-full/0.0.1' added"),
        "{out}"
    );
    assert!(
        out.contains("Image 'nibtest/cl-net-full/0.0.1/1' added"),
        "{out}"
    );
    let out = ok(nib(&["image", "push"], &img, &config));
    assert!(out.contains("No image changes to push"), "{out}");
    // an archive pointer change alone is published as a new build
    let yaml = img.join("babel.yaml");
    let text = std::fs::read_to_string(&yaml).unwrap();
    std::fs::write(&yaml, text.replace("cl-net-full-v1", "cl-net-full-v2")).unwrap();
    let out = ok(nib(&["image", "push"], &img, &config));
    assert!(
        out.contains("Image 'nibtest/cl-net-full/0.0.1/2' added"),
        "{out}"
    );

    let out = ok(nib(&["protocol", "list", "--name", "Nib"], work, &config));
    assert!(out.contains("- Nib test [nibtest]: second"), "{out}");
    assert!(out.contains("* cl-net-full/0.0.1"), "{out}");
}
