//! The console's one mapping from errors to HTTP responses: `{"error": message}` with the
//! HTTP code of the failure. Handlers reuse the gRPC services, whose answers arrive as a
//! `tonic::Status` (or an [`ApiError`] from the shared helpers) and leave with the HTTP code
//! of their gRPC code; the console's own refusals carry their HTTP code here.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tonic::{Code, Status};

use crate::auth::AuthError;
use crate::db::DbError;
use crate::services::error::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// What a gRPC service answered.
    #[error("{}", .0.message())]
    Grpc(Status),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("sign in first")]
    SignedOut,
    #[error("host tokens cannot use the console")]
    HostToken,
    #[error("give email and password, or a token")]
    NoCredentials,
    #[error("bad job name")]
    BadJobName,
    #[error("no node action `{0}`")]
    UnknownAction(String),
}

impl From<Status> for HttpError {
    fn from(s: Status) -> Self {
        Self::Grpc(s)
    }
}

impl From<DbError> for HttpError {
    fn from(e: DbError) -> Self {
        Self::Api(e.into())
    }
}

impl From<AuthError> for HttpError {
    fn from(e: AuthError) -> Self {
        Self::Api(e.into())
    }
}

/// The HTTP code of a gRPC code.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::FailedPrecondition | Code::Aborted => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl HttpError {
    /// The HTTP code and message of the response.
    fn answer(self) -> (StatusCode, String) {
        let relayed = |s: Status| (http_status(s.code()), s.message().to_string());
        match self {
            Self::Grpc(s) => relayed(s),
            Self::Api(e) => relayed(e.into()),
            Self::SignedOut => (StatusCode::UNAUTHORIZED, self.to_string()),
            Self::HostToken => (StatusCode::FORBIDDEN, self.to_string()),
            Self::NoCredentials | Self::BadJobName => (StatusCode::BAD_REQUEST, self.to_string()),
            Self::UnknownAction(_) => (StatusCode::NOT_FOUND, self.to_string()),
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let (code, message) = self.answer();
        (code, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

pub type HttpResult<T> = Result<T, HttpError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_has_its_http_code() {
        let table = [
            (HttpError::SignedOut, StatusCode::UNAUTHORIZED),
            (HttpError::HostToken, StatusCode::FORBIDDEN),
            (HttpError::NoCredentials, StatusCode::BAD_REQUEST),
            (HttpError::BadJobName, StatusCode::BAD_REQUEST),
            (HttpError::UnknownAction("x".into()), StatusCode::NOT_FOUND),
            (
                HttpError::Grpc(Status::failed_precondition("busy")),
                StatusCode::CONFLICT,
            ),
            (
                HttpError::Api(ApiError::not_found("node", "n1")),
                StatusCode::NOT_FOUND,
            ),
            (
                HttpError::Api(ApiError::WrongCredentials),
                StatusCode::UNAUTHORIZED,
            ),
            (AuthError::AdminOnly.into(), StatusCode::FORBIDDEN),
        ];
        for (e, code) in table {
            let text = e.to_string();
            let (got, message) = e.answer();
            assert_eq!(got, code, "{text}");
            assert_eq!(message, text);
        }
    }
}
