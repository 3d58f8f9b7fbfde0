//! Shared helpers for the integration tests.

pub mod hostdiff;
pub mod moo;
pub mod rng;
pub mod singlestep;

/// Where `scripts/fetch-guests.sh` puts the real guests (`.cache/guests/`),
/// or `FERRITE_GUESTS_DIR`.
pub fn guests_dir() -> std::path::PathBuf {
    match std::env::var_os("FERRITE_GUESTS_DIR") {
        Some(d) => d.into(),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/guests"),
    }
}
