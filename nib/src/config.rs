//! nib's credentials file: `~/.nib.json` (or `$NIB_CONFIG`), written atomically with mode
//! 0600 because it holds an API key.

use std::fs;
use std::path::{Path, PathBuf};

use eyre::{Context, Result, bail};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// API key (sent as `authorization: Bearer <token>`).
    pub token: String,
    /// Control-plane API URL.
    pub api_url: String,
    /// PEM file of the CA that signs the API's certificate (system roots when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Plaintext http:// to a non-loopback address was allowed at login (`--insecure`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
}

impl Credentials {
    /// Transport security for connecting with these credentials.
    pub fn tls(&self) -> bv_base::api_endpoint::ApiTls {
        bv_base::api_endpoint::ApiTls {
            ca_file: self.ca_file.clone(),
            insecure: self.insecure,
        }
    }
}

/// Where credentials live.
pub fn config_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("NIB_CONFIG") {
        return Ok(PathBuf::from(p));
    }
    let Some(home) = std::env::var_os("HOME") else {
        bail!("HOME is not set; set NIB_CONFIG to choose where nib keeps its credentials");
    };
    Ok(PathBuf::from(home).join(".nib.json"))
}

impl Credentials {
    pub fn load() -> Result<Self> {
        Self::load_from(&config_path()?)
    }

    pub fn load_from(path: &Path) -> Result<Self> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!("You are not logged-in yet, please run `nib login` first.")
            }
            Err(e) => return Err(e).wrap_err_with(|| format!("cannot read {}", path.display())),
        };
        serde_json::from_str(&text)
            .wrap_err_with(|| format!("{} is not a valid nib credentials file", path.display()))
    }

    pub fn save(&self) -> Result<PathBuf> {
        let path = config_path()?;
        self.save_to(&path)?;
        Ok(path)
    }

    /// Writes `path` atomically with mode 0600, creating its directory.
    pub fn save_to(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(dir).wrap_err_with(|| format!("cannot create {}", dir.display()))?;
        }
        let data = serde_json::to_string_pretty(self)?;
        bv_base::write_atomic_mode(path, data.as_bytes(), 0o600)
            .wrap_err_with(|| format!("cannot write {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn save_is_private_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/.nib.json");
        let c = Credentials {
            token: "secret".into(),
            api_url: "http://127.0.0.1:1".into(),
            ca_file: None,
            insecure: false,
        };
        c.save_to(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(Credentials::load_from(&path).unwrap(), c);
        let missing = Credentials::load_from(&dir.path().join("none")).unwrap_err();
        assert!(missing.to_string().contains("nib login"));
    }
}
