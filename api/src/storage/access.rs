//! What an object URL grants, and which object keys are valid.

use super::error::StorageError;

/// Whether a URL lets the holder read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlOp {
    Get,
    Put,
}

impl UrlOp {
    pub fn as_str(self) -> &'static str {
        match self {
            UrlOp::Get => "GET",
            UrlOp::Put => "PUT",
        }
    }
}

/// Object keys: `[A-Za-z0-9._-]` segments separated by `/`, no empty, `.` or `..` segment.
pub fn check_key(key: &str) -> Result<(), StorageError> {
    let ok = !key.is_empty()
        && key.len() <= 1024
        && key.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        });
    if ok {
        Ok(())
    } else {
        Err(StorageError::BadKey(key.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::check_key;

    #[test]
    fn keys_are_checked() {
        assert!(check_key("eth-main/3/chunk-000001").is_ok());
        assert!(check_key("a/../b").is_err());
        assert!(check_key("/abs").is_err());
        assert!(check_key("a//b").is_err());
        assert!(check_key("a b").is_err());
        assert!(check_key("").is_err());
    }
}
