//! gRPC service implementations, one module per service. They share [`AppState`].

pub mod archive;
pub mod auth;
pub mod command;
pub mod error;
pub mod host;
pub mod host_figures;
pub mod image;
pub mod node;
pub mod node_config;
pub mod protocol;
pub mod secret;

use std::sync::Arc;

pub use self::error::{ApiError, ApiResult, Denied, grpc};
use crate::crypto::Keys;
use crate::db::Db;
use crate::storage::Storage;
use crate::wake::Wake;

/// Everything handlers need.
#[derive(Debug)]
pub struct AppState {
    pub db: Db,
    pub keys: Keys,
    pub storage: Storage,
    pub wake: Arc<dyn Wake>,
    /// This process's name among the replicas (lease holder name).
    pub replica: String,
}

pub type State = Arc<AppState>;

/// (offset, limit) from a page; limit defaults to 100 and is capped at 1000.
pub fn page(p: Option<&babel_api::pb::api::v1::Page>) -> (i64, i64) {
    let offset = p.map(|p| p.offset).unwrap_or(0).min(i64::MAX as u64) as i64;
    let limit = match p.map(|p| p.limit).unwrap_or(0) {
        0 => 100,
        n => n.min(1000) as i64,
    };
    (offset, limit)
}

/// lower-kebab-case: non-empty, `a-z0-9-`, no leading/trailing or double `-`.
pub fn check_kebab(field: &'static str, value: &str) -> ApiResult<()> {
    let ok = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.starts_with('-')
        && !value.ends_with('-')
        && !value.contains("--");
    if ok {
        Ok(())
    } else {
        Err(ApiError::NotKebab {
            field,
            value: value.to_string(),
        })
    }
}

pub fn required<'a, T>(field: &'static str, value: Option<&'a T>) -> ApiResult<&'a T> {
    value.ok_or(ApiError::Required { field })
}

pub fn not_found(kind: &'static str, id: impl Into<String>) -> ApiError {
    ApiError::not_found(kind, id)
}

#[cfg(test)]
mod tests {
    use super::check_kebab;

    #[test]
    fn kebab() {
        assert!(check_kebab("k", "eth-reth-2").is_ok());
        for bad in ["", "Eth", "a--b", "-a", "a-", "a_b", "a b"] {
            assert!(check_kebab("k", bad).is_err(), "{bad}");
        }
    }
}
