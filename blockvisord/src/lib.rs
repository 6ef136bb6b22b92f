//! Host daemon `blockvisord` and its CLI `bv`.
pub mod image;
