//! Plain HTTP routes next to gRPC on the same port: `GET`/`PUT /chunks/<key>` for the
//! filesystem store, authorized by the signed, expiring query (`op`, `exp`, `sig`) that
//! ArchiveService hands out instead of a bearer token.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio_util::io::ReaderStream;

use crate::storage::UrlOp;
use crate::storage::fs::FsStorage;

#[derive(Debug, serde::Deserialize)]
pub struct Signature {
    op: String,
    exp: i64,
    sig: String,
}

fn authorized(fs: &FsStorage, op: UrlOp, key: &str, q: &Signature) -> bool {
    q.op.eq_ignore_ascii_case(op.as_str()) && fs.authorize(op, key, q.exp, &q.sig)
}

fn forbidden() -> Response {
    (StatusCode::FORBIDDEN, "invalid or expired signature\n").into_response()
}

async fn get_chunk(
    State(fs): State<FsStorage>,
    Path(key): Path<String>,
    Query(q): Query<Signature>,
) -> Response {
    if !authorized(&fs, UrlOp::Get, &key, &q) {
        return forbidden();
    }
    match fs.open(&key).await {
        Ok(Some((file, len))) => (
            [
                (header::CONTENT_LENGTH, len.to_string()),
                (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            ],
            Body::from_stream(ReaderStream::new(file)),
        )
            .into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, "no such chunk\n").into_response(),
        Err(e) => {
            tracing::error!("reading chunk {key}: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "storage error\n").into_response()
        }
    }
}

async fn put_chunk(
    State(fs): State<FsStorage>,
    Path(key): Path<String>,
    Query(q): Query<Signature>,
    body: Body,
) -> Response {
    if !authorized(&fs, UrlOp::Put, &key, &q) {
        return forbidden();
    }
    match fs.write(&key, body.into_data_stream()).await {
        Ok(size) => {
            tracing::debug!("stored chunk {key} ({size} bytes)");
            StatusCode::OK.into_response()
        }
        Err(e) => {
            tracing::error!("writing chunk {key}: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "storage error\n").into_response()
        }
    }
}

pub fn chunk_router(fs: FsStorage) -> Router {
    Router::new()
        .route("/chunks/{*key}", get(get_chunk).put(put_chunk))
        .with_state(fs)
}
