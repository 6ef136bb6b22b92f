//! Evaluation model of the plugin host: top level once, constants, imports, limits.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use babel_plugin::{Plugin, PluginError, PluginLimits};
use common::{Call, FakeEngine};

fn plugin(src: &str, fake: &Arc<FakeEngine>) -> Plugin {
    Plugin::from_source(src, fake.clone(), PluginLimits::default()).unwrap()
}

#[test]
fn top_level_runs_once_per_load_and_constants_stay_reachable() {
    let fake = FakeEngine::new();
    let p = plugin(
        r#"
        const NAME = node_env().node_name;
        let counter = run_sh("echo top").stdout;
        fn name() { global::NAME + "!" }
        fn address() { global::NAME }
    "#,
        &fake,
    );
    assert_eq!(p.name().unwrap(), "node name!");
    assert_eq!(p.address().unwrap(), "node name");
    assert_eq!(p.name().unwrap(), "node name!");
    let top_runs = fake
        .calls()
        .iter()
        .filter(|c| matches!(c, Call::RunSh(b, _) if b == "echo top"))
        .count();
    assert_eq!(top_runs, 1);
}

#[test]
fn imports_resolve_from_the_plugin_dir() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("base.rhai"),
        "const BASE = 40;\nfn add(x) { x + global::BASE }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("main.rhai"),
        "import \"base\" as base;\nfn height() { base::add(2) }\n",
    )
    .unwrap();
    let fake = FakeEngine::new();
    let p = Plugin::load(dir.path(), fake, PluginLimits::default()).unwrap();
    assert_eq!(p.height().unwrap(), 42);
}

#[test]
fn infinite_loop_times_out() {
    let fake = FakeEngine::new();
    let limits = PluginLimits {
        call_timeout: Duration::from_millis(200),
        ..PluginLimits::default()
    };
    let p = Plugin::from_source("fn height() { loop { } }", fake, limits).unwrap();
    let start = Instant::now();
    let err = p.height().unwrap_err();
    assert!(matches!(err, PluginError::Timeout { .. }), "{err}");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(err.to_string().contains("'height' timed out"), "{err}");
}

#[test]
fn operations_limit_stops_a_busy_loop() {
    let fake = FakeEngine::new();
    let limits = PluginLimits {
        max_operations: 10_000,
        ..PluginLimits::default()
    };
    let p =
        Plugin::from_source("fn height() { let x = 0; loop { x += 1; } }", fake, limits).unwrap();
    let err = p.height().unwrap_err();
    assert!(matches!(err, PluginError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("10000 operations"), "{err}");
}

#[test]
fn default_limits_bound_operations() {
    assert!(PluginLimits::default().max_operations > 0);
}

#[test]
fn time_blocked_in_run_sh_does_not_count_against_the_budget() {
    let fake = FakeEngine::new();
    fake.state().sh_delay = Duration::from_millis(150);
    let limits = PluginLimits {
        call_timeout: Duration::from_millis(200),
        ..PluginLimits::default()
    };
    // Three blocking calls (450 ms) exceed the 200 ms budget in wall-clock time, but the
    // script itself runs for far less.
    let src = r#"fn height() {
        let n = 0;
        for i in 0..3 { run_sh("sleep"); n += 1; }
        n
    }
    fn block_age() { run_sh("sleep"); run_sh("sleep"); loop { } }"#;
    let p = Plugin::from_source(src, fake, limits).unwrap();
    let start = Instant::now();
    assert_eq!(p.height().unwrap(), 3);
    assert!(start.elapsed() >= Duration::from_millis(450));
    // Script execution still ends at the budget, after the blocked time.
    let start = Instant::now();
    let err = p.block_age().unwrap_err();
    assert!(matches!(err, PluginError::Timeout { .. }), "{err}");
    assert!(
        start.elapsed() >= Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_cancelled_call_stops_at_once_and_the_next_call_runs() {
    let fake = FakeEngine::new();
    let p = Arc::new(std::sync::Mutex::new(plugin(
        "fn protocol_status() { loop { } }\nfn height() { 5 }",
        &fake,
    )));
    let cancel = p.lock().unwrap().canceller();
    let id = cancel.new_call();
    let runner = {
        let p = p.clone();
        std::thread::spawn(move || {
            let p = p.lock().unwrap();
            let _scope = p.enter_call(id)?;
            p.protocol_status()
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    cancel.cancel(id);
    let err = runner.join().unwrap().unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert!(matches!(err, PluginError::Cancelled { .. }), "{err}");
    assert!(err.to_string().contains("'protocol_status'"), "{err}");

    let p = p.lock().unwrap();
    let _scope = p.enter_call(cancel.new_call()).unwrap();
    assert_eq!(p.height().unwrap(), 5);
}

#[test]
fn a_closed_plugin_refuses_every_call() {
    let fake = FakeEngine::new();
    let p = plugin("fn height() { 5 }", &fake);
    let cancel = p.canceller();
    cancel.close();
    let err = p.enter_call(cancel.new_call()).unwrap_err();
    assert!(matches!(err, PluginError::Cancelled { .. }), "{err}");
    assert!(p.height().is_err());
}
