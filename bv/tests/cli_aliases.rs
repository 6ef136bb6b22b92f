//! Blockvisor's spellings of `bv` commands parse to the same commands.
#![allow(clippy::unwrap_used)]

use bv::cli::job::JobCommand;
use bv::cli::node::NodeCommand;
use bv::cli::service::HostCommand;
use bv::cli::{Cli, Command};
use clap::Parser;

fn parse(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("bv").chain(args.iter().copied())).unwrap()
}

fn node(args: &[&str]) -> NodeCommand {
    match parse(args).command {
        Command::Node(cmd) => *cmd,
        other => panic!("{other:?}"),
    }
}

#[test]
fn blockvisor_spellings_are_aliases() {
    match node(&["node", "delete", "--tags", "a", "--tags", "b", "-y"]) {
        NodeCommand::Delete { tag, yes, .. } => {
            assert_eq!(tag, ["a", "b"]);
            assert!(yes);
        }
        other => panic!("{other:?}"),
    }
    match node(&["node", "job", "my-node", "logs", "-l", "7"]) {
        NodeCommand::Job {
            command: JobCommand::Logs { lines, .. },
            ..
        } => assert_eq!(lines, 7),
        other => panic!("{other:?}"),
    }
    match node(&["node", "list", "--local"]) {
        NodeCommand::List { local, .. } => assert!(local),
        other => panic!("{other:?}"),
    }
    assert_eq!(parse(&["-v", "status"]).verbose, 1);
    assert_eq!(parse(&["node", "list", "--verbose"]).verbose, 1);
    assert!(matches!(
        parse(&["host", "info"]).command,
        Command::Host(HostCommand::Metrics)
    ));
}
