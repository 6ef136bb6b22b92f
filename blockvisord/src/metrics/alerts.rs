//! Alerts: why a node needs attention, from its status and its last metrics.

use babel_api::pb::babel::v1 as bpb;
use babel_api::pb::blockvisor::v1 as pb;

use bv_node::node::state::Status;

fn alert(kind: &str, message: String) -> pb::NodeAlert {
    pb::NodeAlert {
        kind: kind.into(),
        message,
    }
}

/// `failed` (with the status reason), the plugin's own alerts from collection (`plugin_error`,
/// `plugin_config`), `unhealthy` (protocol health) and `job_failed` (a job that finished with
/// a non-zero exit code) alerts.
pub fn node_alerts(
    status: Status,
    reason: &str,
    metrics: Option<&pb::NodeMetrics>,
) -> Vec<pb::NodeAlert> {
    let mut out = vec![];
    if status.is_failed() {
        let why = if reason.is_empty() {
            "node is Failed"
        } else {
            reason
        };
        out.push(alert("failed", why.to_string()));
    }
    let Some(m) = metrics else {
        return out;
    };
    // Alerts the plugin side raised while collecting (its errors, ignored config keys).
    out.extend(m.alerts.iter().cloned());
    if let Some(ps) = &m.protocol_status
        && ps.health == "unhealthy"
    {
        out.push(alert(
            "unhealthy",
            format!("protocol status `{}` is unhealthy", ps.state),
        ));
    }
    for job in &m.jobs {
        let Some(info) = &job.info else { continue };
        if let Some(bpb::job_status::Status::Finished(f)) =
            info.status.as_ref().and_then(|s| s.status.as_ref())
        {
            match f.exit_code {
                Some(0) => {}
                code => {
                    let code =
                        code.map_or("no exit code".to_string(), |c| format!("exit code {c}"));
                    let msg = if f.message.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", f.message)
                    };
                    out.push(alert(
                        "job_failed",
                        format!("job `{}` failed ({code}){msg}", job.name),
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str, exit: Option<i32>, message: &str) -> bpb::JobEntry {
        bpb::JobEntry {
            name: name.into(),
            info: Some(bpb::JobInfo {
                status: Some(bpb::JobStatus {
                    status: Some(bpb::job_status::Status::Finished(bpb::JobFinished {
                        exit_code: exit,
                        message: message.into(),
                    })),
                }),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn reasons_are_reported() {
        assert!(node_alerts(Status::Running, "", None).is_empty());
        let a = node_alerts(Status::Failed, "container is not running", None);
        assert_eq!(a[0].kind, "failed");
        assert_eq!(a[0].message, "container is not running");

        let m = pb::NodeMetrics {
            protocol_status: Some(pb::ProtocolStatus {
                state: "delinquent".into(),
                health: "unhealthy".into(),
            }),
            jobs: vec![job("init", Some(0), ""), job("sync", Some(2), "disk full")],
            ..Default::default()
        };
        let a = node_alerts(Status::Running, "", Some(&m));
        let kinds: Vec<_> = a.iter().map(|a| a.kind.as_str()).collect();
        assert_eq!(kinds, ["unhealthy", "job_failed"]);
        assert_eq!(a[0].message, "protocol status `delinquent` is unhealthy");
        assert_eq!(a[1].message, "job `sync` failed (exit code 2): disk full");
    }
}
