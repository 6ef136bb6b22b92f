//! The host's connection to the API: hold the command stream open (the server first sends
//! every command without a result, then new ones), run each command, report node statuses
//! after every command and periodically; reconnect with exponential backoff and jitter (to
//! any API replica behind the URL), resuming with every command that has no result yet.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use tracing::{info, warn};

use super::applied::Applied;
use super::dispatch::{NodeOps, StatusReporter, process};
use bv_host::apilink::control::ControlPlane;

/// Timing of the loop.
#[derive(Debug, Clone, Copy)]
pub struct LoopOptions {
    pub host_network: bool,
    pub status_every: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

/// Next backoff delay: doubled, capped.
pub fn next_backoff(current: Duration, opts: &LoopOptions) -> Duration {
    (current * 2).clamp(opts.backoff_min, opts.backoff_max)
}

/// A random wait between half of `backoff` and all of it, so hosts that lost the same API
/// replica do not all come back to the others at the same instant.
pub fn jittered(backoff: Duration) -> Duration {
    let half = backoff / 2;
    half + half.mul_f64(rand::random::<f64>())
}

/// Runs until the task is aborted.
pub async fn run(
    api: Arc<dyn ControlPlane>,
    ops: Arc<dyn NodeOps>,
    connected: Arc<AtomicBool>,
    opts: LoopOptions,
    mut applied: Applied,
) {
    let mut backoff = opts.backoff_min;
    let mut reporter = StatusReporter::default();
    loop {
        match api.command_stream().await {
            Ok(mut stream) => {
                connected.store(true, Ordering::SeqCst);
                backoff = opts.backoff_min;
                info!("connected to the API command stream");
                reporter.reset();
                reporter.report(&*api, ops.reports().await).await;
                let mut tick = tokio::time::interval(opts.status_every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick.tick().await;
                loop {
                    tokio::select! {
                        item = stream.next() => match item {
                            Some(Ok(cmd)) => {
                                if let Err(e) = process(&*api, &*ops, opts.host_network, &mut applied, &cmd).await {
                                    warn!(command = %cmd.command_id, "reporting to the API failed: {}", e.message());
                                    break;
                                }
                                reporter.report(&*api, ops.reports().await).await;
                            }
                            Some(Err(e)) => {
                                warn!("command stream: {}", e.message());
                                break;
                            }
                            None => {
                                warn!("command stream closed by the API");
                                break;
                            }
                        },
                        _ = tick.tick() => {
                            reporter.report(&*api, ops.reports().await).await;
                        }
                    }
                }
                connected.store(false, Ordering::SeqCst);
            }
            Err(e) => {
                warn!(retry_in = ?backoff, "connecting to the API: {}", e.message());
            }
        }
        tokio::time::sleep(jittered(backoff)).await;
        backoff = next_backoff(backoff, &opts);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use babel_api::pb::api::v1 as pb;
    use tonic::Status;
    use uuid::Uuid;

    use super::*;
    use crate::cloud::convert::ConfigUpdate;
    use crate::cloud::dispatch::NodeReport;
    use bv_host::apilink::control::CommandStream;
    use bv_node::node::NodeResult;
    use bv_node::node::state::NodeState;
    use bv_node::node::upgrade::UpgradeTarget;

    fn opts() -> LoopOptions {
        LoopOptions {
            host_network: true,
            status_every: Duration::from_secs(3600),
            backoff_min: Duration::from_millis(10),
            backoff_max: Duration::from_millis(40),
        }
    }

    #[test]
    fn jitter_waits_between_half_and_all_of_the_backoff() {
        let d = Duration::from_millis(800);
        let waits: Vec<Duration> = (0..200).map(|_| jittered(d)).collect();
        assert!(waits.iter().all(|w| *w >= d / 2 && *w <= d), "{waits:?}");
        assert!(
            waits.iter().any(|w| *w != waits[0]),
            "waits differ between hosts"
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let o = opts();
        let mut d = o.backoff_min;
        let mut seen = vec![];
        for _ in 0..4 {
            d = next_backoff(d, &o);
            seen.push(d.as_millis());
        }
        assert_eq!(seen, vec![20, 40, 40, 40]);
    }

    /// Every connection attempt fails until `fail_first` attempts were made; then it
    /// streams one Start command per connection and ends the stream.
    struct FlakyApi {
        attempts: Mutex<u32>,
        fail_first: u32,
        updates: Mutex<Vec<String>>,
    }

    #[tonic::async_trait]
    impl ControlPlane for FlakyApi {
        async fn command_stream(&self) -> Result<CommandStream, Status> {
            let mut n = self.attempts.lock().unwrap();
            *n += 1;
            if *n <= self.fail_first {
                return Err(Status::unavailable("down"));
            }
            let cmd = pb::Command {
                command_id: format!("c{n}"),
                command: Some(pb::command::Command::Node(pb::NodeCommand {
                    node_id: Uuid::nil().to_string(),
                    host_id: "h".into(),
                    command: Some(pb::node_command::Command::Start(pb::NodeStart {})),
                })),
                ..Default::default()
            };
            Ok(futures::stream::iter(vec![Ok(cmd)]).boxed())
        }
        async fn ack(&self, _id: &str) -> Result<(), Status> {
            Ok(())
        }
        async fn update(&self, u: pb::UpdateCommandRequest) -> Result<(), Status> {
            self.updates.lock().unwrap().push(u.command_id);
            Ok(())
        }
        async fn report_status(&self, _r: pb::ReportNodeStatusRequest) -> Result<(), Status> {
            Ok(())
        }
        async fn report_figures(
            &self,
            _r: pb::ReportHostFiguresRequest,
        ) -> Result<pb::ReportHostFiguresResponse, Status> {
            Err(Status::unimplemented("not used by these tests"))
        }
    }

    struct Starts(Mutex<u32>);

    #[tonic::async_trait]
    impl NodeOps for Starts {
        async fn create(&self, _s: NodeState, _start: bool) -> NodeResult<()> {
            Ok(())
        }
        async fn start(&self, _id: Uuid) -> NodeResult<()> {
            *self.0.lock().unwrap() += 1;
            Ok(())
        }
        async fn stop(&self, _id: Uuid) -> NodeResult<()> {
            Ok(())
        }
        async fn restart(&self, _id: Uuid) -> NodeResult<()> {
            Ok(())
        }
        async fn delete(&self, _id: Uuid) -> NodeResult<()> {
            Ok(())
        }
        async fn upgrade(&self, _id: Uuid, _t: UpgradeTarget) -> NodeResult<()> {
            Ok(())
        }
        async fn update(&self, _id: Uuid, _u: ConfigUpdate) -> NodeResult<()> {
            Ok(())
        }
        async fn reports(&self) -> Vec<NodeReport> {
            vec![]
        }
    }

    #[tokio::test]
    async fn reconnects_after_failures_and_closed_streams() {
        let api = Arc::new(FlakyApi {
            attempts: Mutex::new(0),
            fail_first: 2,
            updates: Mutex::new(vec![]),
        });
        let ops = Arc::new(Starts(Mutex::new(0)));
        let connected = Arc::new(AtomicBool::new(false));
        let dir = tempfile::tempdir().unwrap();
        let task = tokio::spawn(run(
            api.clone(),
            ops.clone(),
            connected,
            opts(),
            Applied::load(dir.path()),
        ));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while api.updates.lock().unwrap().len() < 2 {
            assert!(tokio::time::Instant::now() < deadline, "no reconnect");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        task.abort();
        let updates = api.updates.lock().unwrap().clone();
        assert_eq!(&updates[..2], &["c3".to_string(), "c4".to_string()]);
        assert!(*ops.0.lock().unwrap() >= 2);
    }
}
