//! Plugin host figures (perf-anchors T3): a trivial method call through the host with the
//! cached AST, engine setup per plugin, and loading a 200-line script. Prints p50/p99.
#![allow(clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use babel_plugin::{Plugin, PluginLimits};
use common::FakeEngine;

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    (at(0.5), at(0.99))
}

fn measure(n: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    for _ in 0..n / 10 {
        f();
    }
    let samples = (0..n)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    percentiles(samples)
}

fn script_200_lines() -> String {
    let mut src = String::from("const NAME = node_env().node_name;\nfn height() { 42 }\n");
    let mut i = 0;
    while src.lines().count() < 200 {
        src.push_str(&format!(
            "fn f{i}(x) {{\n    let m = #{{a: x, b: [1, 2, 3]}};\n    if m.a == \"{i}\" {{ global::NAME }} else {{ `${{x}}-{i}` }}\n}}\n"
        ));
        i += 1;
    }
    src
}

fn main() {
    let fake = FakeEngine::new();
    let plugin = Plugin::from_source(
        "fn height() { 42 }\nfn name() { \"n\" }",
        fake.clone(),
        PluginLimits::default(),
    )
    .unwrap();
    let (p50, p99) = measure(20_000, || {
        assert_eq!(plugin.height().unwrap(), 42);
    });
    println!("trivial method call (height): p50 {p50:?}  p99 {p99:?}  (target p50 <= 20us)");

    let mut plugin = plugin;
    let (p50, p99) = measure(20_000, || {
        assert_eq!(plugin.call_method("name", "").unwrap(), "n");
    });
    println!("call_method(\"name\"):         p50 {p50:?}  p99 {p99:?}");

    let (p50, p99) = measure(2_000, || {
        Plugin::from_source("fn height() { 1 }", fake.clone(), PluginLimits::default()).unwrap();
    });
    println!("engine setup + tiny plugin:   p50 {p50:?}  p99 {p99:?}  (target <= 1ms)");

    let src = script_200_lines();
    assert!(src.lines().count() >= 200);
    let (p50, p99) = measure(500, || {
        Plugin::from_source(&src, fake.clone(), PluginLimits::default()).unwrap();
    });
    println!("load 200-line script:         p50 {p50:?}  p99 {p99:?}  (target <= 1ms)");

    // Breakdown: the parse alone, with and without the AST optimizer.
    for (label, level) in [
        (
            "  of which compile (optimized)",
            rhai::OptimizationLevel::Simple,
        ),
        (
            "  of which compile (no optim.)",
            rhai::OptimizationLevel::None,
        ),
    ] {
        let mut engine = rhai::Engine::new_raw();
        engine.set_optimization_level(level);
        let (p50, p99) = measure(500, || {
            engine.compile(&src).unwrap();
        });
        println!("{label}: p50 {p50:?}  p99 {p99:?}");
    }
}
