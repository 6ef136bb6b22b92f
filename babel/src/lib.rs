//! The in-node agent `babel` and its job runner `babel-job-runner`.
//!
//! * [`agent`]: the `Babel` and `JobsMonitor` gRPC services on Unix sockets, node setup and
//!   shutdown.
//! * [`jobs`]: the jobs manager inside the agent: registry, dependency resolution, status
//!   store, runner processes.
//! * [`runner`]: the `babel-job-runner` process: one per job, restart/backoff, job kinds.
//! * [`logs`]: job log files (rotation on the runner side, tail/follow on the agent side).
//! * [`archive`]: protocol data archives: chunked, compressed, resumable upload/download.
//! * [`http_client`]: HTTP clients that work with or without a CA bundle in the image.
//! * [`ops`]: node-side engine operations (`run_sh`, HTTP, templates, files, users).

pub mod agent;
pub mod archive;
pub mod fsutil;
pub mod http_client;
pub mod jobs;
pub mod logs;
pub mod ops;
pub mod paths;
pub mod runner;
