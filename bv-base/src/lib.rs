//! Mechanisms shared by every crate of the workspace.
