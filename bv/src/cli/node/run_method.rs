//! `bv node run`: one plugin method, node first (`run <node> <method>`); the older
//! `run <method> <node>` order still works.

use std::path::PathBuf;
use std::time::Duration;

use babel_api::pb::babel::v1 as bpb;
use babel_api::pb::blockvisor::v1 as pb;
use babel_api::pb::blockvisor::v1::blockvisor_client::BlockvisorClient;
use eyre::{WrapErr, bail};
use tonic::transport::Channel;

use super::super::output::print_json;
use super::super::progress::Display;
use super::super::{Format, rpc_err};
use super::common::noderef;

/// Methods that start an archive job of the same name and return `null`.
const ARCHIVE_JOBS: [&str; 2] = ["upload", "download"];

/// Which of the two positional words is the node: the first when it names one, else the
/// second when it does (the older `<method> <node>` order), else the first.
async fn node_and_method(
    client: &mut BlockvisorClient<Channel>,
    first: String,
    second: String,
) -> (String, String) {
    let is_node = |r: Result<tonic::Response<pb::Node>, tonic::Status>| !matches!(r, Err(s) if s.code() == tonic::Code::NotFound);
    if is_node(client.get_node(noderef(&first)).await) {
        return (first, second);
    }
    if client.get_node(noderef(&second)).await.is_ok() {
        return (second, first);
    }
    (first, second)
}

/// A method's result as JSON: the value itself when the result is a JSON document (a
/// plugin returning `{"mined":1}` gives an object, not a string holding one), else the
/// string.
pub fn result_json(result: &str) -> serde_json::Value {
    serde_json::from_str(result).unwrap_or_else(|_| serde_json::Value::String(result.into()))
}

/// Runs the method with its parameter (inline or from a file); an unknown method lists the
/// ones the plugin offers. `upload`/`download` follow their job until it ends, showing its
/// progress.
pub async fn run_method(
    client: &mut BlockvisorClient<Channel>,
    first: String,
    second: String,
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
    let (id_or_name, method) = node_and_method(client, first, second).await;
    let req = pb::RunMethodRequest {
        id_or_name: id_or_name.clone(),
        method: method.clone(),
        param,
    };
    let result = match client.run_method(req).await {
        Ok(r) => r.into_inner().result,
        Err(s) if s.code() == tonic::Code::NotFound => {
            // Either the node or the method is missing: only a node that answers has a list
            // of methods to offer.
            match client.list_capabilities(noderef(&id_or_name)).await {
                Ok(caps) => bail!(
                    "{}\nMethod not found. Options are:\n{}",
                    s.message(),
                    caps.into_inner().capabilities.join("\n")
                ),
                Err(_) => return Err(rpc_err(s)),
            }
        }
        Err(s) => return Err(rpc_err(s)),
    };
    if ARCHIVE_JOBS.contains(&method.as_str()) && result == "null" {
        let status = follow_job(client, &id_or_name, &method, Display::for_format(format)).await?;
        match format {
            Format::Json => print_json(&serde_json::json!({"job": method, "status": status})),
            Format::Text => crate::outln!("Job `{method}` of node `{id_or_name}`: {status}"),
        }
        return Ok(());
    }
    match format {
        Format::Json => print_json(&serde_json::json!({"result": result_json(&result)})),
        Format::Text => crate::outln!("{result}"),
    }
    Ok(())
}

/// Polls the job until it is no longer pending or running, showing its progress; the final
/// status, or an error when it did not finish with exit code 0.
pub async fn follow_job(
    client: &mut BlockvisorClient<Channel>,
    node: &str,
    job: &str,
    display: Display,
) -> eyre::Result<String> {
    display.line(&format!("Started job `{job}` on node `{node}`"));
    let mut last = String::new();
    loop {
        let info = client
            .job_info(pb::NodeJobRequest {
                id_or_name: node.into(),
                job: job.into(),
            })
            .await
            .map_err(rpc_err)?
            .into_inner();
        let line = progress_line(job, &info);
        if line != last {
            display.line(&line);
            last = line;
        }
        let status = info
            .status
            .clone()
            .and_then(|s| babel_api::job::JobStatus::try_from(s).ok());
        match status {
            Some(babel_api::job::JobStatus::Pending { .. })
            | Some(babel_api::job::JobStatus::Running)
            | None => {}
            Some(s) if s.is_success() => return Ok(s.to_string()),
            Some(s) => bail!("job `{job}` of node `{node}`: {s}"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `upload: 3/8 chunks uploaded` (or the bare status when the job reports no progress).
fn progress_line(job: &str, info: &bpb::JobInfo) -> String {
    let status = super::super::output::job_status_text(info.status.as_ref());
    match &info.progress {
        Some(p) => format!("{job}: {}/{} {} ({status})", p.current, p.total, p.message),
        None => format!("{job}: {status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_not_encoded_twice() {
        assert_eq!(
            result_json(r#"{"mined":1}"#),
            serde_json::json!({"mined": 1})
        );
        assert_eq!(result_json("42"), serde_json::json!(42));
        assert_eq!(result_json("hello bob"), serde_json::json!("hello bob"));
    }
}
