//! Why a call was refused before it reached a handler (token checks) or by a handler's scope
//! check, and the one mapping of those refusals to gRPC statuses.

use tonic::Status;

use super::scopes::Scope;
use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The request reached a handler without the middleware's principal.
    #[error("missing bearer token")]
    NoPrincipal,
    #[error("missing `authorization: Bearer <token>`")]
    MissingHeader,
    #[error("authorization header is not `Bearer <token>`")]
    MalformedHeader,
    /// Unknown, expired, or its user or host is gone.
    #[error("invalid or expired token")]
    InvalidToken,
    #[error("this token lacks the `{}` scope", .0.as_str())]
    MissingScope(Scope),
    #[error("admin only")]
    AdminOnly,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<AuthError> for Status {
    fn from(e: AuthError) -> Self {
        let message = e.to_string();
        match e {
            AuthError::NoPrincipal
            | AuthError::MissingHeader
            | AuthError::MalformedHeader
            | AuthError::InvalidToken => Status::unauthenticated(message),
            AuthError::MissingScope(_) | AuthError::AdminOnly => Status::permission_denied(message),
            AuthError::Db(_) => Status::internal(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    #[test]
    fn every_refusal_has_its_code() {
        let table = [
            (AuthError::NoPrincipal, Code::Unauthenticated),
            (AuthError::MissingHeader, Code::Unauthenticated),
            (AuthError::MalformedHeader, Code::Unauthenticated),
            (AuthError::InvalidToken, Code::Unauthenticated),
            (
                AuthError::MissingScope(Scope::NodeRead),
                Code::PermissionDenied,
            ),
            (AuthError::AdminOnly, Code::PermissionDenied),
            (
                AuthError::Db(DbError::Corrupt {
                    what: "token",
                    source: "x".into(),
                }),
                Code::Internal,
            ),
        ];
        for (e, code) in table {
            let text = e.to_string();
            let status = Status::from(e);
            assert_eq!(status.code(), code, "{text}");
            assert_eq!(status.message(), text);
        }
        assert_eq!(
            AuthError::MissingScope(Scope::NodeRead).to_string(),
            "this token lacks the `node:read` scope"
        );
    }
}
