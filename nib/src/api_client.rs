//! Authenticated clients of the control-plane API (`api.v1`).

use std::time::Duration;

use babel_api::pb::api::v1 as api;
use bv_base::api_endpoint::{ApiTls, api_endpoint};
use eyre::{Context, Result};
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::config::Credentials;

/// Adds `authorization: Bearer <token>` to every request.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<tonic::metadata::Ascii>>);

impl Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

pub type Authed = InterceptedService<Channel, Bearer>;

/// A connection to the API with the clients nib uses.
#[derive(Clone)]
pub struct Api {
    pub auth: api::auth_service_client::AuthServiceClient<Authed>,
    pub api_keys: api::api_key_service_client::ApiKeyServiceClient<Authed>,
    pub protocols: api::protocol_service_client::ProtocolServiceClient<Authed>,
    pub images: api::image_service_client::ImageServiceClient<Authed>,
}

impl Api {
    /// Connect to `url` (`https://host:port`, `http://` to loopback or with `insecure`, or
    /// `unix:///path`), optionally with a token.
    pub async fn connect(url: &str, tls: &ApiTls, token: Option<&str>) -> Result<Self> {
        let channel = api_endpoint(url, tls)?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .connect()
            .await
            .wrap_err_with(|| format!("cannot reach the API at {url}"))?;
        let bearer = Bearer(
            token
                .map(|t| format!("Bearer {t}").parse())
                .transpose()
                .wrap_err("token is not valid header text")?,
        );
        Ok(Self {
            auth: api::auth_service_client::AuthServiceClient::with_interceptor(
                channel.clone(),
                bearer.clone(),
            ),
            api_keys: api::api_key_service_client::ApiKeyServiceClient::with_interceptor(
                channel.clone(),
                bearer.clone(),
            ),
            protocols: api::protocol_service_client::ProtocolServiceClient::with_interceptor(
                channel.clone(),
                bearer.clone(),
            ),
            images: api::image_service_client::ImageServiceClient::with_interceptor(
                channel, bearer,
            ),
        })
    }

    /// Connect with the saved credentials.
    pub async fn logged_in() -> Result<Self> {
        let c = Credentials::load()?;
        Self::connect(&c.api_url, &c.tls(), Some(&c.token)).await
    }
}

/// `Err(status)` → report with the API's message.
pub fn api_err(what: &str) -> impl Fn(tonic::Status) -> eyre::Report + '_ {
    move |s| eyre::eyre!("{what}: {} ({:?})", s.message(), s.code())
}

/// `NotFound` → `Ok(None)`.
pub fn not_found_as_none<T>(
    r: Result<tonic::Response<T>, tonic::Status>,
) -> Result<Option<T>, tonic::Status> {
    match r {
        Ok(r) => Ok(Some(r.into_inner())),
        Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
        Err(s) => Err(s),
    }
}

pub fn visibility(v: babel_manifest::babel_yaml::Visibility) -> api::Visibility {
    match v {
        babel_manifest::babel_yaml::Visibility::Public => api::Visibility::Public,
        babel_manifest::babel_yaml::Visibility::Private => api::Visibility::Private,
        babel_manifest::babel_yaml::Visibility::Development => api::Visibility::Development,
    }
}
