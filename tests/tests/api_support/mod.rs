//! A real `bv-api` for end-to-end tests: started in a temporary data dir on a port the OS
//! picks, killed when dropped. Its log goes next to the data dir (`<data>.log`).
// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Api {
    child: Child,
    pub url: String,
    pub data: PathBuf,
    /// The admin password the server generated on first start.
    pub password: String,
    /// The CA that signed the server's certificate, when it serves TLS from [`start_api_tls`].
    pub ca: Option<PathBuf>,
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Api {
    /// `--ca-file <ca>` for clients of a TLS server; nothing for plaintext.
    pub fn ca_args(&self) -> Vec<String> {
        self.ca
            .iter()
            .flat_map(|ca| ["--ca-file".to_string(), ca.display().to_string()])
            .collect()
    }

    /// A gRPC channel to the server through the connector the daemon uses (TLS trusting
    /// [`Api::ca`] when set).
    pub async fn channel(&self) -> tonic::transport::Channel {
        connect(&self.url, self.ca.as_deref()).await
    }

    /// SIGKILL, as a crashed machine or an OOM kill would end it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A gRPC channel to `url` through the connector the daemon uses, trusting `ca` when given.
pub async fn connect(url: &str, ca: Option<&Path>) -> tonic::transport::Channel {
    let tls = bv_base::api_endpoint::ApiTls {
        ca_file: ca.map(Path::to_path_buf),
        insecure: false,
    };
    bv_base::api_endpoint::api_endpoint(url, &tls)
        .expect("API endpoint")
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

/// Starts `bv-api` on `data` and waits until it has published its address and password.
pub fn start_api(data: &Path) -> Api {
    start_api_with(data, &[])
}

/// [`start_api`] serving TLS with a certificate from a CA made at run time (in
/// `<data>.pki/`); clients trust it through `--ca-file` ([`Api::ca_args`]).
pub fn start_api_tls(data: &Path) -> Api {
    let pki = data.with_extension("pki");
    test_pki(&pki);
    let pem = |name: &str| pki.join(name).display().to_string();
    let mut api = start_api_with(
        data,
        &[
            "--tls-cert".into(),
            pem("server.pem"),
            "--tls-key".into(),
            pem("server.key"),
        ],
    );
    assert!(api.url.starts_with("https://"), "{}", api.url);
    api.ca = Some(pki.join("ca.pem"));
    api
}

/// [`start_api`] with extra command-line flags.
pub fn start_api_with(data: &Path, extra: &[String]) -> Api {
    spawn_api(data, extra, true)
}

/// A further replica on a database another replica set up: only the first start makes the
/// admin, so this one waits for its address alone (`password` is empty).
pub fn start_api_replica(data: &Path, extra: &[String]) -> Api {
    spawn_api(data, extra, false)
}

// The child is killed and waited for in `Api::drop` (or below on timeout).
#[allow(clippy::zombie_processes)]
fn spawn_api(data: &Path, extra: &[String], first: bool) -> Api {
    std::fs::create_dir_all(data).expect("api data dir");
    let log = std::fs::File::create(data.with_extension("log")).expect("api log");
    let mut child = Command::new(e2e::bin_dir().join("bv-api"))
        .arg("--data-dir")
        .arg(data)
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start bv-api");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let addr = std::fs::read_to_string(data.join("address")).unwrap_or_default();
        let password = std::fs::read_to_string(data.join("admin.password")).unwrap_or_default();
        if !addr.trim().is_empty() && (!first || !password.trim().is_empty()) {
            let scheme = if extra.iter().any(|a| a == "--tls-cert") {
                "https"
            } else {
                "http"
            };
            return Api {
                child,
                url: format!("{scheme}://{}", addr.trim()),
                data: data.to_path_buf(),
                password: password.trim().to_string(),
                ca: None,
            };
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(data.with_extension("log")).unwrap_or_default();
            panic!("bv-api did not start:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A CA made at run time (`ca.pem`) and a certificate it signed for 127.0.0.1
/// (`server.pem`, `server.key`), all in `dir`.
pub fn test_pki(dir: &Path) {
    test_pki_for(dir, &[])
}

/// [`test_pki`] whose server certificate also names `extra_ips`.
pub fn test_pki_for(dir: &Path, extra_ips: &[&str]) {
    std::fs::create_dir_all(dir).expect("pki dir");
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &["-days", "1", "-subj", "/CN=test-ca"],
        &["-addext", "basicConstraints=critical,CA:TRUE"],
        &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        &["-keyout", "ca.key", "-out", "ca.pem"],
    ]
    .concat());
    run(&[
        &["req", "-new"][..],
        &ec,
        &[
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    ]
    .concat());
    let sans: String = extra_ips.iter().map(|ip| format!(",IP:{ip}")).collect();
    std::fs::write(
        dir.join("server.ext"),
        format!(
            "subjectAltName=IP:127.0.0.1,DNS:localhost{sans}\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n"
        ),
    )
    .expect("extensions");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ]);
}
