//! Chunks in an S3-compatible bucket, with object_store's presigned URLs.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::signer::{Method, Signer};

use super::access::UrlOp;
use super::error::StorageError;

/// S3 settings (credentials may also come from the usual AWS_* environment variables).
#[derive(Debug, Clone, Default)]
pub struct S3Config {
    pub bucket: String,
    pub region: Option<String>,
    pub endpoint: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub allow_http: bool,
}

#[derive(Debug, Clone)]
pub struct S3Storage {
    store: Arc<AmazonS3>,
}

impl S3Storage {
    pub fn new(config: &S3Config) -> Result<Self, StorageError> {
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&config.bucket)
            .with_allow_http(config.allow_http);
        if let Some(region) = &config.region {
            builder = builder.with_region(region);
        }
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false);
        }
        if let Some(id) = &config.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &config.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        Ok(Self {
            store: Arc::new(builder.build()?),
        })
    }

    pub async fn signed_url(
        &self,
        op: UrlOp,
        key: &str,
        expires: Duration,
    ) -> Result<String, StorageError> {
        let method = match op {
            UrlOp::Get => Method::GET,
            UrlOp::Put => Method::PUT,
        };
        let path = Path::parse(key).map_err(|_| StorageError::BadKey(key.to_string()))?;
        Ok(self
            .store
            .signed_url(method, &path, expires)
            .await?
            .to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn presigned_urls_name_the_object_and_method() {
        let s3 = S3Storage::new(&S3Config {
            bucket: "chunks".into(),
            region: Some("us-east-1".into()),
            endpoint: Some("http://127.0.0.1:9".into()),
            access_key_id: Some("AKIDTEST".into()),
            secret_access_key: Some("secret".into()),
            allow_http: true,
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let put = s3
            .signed_url(
                UrlOp::Put,
                "eth-main/1/chunk-00000000",
                Duration::from_secs(60),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            put.starts_with("http://127.0.0.1:9/chunks/eth-main/1/chunk-00000000?"),
            "{put}"
        );
        assert!(put.contains("X-Amz-Signature="), "{put}");
        assert!(put.contains("X-Amz-Expires=60"), "{put}");
        let get = s3
            .signed_url(
                UrlOp::Get,
                "eth-main/1/chunk-00000000",
                Duration::from_secs(60),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(put, get, "method is part of the signature");
    }
}
