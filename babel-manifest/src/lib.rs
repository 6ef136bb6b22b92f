//! The manifests an image and a protocol catalog are described by, strictly parsed: unknown
//! fields and bad values are errors naming the file, line and field.
//!
//! * [`babel_yaml`]: an image's `babel.yaml` (variants, properties, firewall, archives).
//! * [`protocols_yaml`]: a catalog of protocols (`nib protocol push`).
//!
//! `nib` and `bv` read them; neither needs the Rhai plugin host for it.

pub mod babel_yaml;
pub mod protocols_yaml;
