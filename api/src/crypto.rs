//! Key material and the primitives built on it: secret encryption at rest
//! (ChaCha20-Poly1305), token generation and hashing, and the MAC of chunk URLs (keyed
//! BLAKE3, used as an HMAC). Every key is derived from one 32-byte master key that lives in
//! the data dir (mode 0600) or a configured file and must be shared by all replicas.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("master key file {path}: {source}")]
    KeyFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("master key file {path}: not hex: {source}")]
    KeyNotHex {
        path: String,
        #[source]
        source: hex::FromHexError,
    },
    #[error("master key file {path}: must hold 32 bytes (64 hex characters)")]
    KeyLength { path: String },
    #[error("secret cannot be decrypted (wrong master key or corrupt data)")]
    Decrypt,
    #[error("hashing a password: {0}")]
    PasswordHash(argon2::password_hash::Error),
}

/// Keys derived from the master key.
#[derive(Clone)]
pub struct Keys {
    secrets: [u8; 32],
    urls: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

impl Keys {
    pub fn from_master(master: &[u8; 32]) -> Self {
        Self {
            secrets: blake3::derive_key("bv-api 2026 node secrets v1", master),
            urls: blake3::derive_key("bv-api 2026 chunk urls v1", master),
        }
    }

    /// Reads the master key (64 hex characters) from `path`, creating it (mode 0600) when
    /// missing.
    pub fn load_or_create(path: &Path) -> Result<Self, CryptoError> {
        let shown = || path.display().to_string();
        let io = |source| CryptoError::KeyFile {
            path: shown(),
            source,
        };
        if !path.exists() {
            let mut master = [0u8; 32];
            rand::rng().fill_bytes(&mut master);
            write_private(path, hex::encode(master).as_bytes()).map_err(io)?;
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let bytes = hex::decode(text.trim()).map_err(|source| CryptoError::KeyNotHex {
            path: shown(),
            source,
        })?;
        let master: [u8; 32] = bytes
            .try_into()
            .map_err(|_| CryptoError::KeyLength { path: shown() })?;
        Ok(Self::from_master(&master))
    }

    /// Encrypts `plain` bound to `context` (e.g. node id and secret name); returns base64 of
    /// nonce || ciphertext.
    pub fn seal(&self, context: &str, plain: &[u8]) -> String {
        let cipher = ChaCha20Poly1305::new(&Key::from(self.secrets));
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plain,
            aad: context.as_bytes(),
        };
        // Encryption with a valid key and nonce size cannot fail.
        let sealed = cipher
            .encrypt(&Nonce::from(nonce), payload)
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        STANDARD.encode(out)
    }

    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, CryptoError> {
        let bytes = STANDARD.decode(sealed).map_err(|_| CryptoError::Decrypt)?;
        if bytes.len() < 12 {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, data) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| CryptoError::Decrypt)?;
        let cipher = ChaCha20Poly1305::new(&Key::from(self.secrets));
        cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: data,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Decrypt)
    }

    /// MAC of a chunk URL's signed fields, URL-safe base64.
    pub fn sign_url(&self, message: &str) -> String {
        URL_SAFE_NO_PAD.encode(blake3::keyed_hash(&self.urls, message.as_bytes()).as_bytes())
    }

    pub fn verify_url(&self, message: &str, signature: &str) -> bool {
        let Ok(sig) = URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        let Ok(sig): Result<[u8; 32], _> = sig.try_into() else {
            return false;
        };
        // blake3::Hash compares in constant time.
        blake3::keyed_hash(&self.urls, message.as_bytes()) == blake3::Hash::from(sig)
    }
}

/// A new random bearer token with a readable prefix (`bva_` user session, `bvk_` API key,
/// `bvh_` host, `bvp_` provision).
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// What the database stores for a token.
pub fn token_hash(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

pub fn hash_password(password: &str) -> Result<String, CryptoError> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(CryptoError::PasswordHash)?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(CryptoError::PasswordHash)
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Writes a file readable only by its owner, atomically.
/// What may be shown of a secret token: its first characters only.
pub fn token_hint(token: &str) -> String {
    let shown: String = token.chars().take(8).collect();
    format!("{shown}…")
}

pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    bv_base::write_atomic_mode(path, contents, 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hint_shows_a_prefix_only() {
        let token = "bva_abcdefghijklmnopqrstuvwxyz";
        let hint = token_hint(token);
        assert_eq!(hint, "bva_abcd…");
        assert!(!hint.contains("efgh"));
    }

    #[test]
    fn private_files_are_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admin.token");
        write_private(&path, b"secret\n").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn seal_open_round_trip_and_binding() {
        let keys = Keys::from_master(&[7u8; 32]);
        let sealed = keys.seal("node/a", b"hunter2");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(keys.open("node/a", &sealed).ok(), Some(b"hunter2".to_vec()));
        assert!(keys.open("node/b", &sealed).is_err());
        let other = Keys::from_master(&[8u8; 32]);
        assert!(other.open("node/a", &sealed).is_err());
    }

    #[test]
    fn url_signatures_verify_only_unchanged() {
        let keys = Keys::from_master(&[1u8; 32]);
        let sig = keys.sign_url("GET a/b 100");
        assert!(keys.verify_url("GET a/b 100", &sig));
        assert!(!keys.verify_url("PUT a/b 100", &sig));
        assert!(!keys.verify_url("GET a/b 101", &sig));
        assert!(!keys.verify_url("GET a/b 100", "garbage"));
    }

    #[test]
    fn passwords_verify() {
        let hash = hash_password("s3cret").unwrap_or_default();
        assert!(verify_password("s3cret", &hash));
        assert!(!verify_password("wrong", &hash));
    }
}
