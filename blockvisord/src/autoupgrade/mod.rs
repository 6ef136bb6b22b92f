//! Automatic upgrades: per host (config `[upgrade]`) or per node (`bv node update
//! --upgrade-policy`), nodes follow the newest image version of their protocol/variant
//! after a delay, and an upgraded node that is not healthy by a deadline is rolled back.
//!
//! * [`policy`]: the pure decision logic over a [`policy::Clock`] and an
//!   [`catalog::ImageCatalog`] ("latest version for protocol/variant").
//! * [`catalog`]: the catalog trait and the file catalog used without the control-plane API.
//! * [`record`]: what the engine remembers per node (`nodes/<id>/auto_upgrade.json`).
//! * [`holds`]: versions held for the whole host after a rollback.
//! * [`runner`]: the daemon loop that applies decisions to nodes.

pub mod catalog;
pub mod holds;
pub mod policy;
pub mod record;
pub mod runner;
