//! A test CA made at run time with the `openssl` CLI, and server certificates it signs.

use std::path::{Path, PathBuf};
use std::process::Command;

fn openssl(args: &[&str], dir: &Path) {
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
}

/// A CA: `<name>.pem` (certificate) and `<name>.key` in `dir`.
pub struct TestCa {
    dir: PathBuf,
    name: String,
    pub cert: PathBuf,
}

impl TestCa {
    pub fn new(dir: &Path, name: &str) -> Self {
        let (key, cert) = (format!("{name}.key"), format!("{name}.pem"));
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "1",
                "-subj",
                &format!("/CN={name}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
                "-keyout",
                &key,
                "-out",
                &cert,
            ],
            dir,
        );
        Self {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            cert: dir.join(cert),
        }
    }

    /// A server certificate for 127.0.0.1 and localhost, written to `cert` and `key`.
    pub fn issue(&self, cert: &Path, key: &Path) {
        let csr = self.dir.join(format!("{}-server.csr", self.name));
        let ext = self.dir.join(format!("{}-server.ext", self.name));
        std::fs::write(
            &ext,
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .expect("extensions file");
        let s = |p: &Path| p.to_str().expect("utf-8 path").to_string();
        openssl(
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
                &s(key),
                "-out",
                &s(&csr),
            ],
            &self.dir,
        );
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                &s(&csr),
                "-CA",
                &format!("{}.pem", self.name),
                "-CAkey",
                &format!("{}.key", self.name),
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                &s(&ext),
                "-out",
                &s(cert),
            ],
            &self.dir,
        );
    }
}
