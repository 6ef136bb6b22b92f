//! Plugin unit tests in Rhai (`nib image test`): a mocked engine and the runner.

pub mod mock_engine;
pub mod runner;
