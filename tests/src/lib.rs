//! Shared helpers for the integration tests.

pub mod moo;
pub mod rng;
pub mod singlestep;
