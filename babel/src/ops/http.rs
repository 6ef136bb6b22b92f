//! `run_jrpc` and `run_rest`: HTTP calls to services inside the node.

use std::sync::OnceLock;
use std::time::Duration;

use babel_api::engine::{HttpResponse, JrpcRequest, RestRequest};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("invalid jrpc params: {0}")]
    Params(serde_json::Error),
    #[error("invalid header '{name}': {source}")]
    HeaderName {
        name: String,
        #[source]
        source: reqwest::header::InvalidHeaderName,
    },
    #[error("invalid header '{name}': {source}")]
    HeaderValue {
        name: String,
        #[source]
        source: reqwest::header::InvalidHeaderValue,
    },
    #[error(transparent)]
    Client(#[from] crate::http_client::ClientError),
    #[error("request to {url} failed: {source}")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
}

/// The agent's HTTP client, built on first use (so an idle agent does not pay for it).
fn client() -> Result<&'static reqwest::Client, HttpError> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c);
    }
    let c =
        crate::http_client::build(|| reqwest::Client::builder().timeout(Duration::from_secs(10)))?;
    Ok(CLIENT.get_or_init(|| c))
}

fn headers(list: &Option<Vec<(String, String)>>) -> Result<HeaderMap, HttpError> {
    let mut map = HeaderMap::new();
    for (k, v) in list.iter().flatten() {
        let name =
            HeaderName::from_bytes(k.as_bytes()).map_err(|source| HttpError::HeaderName {
                name: k.clone(),
                source,
            })?;
        let value = HeaderValue::from_str(v).map_err(|source| HttpError::HeaderValue {
            name: k.clone(),
            source,
        })?;
        map.append(name, value);
    }
    Ok(map)
}

/// The JSON-RPC 2.0 body for `req`.
pub fn jrpc_body(req: &JrpcRequest) -> Result<serde_json::Value, HttpError> {
    let mut body = serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": req.method});
    if let Some(params) = &req.params {
        let params: serde_json::Value = serde_json::from_str(params).map_err(HttpError::Params)?;
        body["params"] = params;
    }
    Ok(body)
}

async fn finish(url: &str, rb: reqwest::RequestBuilder) -> Result<HttpResponse, HttpError> {
    let err = |source| HttpError::Request {
        url: url.to_string(),
        source,
    };
    let resp = rb.send().await.map_err(err)?;
    let status_code = resp.status().as_u16();
    let body = resp.text().await.map_err(err)?;
    Ok(HttpResponse { status_code, body })
}

/// POSTs a JSON-RPC request; any HTTP status is returned, not treated as an error.
pub async fn run_jrpc(req: &JrpcRequest, timeout: Duration) -> Result<HttpResponse, HttpError> {
    let body = jrpc_body(req)?;
    let rb = client()?
        .post(&req.host)
        .timeout(timeout)
        .headers(headers(&req.headers)?)
        .json(&body);
    finish(&req.host, rb).await
}

/// GETs `req.url`; any HTTP status is returned, not treated as an error.
pub async fn run_rest(req: &RestRequest, timeout: Duration) -> Result<HttpResponse, HttpError> {
    let rb = client()?
        .get(&req.url)
        .timeout(timeout)
        .headers(headers(&req.headers)?);
    finish(&req.url, rb).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jrpc_body_includes_params_only_when_given() {
        let mut req = JrpcRequest {
            host: "http://x".into(),
            method: "m".into(),
            params: None,
            headers: None,
        };
        assert_eq!(
            jrpc_body(&req).unwrap().to_string(),
            r#"{"id":0,"jsonrpc":"2.0","method":"m"}"#
        );
        req.params = Some("[1,2]".into());
        assert_eq!(
            jrpc_body(&req).unwrap()["params"],
            serde_json::json!([1, 2])
        );
        req.params = Some("{".into());
        assert!(jrpc_body(&req).is_err());
    }

    #[test]
    fn bad_header_is_named() {
        let err = headers(&Some(vec![("bad header".into(), "v".into())])).unwrap_err();
        assert!(err.to_string().contains("bad header"));
    }
}
