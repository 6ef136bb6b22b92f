//! `bv node run`: one plugin method.

use std::path::PathBuf;

use babel_api::pb::blockvisor::v1 as pb;
use babel_api::pb::blockvisor::v1::blockvisor_client::BlockvisorClient;
use eyre::{WrapErr, bail};
use tonic::transport::Channel;

use super::super::output::print_json;
use super::super::{Format, rpc_err};
use super::common::noderef;

/// Runs `method` with its parameter (inline or from a file); an unknown method lists the
/// ones the plugin offers.
pub async fn run_method(
    client: &mut BlockvisorClient<Channel>,
    method: String,
    id_or_name: String,
    param: Option<String>,
    param_file: Option<PathBuf>,
    format: Format,
) -> eyre::Result<()> {
    let param = match (param, param_file) {
        (Some(p), _) => p,
        (None, Some(f)) => std::fs::read_to_string(&f)
            .wrap_err_with(|| format!("reading --param-file {}", f.display()))?,
        (None, None) => String::new(),
    };
    let req = pb::RunMethodRequest {
        id_or_name: id_or_name.clone(),
        method,
        param,
    };
    match client.run_method(req).await {
        Ok(r) => match format {
            Format::Json => print_json(&serde_json::json!({"result": r.into_inner().result})),
            Format::Text => crate::outln!("{}", r.into_inner().result),
        },
        Err(s) if s.code() == tonic::Code::NotFound => {
            let caps = client
                .list_capabilities(noderef(&id_or_name))
                .await
                .map(|c| c.into_inner().capabilities.join("\n"))
                .unwrap_or_default();
            bail!("{}\nMethod not found. Options are:\n{caps}", s.message());
        }
        Err(s) => return Err(rpc_err(s)),
    }
    Ok(())
}
