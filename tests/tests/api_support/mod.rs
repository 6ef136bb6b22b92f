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
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `bv-api` on `data` and waits until it has published its address and password.
pub fn start_api(data: &Path) -> Api {
    start_api_with(data, &[])
}

/// [`start_api`] with extra command-line flags.
// The child is killed and waited for in `Api::drop` (or below on timeout).
#[allow(clippy::zombie_processes)]
pub fn start_api_with(data: &Path, extra: &[String]) -> Api {
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
        if !addr.trim().is_empty() && !password.trim().is_empty() {
            return Api {
                child,
                url: format!("http://{}", addr.trim()),
                data: data.to_path_buf(),
                password: password.trim().to_string(),
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
