//! `plugin_config`: typed model, parsing (unknown keys are warnings) and validation,
//! conversion to job configs.

mod jobs;
mod model;
mod parse;

pub use jobs::{
    DEFAULT_ARCHIVE_RESTART, DEFAULT_SERVICE_RESTART, DEFAULT_ZSTD_LEVEL,
    alternative_download_config, aux_service_config, cold_init_config, download_config, job_config,
    service_config, upload_config,
};
pub use model::*;
pub use parse::{ConfigError, ParsedConfig, UnknownKey, parse_plugin_config, validate};
