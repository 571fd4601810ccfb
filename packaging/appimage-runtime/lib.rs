//! Empty on purpose: see Cargo.toml. Only the `appimage` crate's runtime file is used.
