//! `nib login`, `nib protocol push/list` and `nib image push` against a real `bv-api`
//! started in a temporary data dir on a free port.

mod api_support;

use std::path::Path;
use std::process::{Command, Output};

use api_support::{start_api, start_api_with, test_pki};

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

#[test]
fn login_over_tls_and_plaintext_rule() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    test_pki(&pki);
    let s = |name: &str| pki.join(name).display().to_string();
    let api = start_api_with(
        &tmp.path().join("api"),
        &[
            "--tls-cert".into(),
            s("server.pem"),
            "--tls-key".into(),
            s("server.key"),
        ],
    );
    assert!(api.url.starts_with("https://"), "{}", api.url);
    let config = tmp.path().join("nib.json");
    let work = tmp.path();
    let login = |url: &str, extra: &[&str]| {
        let mut args = vec![
            "login",
            "--api",
            url,
            "--email",
            "admin@localhost",
            "--password",
            &api.password,
        ];
        args.extend_from_slice(extra);
        nib(&args, work, &config)
    };

    // Without the CA the system roots do not know the server's certificate.
    let out = login(&api.url, &[]);
    assert!(!out.status.success());
    assert!(!config.exists());
    let ca = s("ca.pem");
    ok(login(&api.url, &["--ca-file", &ca]));
    let out = ok(nib(&["protocol", "list"], work, &config));
    assert!(!out.contains("error"), "{out}");

    // Plaintext to a non-loopback address is refused before anything is sent.
    let out = login("http://192.0.2.1:8770", &[]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("refusing plaintext"), "{text}");
    assert!(text.contains("--insecure"), "{text}");
}
