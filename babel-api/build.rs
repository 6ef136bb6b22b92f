//! Compiles every `.proto` under `proto/` with protox (no `protoc`) and writes one
//! `pb_tree.rs` that nests the generated code by protobuf package, so adding a proto file
//! or package needs no change to `lib.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = PathBuf::from("proto");
    println!("cargo:rerun-if-changed={}", proto_dir.display());
    let mut files = Vec::new();
    collect_protos(&proto_dir, &mut files)?;
    files.sort();
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let fds = protox::compile(&files, [&proto_dir])?;
    let packages: Vec<String> = fds
        .file
        .iter()
        .filter_map(|f| f.package.clone())
        .filter(|p| !p.starts_with("google."))
        .collect();

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;

    std::fs::write(out_dir.join("pb_tree.rs"), module_tree(&packages))?;
    Ok(())
}

fn collect_protos(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
    Ok(())
}

#[derive(Default)]
struct Node {
    children: BTreeMap<String, Node>,
    package: Option<String>,
}

fn module_tree(packages: &[String]) -> String {
    let mut root = Node::default();
    for package in packages {
        let mut node = &mut root;
        for part in package.split('.') {
            node = node.children.entry(part.to_string()).or_default();
        }
        node.package = Some(package.clone());
    }
    let mut out = String::new();
    render(&root, &mut out);
    out
}

fn render(node: &Node, out: &mut String) {
    if let Some(package) = &node.package {
        out.push_str(&format!(
            "include!(concat!(env!(\"OUT_DIR\"), \"/{package}.rs\"));\n"
        ));
    }
    for (name, child) in &node.children {
        out.push_str(&format!(
            "#[allow(clippy::all, clippy::pedantic, missing_docs)]\npub mod {name} {{\n"
        ));
        render(child, out);
        out.push_str("}\n");
    }
}
