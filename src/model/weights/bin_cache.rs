//! A safetensors cache for PyTorch `.bin` checkpoints (all released Show-o2 checkpoints are
//! `.bin`): converted once, with the user's consent since it costs as much disk as the
//! checkpoint, then memory-mapped on every later load instead of walking the pickle.
//!
//! An entry lives in `<root>/<key>/model.safetensors`, with `source.json` naming the files it
//! was made from and their sizes and modification times. The key hashes the same facts, so a
//! replaced or re-downloaded checkpoint never reuses a stale conversion.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{WeightError, WeightStore, convert_to_safetensors};

/// What loading may do with a `.bin` checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BinCache {
    /// Read the `.bin` itself, ignore any cache.
    Off,
    /// Use a conversion made earlier, never write one (no disk used without consent).
    #[default]
    UseIfPresent,
    /// Convert now if there is no conversion yet (the user agreed to spend the disk space).
    Convert,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SourceFile {
    path: PathBuf,
    size: u64,
    modified_ns: u128,
}

/// The default cache folder: `$SHOWO_CACHE_DIR`, else `$XDG_CACHE_HOME/showo-studio`, else
/// `~/.cache/showo-studio`; conversions go to its `safetensors/` subfolder.
pub fn default_cache_root() -> Option<PathBuf> {
    let base = std::env::var_os("SHOWO_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("showo-studio"))
        })
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/showo-studio"))
        })?;
    Some(base.join("safetensors"))
}

/// Opens the checkpoint at `path` (file or folder) the way `policy` allows: from a cached
/// conversion when the checkpoint is a pickle and one exists (or may be made), else as is.
/// `progress(done, total)` reports a conversion's bytes.
pub fn open_with_cache(
    path: &Path,
    policy: BinCache,
    root: Option<&Path>,
    progress: impl FnMut(u64, u64),
) -> Result<WeightStore, WeightError> {
    let (Some(root), false) = (root, policy == BinCache::Off) else {
        return WeightStore::open(path);
    };
    // Which files make up the checkpoint, without parsing them: a cached conversion is then
    // opened without reading the pickle at all.
    let files = super::shards::resolve(path)?.files;
    if !files.iter().all(|f| is_pickle(f)) {
        return WeightStore::open(path); // already safetensors
    }
    let sources = files
        .iter()
        .map(|f| describe(f))
        .collect::<Result<Vec<_>, _>>()?;
    let entry = root.join(key(&sources));
    let cached = entry.join("model.safetensors");
    let record = entry.join("source.json");
    let recorded: Option<Vec<SourceFile>> = std::fs::read_to_string(&record)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    if cached.is_file() && recorded.as_ref() == Some(&sources) {
        return WeightStore::open(&cached);
    }
    if policy != BinCache::Convert {
        return WeightStore::open(path);
    }
    // A folder converts into the entry folder (model.safetensors plus its config files).
    let target = if path.is_dir() { &entry } else { &cached };
    convert_to_safetensors(path, target, progress)?;
    let text = serde_json::to_string_pretty(&sources).map_err(|e| WeightError::Convert {
        src: path.to_path_buf(),
        dst: record.clone(),
        why: e.to_string(),
    })?;
    std::fs::write(&record, text).map_err(|e| WeightError::io(&record, e))?;
    WeightStore::open(&cached)
}

fn is_pickle(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("bin" | "pth" | "pt")
    )
}

fn describe(path: &Path) -> Result<SourceFile, WeightError> {
    let canonical = path.canonicalize().map_err(|e| WeightError::io(path, e))?;
    let meta = std::fs::metadata(&canonical).map_err(|e| WeightError::io(path, e))?;
    let modified_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    Ok(SourceFile {
        path: canonical,
        size: meta.len(),
        modified_ns,
    })
}

fn key(sources: &[SourceFile]) -> String {
    let mut h = Sha256::new();
    for s in sources {
        h.update(s.path.to_string_lossy().as_bytes());
        h.update(s.size.to_le_bytes());
        h.update(s.modified_ns.to_le_bytes());
    }
    h.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
