//! Dependency resolution of a pending job: `needs` (must have finished with exit code 0)
//! and `wait_for` (must have finished or been stopped, any result).

use babel_api::job::{JobConfig, JobStatus};

/// What a pending job should do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    NotYet,
    /// The job can never start; the text becomes its `Finished{None, ..}` message.
    Failed(String),
}

/// Decides whether job `name` may start, given a lookup of other jobs' current status
/// (`None` = no such job; an active job reports `Running`).
pub fn readiness(
    name: &str,
    config: &JobConfig,
    status_of: impl Fn(&str) -> Option<JobStatus>,
) -> Readiness {
    let mut ready = true;
    for dep in config.needs.iter().flatten() {
        match status_of(dep) {
            None => {
                return Readiness::Failed(format!(
                    "job '{name}' needs '{dep}', but it is not defined"
                ));
            }
            Some(JobStatus::Finished {
                exit_code: Some(0), ..
            }) => {}
            Some(JobStatus::Finished { exit_code, message }) => {
                let code = match exit_code {
                    Some(code) => format!("exit code {code}"),
                    None => "no exit code".to_string(),
                };
                let why = if message.is_empty() {
                    String::new()
                } else {
                    format!(": {message}")
                };
                return Readiness::Failed(format!(
                    "job '{name}' needs '{dep}', but it failed ({code}){why}"
                ));
            }
            Some(JobStatus::Stopped) => {
                return Readiness::Failed(format!(
                    "job '{name}' needs '{dep}', but it was stopped"
                ));
            }
            Some(JobStatus::Pending { .. } | JobStatus::Running) => ready = false,
        }
    }
    for dep in config.wait_for.iter().flatten() {
        match status_of(dep) {
            None => {
                return Readiness::Failed(format!(
                    "job '{name}' waits for '{dep}', but it is not defined"
                ));
            }
            Some(JobStatus::Finished { .. } | JobStatus::Stopped) => {}
            Some(_) => ready = false,
        }
    }
    if ready {
        Readiness::Ready
    } else {
        Readiness::NotYet
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use babel_api::job::{JobType, RestartPolicy};
    use std::collections::HashMap;

    fn cfg(needs: &[&str], wait_for: &[&str]) -> JobConfig {
        let mut c = JobConfig::new(JobType::RunSh("true".into()), RestartPolicy::Never);
        c.needs = Some(needs.iter().map(|s| s.to_string()).collect());
        c.wait_for = Some(wait_for.iter().map(|s| s.to_string()).collect());
        c
    }

    fn check(c: &JobConfig, jobs: &[(&str, JobStatus)]) -> Readiness {
        let map: HashMap<_, _> = jobs.iter().cloned().collect();
        readiness("j", c, |n| map.get(n).cloned())
    }

    #[test]
    fn needs_requires_success() {
        let c = cfg(&["a"], &[]);
        assert_eq!(check(&c, &[("a", JobStatus::Running)]), Readiness::NotYet);
        assert_eq!(
            check(&c, &[("a", JobStatus::finished(Some(0), "Skipped"))]),
            Readiness::Ready
        );
        assert_eq!(
            check(&c, &[("a", JobStatus::finished(Some(1), "some job error"))]),
            Readiness::Failed(
                "job 'j' needs 'a', but it failed (exit code 1): some job error".into()
            )
        );
        assert_eq!(
            check(&c, &[("a", JobStatus::Stopped)]),
            Readiness::Failed("job 'j' needs 'a', but it was stopped".into())
        );
        assert_eq!(
            check(&c, &[]),
            Readiness::Failed("job 'j' needs 'a', but it is not defined".into())
        );
    }

    #[test]
    fn wait_for_accepts_any_end() {
        let c = cfg(&[], &["b"]);
        assert_eq!(
            check(
                &c,
                &[(
                    "b",
                    JobStatus::Pending {
                        waiting_for: vec![]
                    }
                )]
            ),
            Readiness::NotYet
        );
        assert_eq!(
            check(&c, &[("b", JobStatus::finished(Some(7), "x"))]),
            Readiness::Ready
        );
        assert_eq!(
            check(&c, &[("b", JobStatus::finished(None, "x"))]),
            Readiness::Ready
        );
        assert_eq!(check(&c, &[("b", JobStatus::Stopped)]), Readiness::Ready);
        assert_eq!(
            check(&c, &[]),
            Readiness::Failed("job 'j' waits for 'b', but it is not defined".into())
        );
    }

    #[test]
    fn failure_wins_over_waiting() {
        let c = cfg(&["a", "b"], &[]);
        let r = check(&c, &[("a", JobStatus::Running), ("b", JobStatus::Stopped)]);
        assert!(matches!(r, Readiness::Failed(_)));
    }
}
