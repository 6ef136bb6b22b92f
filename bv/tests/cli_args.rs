//! The argument rules of `bv`: verbs over many nodes need names or `--all`, node-first
//! `run`, `inspect`, `-q`, `logs --since/--timestamps`, completions.
#![allow(clippy::unwrap_used)]

use bv::cli::node::NodeCommand;
use bv::cli::{Cli, Command};
use clap::Parser;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("bv").chain(args.iter().copied()))
}

fn node(args: &[&str]) -> NodeCommand {
    match parse(args).unwrap().command {
        Command::Node(cmd) => *cmd,
        other => panic!("{other:?}"),
    }
}

#[test]
fn many_node_verbs_need_names_or_all() {
    for verb in ["start", "stop", "restart"] {
        let nothing = parse(&["node", verb]).unwrap_err().to_string();
        assert!(nothing.contains("--all"), "{verb} with nothing: {nothing}");
        assert!(
            parse(&["node", verb, "a", "--all"]).is_err(),
            "{verb} a --all"
        );
        parse(&["node", verb, "--all"]).unwrap();
        parse(&["node", verb, "a", "b"]).unwrap();
    }
    match node(&["node", "stop", "-a"]) {
        NodeCommand::Stop {
            id_or_names, all, ..
        } => assert!(all && id_or_names.is_empty()),
        other => panic!("{other:?}"),
    }
    match node(&["node", "start", "a", "--wait", "--wait-timeout", "9"]) {
        NodeCommand::Start {
            wait, wait_timeout, ..
        } => assert!(wait && wait_timeout == 9),
        other => panic!("{other:?}"),
    }
}

#[test]
fn operator_spellings() {
    assert!(matches!(
        node(&["node", "inspect", "a"]),
        NodeCommand::Info { id_or_name } if id_or_name == "a"
    ));
    match node(&["node", "run", "my-node", "height", "--param", "x"]) {
        NodeCommand::Run {
            first,
            second,
            param,
            ..
        } => {
            assert_eq!((first.as_str(), second.as_str()), ("my-node", "height"));
            assert_eq!(param.as_deref(), Some("x"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        node(&["node", "ls", "-q"]),
        NodeCommand::List { quiet: true, .. }
    ));
    match node(&["node", "logs", "a", "--since", "10m", "-t"]) {
        NodeCommand::Logs {
            since,
            timestamps,
            lines,
            ..
        } => {
            assert_eq!(since.as_deref(), Some("10m"));
            assert!(timestamps);
            assert_eq!(lines, None);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse(&["completions", "zsh"]).unwrap().command,
        Command::Completions { .. }
    ));
    assert!(parse(&["completions", "tcsh"]).is_err());
}
