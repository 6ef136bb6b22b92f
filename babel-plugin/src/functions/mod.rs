//! The functions and types plugins see (node functions with effects, pure helpers, the
//! response types), registered once per process into a shared Rhai module. Each function
//! finds its node's [`Host`](crate::host::Host) through the engine tag.

mod native;
mod node;
mod types;
mod util;

use std::sync::OnceLock;

use rhai::Module;

pub use types::{DressedHttpResponse, DressedShResponse};

/// The shared module with every babel function and helper type.
pub(crate) fn babel_module() -> rhai::Shared<Module> {
    static MODULE: OnceLock<rhai::Shared<Module>> = OnceLock::new();
    MODULE
        .get_or_init(|| {
            let mut module = Module::new();
            module.set_id("babel");
            types::register(&mut module);
            util::register(&mut module);
            node::register(&mut module);
            module.build_index();
            module.into()
        })
        .clone()
}

/// The Rhai standard library, built once per process.
pub(crate) fn standard_package() -> rhai::Shared<Module> {
    use rhai::packages::Package;
    static STD: OnceLock<rhai::Shared<Module>> = OnceLock::new();
    STD.get_or_init(|| rhai::packages::StandardPackage::new().as_shared_module())
        .clone()
}
