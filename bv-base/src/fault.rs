//! Named crash points for the crash-injection tests, compiled in only with the
//! `fault-injection` feature (test builds; production builds compile every [`point`] to
//! nothing). In-process tests arm a point on their thread with `arm`; reaching it panics,
//! which unwinds the operation without any of its own cleanup, like a kill -9. A daemon built
//! with the feature aborts at the point named by the `BV_FAULT_POINT` environment variable.

/// Every crash point, by operation (the suite runs each one).
pub const POINTS: &[&str] = &[
    "create.after_intent",
    "create.after_dirs",
    "create.after_mount",
    "create.after_save",
    "delete.after_intent",
    "delete.after_kill",
    "delete.after_network",
    "delete.after_unmount",
    "delete.after_state_removed",
    "upgrade.after_intent",
    "upgrade.after_stage",
    "upgrade.after_stop",
    "upgrade.after_set_aside",
    "upgrade.after_mount",
    "upgrade.after_start",
    "upgrade.during_health_wait",
    "pull.after_scratch",
];

#[cfg(feature = "fault-injection")]
thread_local! {
    static ARMED: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Arms `name` on this thread (in-process tests); `None` disarms.
#[cfg(feature = "fault-injection")]
pub fn arm(name: Option<&str>) {
    ARMED.with(|a| *a.borrow_mut() = name.map(str::to_string));
}

/// A crash point: does nothing unless armed.
#[inline]
pub fn point(name: &'static str) {
    #[cfg(feature = "fault-injection")]
    {
        if ARMED.with(|a| a.borrow().as_deref() == Some(name)) {
            panic!("fault point {name}");
        }
        if std::env::var("BV_FAULT_POINT").ok().as_deref() == Some(name) {
            eprintln!("fault point {name}: aborting");
            std::process::abort();
        }
    }
    #[cfg(not(feature = "fault-injection"))]
    let _ = name;
}
