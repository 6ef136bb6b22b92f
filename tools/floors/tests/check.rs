//! The checker on small workspaces written to a temp dir.

#![allow(clippy::unwrap_used)]

use std::path::Path;

fn write(root: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

fn manifest(name: &str, floor: Option<i64>, deps: &[&str]) -> String {
    let mut s = format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\n");
    if let Some(f) = floor {
        s += &format!("[package.metadata.floor]\nlevel = {f}\n");
    }
    s += "[dependencies]\n";
    for d in deps {
        s += &format!("{d} = {{ path = \"../{d}\" }}\n");
    }
    s
}

fn one_crate(files: &[(&str, &str)]) -> floors::Report {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("Cargo.toml", "[workspace]\nmembers = [\"a\"]\n"),
            ("a/Cargo.toml", &manifest("a", Some(0), &[])),
        ],
    );
    let files: Vec<(String, &str)> = files.iter().map(|(p, t)| (format!("a/{p}"), *t)).collect();
    let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), *t)).collect();
    write(dir.path(), &files);
    floors::check(dir.path()).unwrap()
}

#[test]
fn a_cycle_through_super_is_reported_with_its_imports() {
    let report = one_crate(&[
        ("src/lib.rs", "pub mod net;\n"),
        (
            "src/net/mod.rs",
            "mod bridge;\npub struct NetError;\npub fn default() { bridge::Bridge::new(); }\n",
        ),
        (
            "src/net/bridge.rs",
            "use super::NetError;\npub struct Bridge;\nimpl Bridge { pub fn new() -> Result<(), NetError> { Ok(()) } }\n",
        ),
    ]);
    assert!(!report.is_clean());
    assert_eq!(report.cycles.len(), 1, "{report}");
    let text = report.to_string();
    assert!(
        text.contains("a/src/net/mod.rs -> a/src/net/bridge.rs  (bridge::Bridge::new)"),
        "{text}"
    );
    assert!(
        text.contains("a/src/net/bridge.rs -> a/src/net/mod.rs  (super::NetError)"),
        "{text}"
    );
}

#[test]
fn a_facade_reexport_is_resolved_to_the_defining_file() {
    let report = one_crate(&[
        ("src/lib.rs", "pub mod net;\npub mod node;\n"),
        (
            "src/net/mod.rs",
            "mod error;\nmod bridge;\npub use error::NetError;\npub use bridge::Bridge;\n",
        ),
        ("src/net/error.rs", "pub struct NetError;\n"),
        (
            "src/net/bridge.rs",
            "use super::NetError;\npub struct Bridge(NetError);\n",
        ),
        (
            "src/node.rs",
            "use crate::net::{Bridge, NetError};\npub fn f(_: Bridge, _: NetError) {}\n",
        ),
    ]);
    assert!(report.is_clean(), "{report}");
    let files = &report.floors[0].files;
    let floor = |name: &str| files.iter().find(|(_, p)| p.ends_with(name)).unwrap().0;
    assert_eq!(floor("net/error.rs"), 0);
    assert_eq!(floor("net/bridge.rs"), 1);
    assert_eq!(floor("node.rs"), 2);
}

#[test]
fn paths_inside_macros_and_function_bodies_count() {
    let report = one_crate(&[
        ("src/lib.rs", "pub mod a;\npub mod b;\n"),
        (
            "src/a.rs",
            "pub const X: u8 = 1;\npub fn f() { println!(\"{}\", crate::b::Y); }\n",
        ),
        (
            "src/b.rs",
            "pub const Y: u8 = 2;\npub fn g() { use crate::a::X; let _ = X; }\n",
        ),
    ]);
    assert_eq!(report.cycles.len(), 1, "{report}");
}

#[test]
fn test_only_code_may_import_anything() {
    let report = one_crate(&[
        ("src/lib.rs", "pub mod a;\npub mod b;\n"),
        (
            "src/a.rs",
            "pub const X: u8 = 1;\n#[cfg(test)]\nmod tests { use crate::b::Y; }\n",
        ),
        (
            "src/b.rs",
            "pub const Y: u8 = crate::a::X;\n#[cfg(test)]\nfn helper() { let _ = crate::a::X; }\n",
        ),
    ]);
    assert!(report.is_clean(), "{report}");
}

#[test]
fn glob_imports_and_renames_resolve() {
    let report = one_crate(&[
        ("src/lib.rs", "pub mod a;\npub mod b;\npub mod c;\n"),
        ("src/a.rs", "pub struct A;\n"),
        ("src/b.rs", "pub use crate::a::*;\n"),
        (
            "src/c.rs",
            "use crate::b::A as Renamed;\npub fn f(_: Renamed) {}\n",
        ),
    ]);
    assert!(report.is_clean(), "{report}");
    let files = &report.floors[0].files;
    let floor = |name: &str| files.iter().find(|(_, p)| p.ends_with(name)).unwrap().0;
    // c imports a through b's glob re-export: one floor above a, not above b.
    assert_eq!(floor("src/c.rs"), floor("src/a.rs") + 1);
}

#[test]
fn crates_depend_only_on_lower_floors() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "Cargo.toml",
                "[workspace]\nmembers = [\"low\", \"high\", \"bare\"]\n",
            ),
            ("low/Cargo.toml", &manifest("low", Some(1), &["high"])),
            ("low/src/lib.rs", ""),
            ("high/Cargo.toml", &manifest("high", Some(2), &[])),
            ("high/src/lib.rs", ""),
            ("bare/Cargo.toml", &manifest("bare", None, &[])),
            ("bare/src/lib.rs", ""),
        ],
    );
    let report = floors::check(dir.path()).unwrap();
    let text = report.to_string();
    assert!(
        text.contains("low (floor 1) depends on high (floor 2)"),
        "{text}"
    );
    assert!(text.contains("bare: no [package.metadata.floor]"), "{text}");
    assert_eq!(report.crate_violations.len(), 2, "{text}");
}
