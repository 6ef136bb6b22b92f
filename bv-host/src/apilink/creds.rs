//! Host credentials from registration (`<root>/host.json`, mode 0600): the API URL, the
//! host id and the host's bearer token. Written atomically so a crash never leaves half a
//! registration behind.

use std::path::{Path, PathBuf};

use bv_base::json_file::{self, JsonFileError};
use serde::{Deserialize, Serialize};

pub const CREDENTIALS_FILE: &str = "host.json";

#[derive(Debug, thiserror::Error)]
pub enum CredsError {
    #[error(transparent)]
    File(#[from] JsonFileError),
    #[error("{path}: field `{field}` is empty")]
    Empty { path: PathBuf, field: &'static str },
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostCredentials {
    pub api_url: String,
    pub host_id: String,
    pub token: String,
    /// PEM file of the CA that signs the API's certificate (system roots when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Plaintext http:// to a non-loopback API was allowed at registration (`--insecure`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
}

impl std::fmt::Debug for HostCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostCredentials")
            .field("api_url", &self.api_url)
            .field("host_id", &self.host_id)
            .field("token", &"***")
            .field("ca_file", &self.ca_file)
            .field("insecure", &self.insecure)
            .finish()
    }
}

pub fn path(root: &Path) -> PathBuf {
    root.join(CREDENTIALS_FILE)
}

impl HostCredentials {
    /// Transport security for connecting with these credentials.
    pub fn tls(&self) -> bv_base::api_endpoint::ApiTls {
        bv_base::api_endpoint::ApiTls {
            ca_file: self.ca_file.clone(),
            insecure: self.insecure,
        }
    }

    /// The registration under `root`, or None when the host is not registered.
    pub fn load(root: &Path) -> Result<Option<Self>, CredsError> {
        let path = path(root);
        let Some(creds) = json_file::read_if_exists::<Self>(&path)? else {
            return Ok(None);
        };
        for (field, value) in [
            ("api_url", &creds.api_url),
            ("host_id", &creds.host_id),
            ("token", &creds.token),
        ] {
            if value.trim().is_empty() {
                return Err(CredsError::Empty { path, field });
            }
        }
        Ok(Some(creds))
    }

    /// Writes the file with mode 0600 (temp file, fsync, rename).
    pub fn save(&self, root: &Path) -> Result<PathBuf, CredsError> {
        let path = path(root);
        std::fs::create_dir_all(root).map_err(|source| JsonFileError::Write {
            path: path.clone(),
            source,
        })?;
        json_file::write(&path, self, Some(0o600))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn sample() -> HostCredentials {
        HostCredentials {
            api_url: "http://127.0.0.1:1".into(),
            host_id: "h1".into(),
            token: "secret-token".into(),
            ca_file: None,
            insecure: false,
        }
    }

    #[test]
    fn round_trip_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        assert!(HostCredentials::load(dir.path()).unwrap().is_none());
        let written = sample().save(dir.path()).unwrap();
        let mode = std::fs::metadata(&written).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(HostCredentials::load(dir.path()).unwrap(), Some(sample()));
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp file left");
    }

    #[test]
    fn debug_hides_the_token() {
        assert!(!format!("{:?}", sample()).contains("secret-token"));
    }

    #[test]
    fn bad_files_name_the_file_and_field() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(path(dir.path()), "{").unwrap();
        let e = HostCredentials::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("host.json"), "{e}");
        std::fs::write(
            path(dir.path()),
            r#"{"api_url":"http://x","host_id":"","token":"t"}"#,
        )
        .unwrap();
        let e = HostCredentials::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("host_id"), "{e}");
    }
}
