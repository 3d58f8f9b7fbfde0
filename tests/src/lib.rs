//! Shared helpers for the integration tests.

pub mod moo;
pub mod singlestep;
