//! Shared helpers for the integration tests.

pub mod hostdiff;
pub mod moo;
pub mod rng;
pub mod singlestep;
