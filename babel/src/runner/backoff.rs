//! Restart policy and backoff, with the clock behind a trait so the arithmetic
//! is tested without sleeping.

use std::time::{Duration, Instant};

use babel_api::job::{JobStatus, RestartConfig, RestartPolicy};

/// Time as the runner sees it.
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// What to do after the job process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The job is over with this status.
    Final(JobStatus),
    /// Start again now (the last run was long enough to reset the backoff).
    RestartNow,
    /// Start again after sleeping this long.
    RestartAfter(Duration),
}

/// Restart state of one runner.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: RestartPolicy,
    counter: u32,
    started: Instant,
}

impl Backoff {
    pub fn new(policy: RestartPolicy, now: Instant) -> Self {
        Self {
            policy,
            counter: 0,
            started: now,
        }
    }

    /// Records a (re)start of the job.
    pub fn started(&mut self, now: Instant) {
        self.started = now;
    }

    /// Whether an exit with `code` is a failure worth reporting (anything but a clean exit
    /// of a job that is not restarted on success).
    pub fn is_reportable(&self, code: Option<i32>) -> bool {
        code != Some(0) || matches!(self.policy, RestartPolicy::Always(_))
    }

    /// Decides after the job ended with `code` (`None`: killed by a signal, counted as -1).
    pub fn on_exit(&mut self, now: Instant, code: Option<i32>, message: &str) -> Decision {
        let code = code.unwrap_or(-1);
        let cfg: RestartConfig = match self.policy {
            RestartPolicy::Always(c) => c,
            RestartPolicy::OnFailure(_) | RestartPolicy::Never if code == 0 => {
                return Decision::Final(JobStatus::finished(Some(0), ""));
            }
            RestartPolicy::OnFailure(c) => c,
            RestartPolicy::Never => {
                return Decision::Final(JobStatus::finished(Some(code), message));
            }
        };
        if now.saturating_duration_since(self.started)
            > Duration::from_millis(cfg.backoff_timeout_ms)
        {
            self.counter = 0;
            return Decision::RestartNow;
        }
        if cfg.max_retries.is_some_and(|max| self.counter >= max) {
            return Decision::Final(JobStatus::finished(Some(code), message));
        }
        let factor = 1u64.checked_shl(self.counter).unwrap_or(u64::MAX);
        let delay = cfg.backoff_base_ms.saturating_mul(factor);
        self.counter = self.counter.saturating_add(1);
        Decision::RestartAfter(Duration::from_millis(delay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(timeout: u64, base: u64, max: Option<u32>) -> RestartConfig {
        RestartConfig {
            backoff_timeout_ms: timeout,
            backoff_base_ms: base,
            max_retries: max,
        }
    }

    #[test]
    fn never_finishes_with_the_exit_code() {
        let t = Instant::now();
        let mut b = Backoff::new(RestartPolicy::Never, t);
        assert_eq!(
            b.on_exit(t, Some(0), "m"),
            Decision::Final(JobStatus::finished(Some(0), ""))
        );
        assert_eq!(
            b.on_exit(t, Some(3), "m"),
            Decision::Final(JobStatus::finished(Some(3), "m"))
        );
        assert_eq!(
            b.on_exit(t, None, "m"),
            Decision::Final(JobStatus::finished(Some(-1), "m"))
        );
        assert!(!b.is_reportable(Some(0)));
    }

    #[test]
    fn always_doubles_then_gives_up_with_the_last_code() {
        let t = Instant::now();
        let mut b = Backoff::new(RestartPolicy::Always(cfg(1000, 100, Some(3))), t);
        assert!(b.is_reportable(Some(0)));
        let mut sleeps = vec![];
        loop {
            b.started(t);
            match b.on_exit(t, Some(0), "done") {
                Decision::RestartAfter(d) => sleeps.push(d.as_millis()),
                Decision::Final(s) => {
                    assert_eq!(s, JobStatus::finished(Some(0), "done"));
                    break;
                }
                Decision::RestartNow => panic!("no long run"),
            }
        }
        // 4 runs: 3 restarts with doubling sleeps.
        assert_eq!(sleeps, vec![100, 200, 400]);
    }

    #[test]
    fn long_run_resets_counter_and_restarts_at_once() {
        let t = Instant::now();
        let mut b = Backoff::new(RestartPolicy::OnFailure(cfg(1000, 10, Some(1))), t);
        assert_eq!(
            b.on_exit(t, Some(1), "x"),
            Decision::RestartAfter(Duration::from_millis(10))
        );
        b.started(t);
        let later = t + Duration::from_millis(1001);
        assert_eq!(b.on_exit(later, Some(1), "x"), Decision::RestartNow);
        b.started(later);
        // Counter was reset: one more retry allowed.
        assert_eq!(
            b.on_exit(later, Some(1), "x"),
            Decision::RestartAfter(Duration::from_millis(10))
        );
        b.started(later);
        assert_eq!(
            b.on_exit(later, Some(2), "y"),
            Decision::Final(JobStatus::finished(Some(2), "y"))
        );
    }

    #[test]
    fn on_failure_success_is_final_and_unlimited_never_gives_up() {
        let t = Instant::now();
        let mut b = Backoff::new(RestartPolicy::OnFailure(cfg(10, 1, None)), t);
        for i in 0..40 {
            b.started(t);
            match b.on_exit(t, Some(1), "x") {
                Decision::RestartAfter(d) => {
                    assert_eq!(d.as_millis(), 1u128 << i);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(
            b.on_exit(t, Some(0), "x"),
            Decision::Final(JobStatus::finished(Some(0), ""))
        );
    }
}
