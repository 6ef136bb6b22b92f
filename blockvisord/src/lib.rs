//! Host daemon `blockvisord` and its CLI `bv`.
