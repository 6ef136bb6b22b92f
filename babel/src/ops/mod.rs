//! Node-side operations behind the engine calls of the Babel API.

pub mod files;
pub mod http;
pub mod sh;
pub mod template;
pub mod users;
