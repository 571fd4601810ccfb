//! The model manager: the catalog (`models.toml`), the Hugging Face cache shared with the Python
//! tools, resumable checksummed downloads, and memory estimates before loading. The CLI
//! (`showo-studio models …`) and the GUI models panel both drive [`manager`].

pub mod cache;
pub mod catalog;
pub mod config;
pub mod download;
pub mod manager;
pub mod memory;

use std::path::PathBuf;

pub use cache::{HubCache, RepoCache};
pub use catalog::{Capability, Catalog, Dtype, FileEntry, ModelEntry};
pub use config::{DiskSpace, FixedDiskSpace, HubConfig, SystemDiskSpace};
pub use download::{Fetched, FileMetadata, FileRequest, Hub, Transfer};

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("{origin}: {message}")]
    Catalog { origin: String, message: String },

    #[error("no model {id:?} in the catalog; known models: {}", known.join(", "))]
    UnknownModel { id: String, known: Vec<String> },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{url}: HTTP {status}: {message}")]
    Http {
        url: String,
        status: u16,
        message: String,
    },

    #[error("{url}: not found on the hub (HTTP 404)")]
    NotFound { url: String },

    #[error("{url}: network error: {message}")]
    Network { url: String, message: String },

    #[error(
        "{url}: the response has no usable {header} header; is HF_ENDPOINT a Hugging Face hub (or a mirror of one)?"
    )]
    MissingHeader { url: String, header: &'static str },

    #[error(
        "offline mode (HF_HUB_OFFLINE) and {repo}/{file} at revision {revision} is not in the cache ({}); \
         unset HF_HUB_OFFLINE and pull it, or copy it into that cache",
        cache_dir.display()
    )]
    Offline {
        repo: String,
        file: String,
        revision: String,
        cache_dir: PathBuf,
    },

    #[error(
        "not enough disk space for {file} in {}: {} ({needed} bytes) needed, {} ({free} bytes) free",
        dir.display(), format_bytes(*needed), format_bytes(*free)
    )]
    InsufficientDisk {
        dir: PathBuf,
        file: String,
        needed: u64,
        free: u64,
    },

    #[error("the disk filled up while writing {file} to {}; free some space and pull again to resume", path.display())]
    DiskFull { path: PathBuf, file: String },

    #[error(
        "{file}: checksum mismatch from {url}: expected sha256 {expected}, got {got}; the bad download was deleted"
    )]
    ChecksumMismatch {
        url: String,
        file: String,
        expected: String,
        got: String,
    },

    #[error(
        "{file}: size mismatch from {url}: expected {expected} bytes, got {got}; the bad download was deleted"
    )]
    SizeMismatch {
        url: String,
        file: String,
        expected: u64,
        got: u64,
    },

    #[error("download of {file} cancelled after {partial_bytes} bytes; the next pull resumes it")]
    Cancelled { file: String, partial_bytes: u64 },

    #[error("{file} is being downloaded by another process (lock {})", lock.display())]
    Busy { file: String, lock: PathBuf },

    #[error(
        "{url}: this build has no HTTPS support; rebuild with `--features hub-tls`, or point HF_ENDPOINT at an http:// mirror"
    )]
    TlsDisabled { url: String },

    #[error("{id} is not fully installed: missing {}; run `showo-studio models pull {id}`", missing.join(", "))]
    NotInstalled { id: String, missing: Vec<String> },

    #[error("the built-in model {id} was not found (looked in: {})", looked.join(", "))]
    BuiltinMissing { id: String, looked: Vec<String> },

    #[error("no cache folder for model links: set HOME, XDG_CACHE_HOME or SHOWO_CACHE_DIR")]
    NoCacheFolder,
}

/// `5661862314` → `"5.66 GB"` (decimal units, as download sizes are usually shown).
/// Where the folders of linked downloaded models live (`showo-studio/models` in the user's
/// cache folder, beside the safetensors conversions).
pub fn model_links_root() -> Option<PathBuf> {
    crate::model::weights::default_cache_root().and_then(|c| c.parent().map(|p| p.join("models")))
}

pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_formatted_for_people() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(5_661_862_314), "5.66 GB");
        assert_eq!(format_bytes(3_008_960), "3.01 MB");
    }

    #[test]
    fn disk_error_names_bytes_needed_and_free() {
        let err = HubError::InsufficientDisk {
            dir: PathBuf::from("/cache/blobs"),
            file: "pytorch_model.bin".into(),
            needed: 5_661_862_314,
            free: 1_000_000_000,
        };
        assert_eq!(
            err.to_string(),
            "not enough disk space for pytorch_model.bin in /cache/blobs: 5.66 GB (5661862314 bytes) needed, \
             1.00 GB (1000000000 bytes) free"
        );
    }
}
