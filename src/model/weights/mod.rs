//! Checkpoint loading: safetensors (memory-mapped), PyTorch `.bin`/`.pth` (a safe pickle
//! subset, never executed), and sharded checkpoints with an index json.
//!
//! Every source is reduced to the same thing: for each tensor name, the file it lives in, its
//! stored dtype, its shape and where its bytes are inside the memory map. [`WeightStore`] holds
//! that table and serves tensors on demand (also as a candle `VarBuilder` backend), so nothing
//! is read from disk until a tensor is asked for.
//!
//! Real Show-o2 checkpoints are bf16 `.bin` files; `.bin` storages may be shared between keys
//! (tied `showo.lm_head.weight` / `showo.model.embed_tokens.weight`), which simply means two
//! entries pointing at the same bytes.

mod bin_cache;
mod convert;
mod pickle;
mod safetensors_source;
mod shards;
mod store;
mod torch_source;

use std::path::{Path, PathBuf};

pub use bin_cache::{BinCache, default_cache_root, open_with_cache};
pub use convert::{
    ConvertOptions, ConvertReport, convert_to_safetensors, convert_to_safetensors_with,
};
pub use store::WeightStore;

/// The element type a tensor has on disk. Wider than candle's `DType` because checkpoints may
/// hold types candle cannot represent (they only fail when such a tensor is actually loaded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredDtype {
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    U32,
    Bool,
    /// A type this reader knows by name only (e.g. float8 in safetensors).
    Other(&'static str),
}

impl StoredDtype {
    /// Bytes per element (0 for `Other`, whose tensors are never sliced).
    pub fn size_in_bytes(self) -> usize {
        match self {
            Self::F64 | Self::I64 => 8,
            Self::F32 | Self::I32 | Self::U32 => 4,
            Self::F16 | Self::BF16 | Self::I16 => 2,
            Self::I8 | Self::U8 | Self::Bool => 1,
            Self::Other(_) => 0,
        }
    }

    /// The candle dtype that holds these bytes unchanged; bool is read as u8 (0/1).
    pub fn to_candle(self) -> Option<candle_core::DType> {
        use candle_core::DType;
        match self {
            Self::F64 => Some(DType::F64),
            Self::F32 => Some(DType::F32),
            Self::F16 => Some(DType::F16),
            Self::BF16 => Some(DType::BF16),
            Self::I64 => Some(DType::I64),
            Self::I32 => Some(DType::I32),
            Self::I16 => Some(DType::I16),
            Self::U32 => Some(DType::U32),
            Self::U8 | Self::Bool => Some(DType::U8),
            Self::I8 | Self::Other(_) => None,
        }
    }

    /// The name safetensors uses in its header.
    pub fn safetensors_name(self) -> &'static str {
        match self {
            Self::F64 => "F64",
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::BF16 => "BF16",
            Self::I64 => "I64",
            Self::I32 => "I32",
            Self::I16 => "I16",
            Self::I8 => "I8",
            Self::U8 => "U8",
            Self::U32 => "U32",
            Self::Bool => "BOOL",
            Self::Other(name) => name,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, Self::F64 | Self::F32 | Self::F16 | Self::BF16)
    }
}

impl std::fmt::Display for StoredDtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.safetensors_name().to_lowercase())
    }
}

/// Everything that can go wrong while opening, reading or converting a checkpoint. Each
/// message names the file (and the tensor, where there is one) and what was expected.
#[derive(thiserror::Error, Debug)]
pub enum WeightError {
    // The cause is part of the message (not a `source`) so that one line says it all, in the
    // GUI as on the CLI, without anyhow printing it twice.
    #[error("cannot read {}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },

    #[error("{} is truncated or damaged: {why}", path.display())]
    Truncated { path: PathBuf, why: String },

    #[error("{} is not a checkpoint this reader understands: {why}", path.display())]
    NotACheckpoint { path: PathBuf, why: String },

    #[error(
        "refusing to load {}: its pickle asks for `{global}`, which is not on the allow-list of \
         torch.save tensor rebuilders (a checkpoint must not run code; re-save it as safetensors \
         from a trusted environment)",
        path.display()
    )]
    UnsafePickle { path: PathBuf, global: String },

    #[error("no checkpoint found in {}: looked for {}", dir.display(), looked_for.join(", "))]
    NoCheckpointInDir {
        dir: PathBuf,
        looked_for: Vec<String>,
    },

    #[error("bad shard index {}: {why}", path.display())]
    BadIndex { path: PathBuf, why: String },

    #[error("tensor `{name}` is in both {} and {}", first.display(), second.display())]
    DuplicateTensor {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },

    #[error("tensor `{name}` not found (searched {})", paths(files))]
    MissingTensor { name: String, files: Vec<PathBuf> },

    #[error(
        "tensor `{name}` in {} has shape {found:?}, but the model expects {expected:?} \
         (does the config match the checkpoint?)",
        file.display()
    )]
    ShapeMismatch {
        name: String,
        file: PathBuf,
        expected: Vec<usize>,
        found: Vec<usize>,
    },

    #[error(
        "{} tensor(s) of {} were not used by the model (wrong config or wrong checkpoint?): {}",
        names.len(),
        file.display(),
        preview(names)
    )]
    UnusedTensors { names: Vec<String>, file: PathBuf },

    #[error("tensor `{name}` in {} has dtype {dtype}, which cannot be loaded", file.display())]
    UnsupportedDtype {
        name: String,
        file: PathBuf,
        dtype: StoredDtype,
    },

    #[error("tensor `{name}` from {}: {cause}", file.display())]
    Tensor {
        name: String,
        file: PathBuf,
        cause: Box<candle_core::Error>,
    },

    #[error("cannot convert {} to {}: {why}", src.display(), dst.display())]
    Convert {
        src: PathBuf,
        dst: PathBuf,
        why: String,
    },
}

impl WeightError {
    pub(crate) fn io(path: &Path, cause: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            cause,
        }
    }
    pub(crate) fn truncated(path: &Path, why: impl Into<String>) -> Self {
        Self::Truncated {
            path: path.to_path_buf(),
            why: why.into(),
        }
    }
    pub(crate) fn not_checkpoint(path: &Path, why: impl Into<String>) -> Self {
        Self::NotACheckpoint {
            path: path.to_path_buf(),
            why: why.into(),
        }
    }
}

fn paths(files: &[PathBuf]) -> String {
    if files.is_empty() {
        return "no files".to_string();
    }
    files
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first few names, so that a message about 300 stray tensors stays readable.
fn preview(names: &[String]) -> String {
    const SHOWN: usize = 12;
    let mut text = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(", ... and {} more", names.len() - SHOWN));
    }
    text
}

/// Where one tensor's bytes are inside its file's memory map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DataLayout {
    /// Row-major, densely packed bytes `[start, start + len)`.
    Contiguous { start: usize, len: usize },
    /// A strided view into a storage (PyTorch views that were saved without `.contiguous()`):
    /// element `i` (multi-index) is at `storage_start + (offset + Σ iₖ·strides[k]) · elem_size`.
    Strided {
        storage_start: usize,
        offset: usize,
        strides: Vec<usize>,
    },
}

/// One tensor of a source file, before the store assigns it a file index.
#[derive(Debug, Clone)]
pub(crate) struct RawEntry {
    pub name: String,
    pub dtype: StoredDtype,
    pub shape: Vec<usize>,
    pub layout: DataLayout,
}
