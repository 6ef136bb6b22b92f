//! One module per command group.

pub mod check_failures;
pub mod image_build;
pub mod image_bump;
pub mod image_check;
pub mod image_create;
pub mod image_play;
pub mod image_push;
pub mod image_test;
pub mod login;
pub mod plugin_freshness;
pub mod plugin_source;
pub mod protocol;
