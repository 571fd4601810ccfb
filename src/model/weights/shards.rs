//! Finding the files of a checkpoint: a single file, a directory in the Hugging Face / diffusers
//! layout, or a shard index (`*.index.json` with a `weight_map` of tensor name → shard file).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use super::WeightError;

/// Names tried in a checkpoint directory, best first: safetensors (memory-mapped, no pickle)
/// before PyTorch pickles, single files before shard indices.
const DIRECTORY_CANDIDATES: &[&str] = &[
    "model.safetensors",
    "diffusion_pytorch_model.safetensors",
    "model.safetensors.index.json",
    "diffusion_pytorch_model.safetensors.index.json",
    "pytorch_model.bin",
    "diffusion_pytorch_model.bin",
    "pytorch_model.bin.index.json",
    "diffusion_pytorch_model.bin.index.json",
];

/// Extensions of single-file checkpoints, used when a directory has none of the usual names.
const WEIGHT_EXTENSIONS: &[&str] = &["safetensors", "bin", "pth", "pt"];

/// The files that make up a checkpoint, and the index that listed them (if any).
pub(crate) struct Resolved {
    pub files: Vec<PathBuf>,
    pub index: Option<ShardIndex>,
}

/// A parsed `*.index.json`.
pub(crate) struct ShardIndex {
    pub path: PathBuf,
    /// Tensor name → shard file (resolved next to the index).
    pub weight_map: BTreeMap<String, PathBuf>,
}

#[derive(Deserialize)]
struct IndexJson {
    weight_map: BTreeMap<String, String>,
}

pub(crate) fn resolve(path: &Path) -> Result<Resolved, WeightError> {
    let meta = std::fs::metadata(path).map_err(|e| WeightError::io(path, e))?;
    if !meta.is_dir() {
        return resolve_file(path);
    }
    for name in DIRECTORY_CANDIDATES {
        let candidate = path.join(name);
        if candidate.is_file() {
            return resolve_file(&candidate);
        }
    }
    // Otherwise a lone weight file (e.g. a VAE folder with `vae.pth`); safetensors wins a tie.
    let mut found: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| WeightError::io(path, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && extension_in(p, WEIGHT_EXTENSIONS))
        .collect();
    found.sort();
    let safetensors: Vec<&PathBuf> = found
        .iter()
        .filter(|p| extension_in(p, &["safetensors"]))
        .collect();
    if let [only] = safetensors[..] {
        return resolve_file(only);
    }
    if let [only] = &found[..] {
        return resolve_file(only);
    }
    let mut looked_for: Vec<String> = DIRECTORY_CANDIDATES.iter().map(|s| s.to_string()).collect();
    looked_for.push(if found.is_empty() {
        "a single *.safetensors / *.bin / *.pth / *.pt file".to_string()
    } else {
        format!(
            "a single weight file (found {}, which is ambiguous)",
            found.len()
        )
    });
    Err(WeightError::NoCheckpointInDir {
        dir: path.to_path_buf(),
        looked_for,
    })
}

fn resolve_file(path: &Path) -> Result<Resolved, WeightError> {
    if extension_in(path, &["json"]) {
        let index = read_index(path)?;
        let mut files: Vec<PathBuf> = index.weight_map.values().cloned().collect();
        files.sort();
        files.dedup();
        return Ok(Resolved {
            files,
            index: Some(index),
        });
    }
    Ok(Resolved {
        files: vec![path.to_path_buf()],
        index: None,
    })
}

pub(crate) fn read_index(path: &Path) -> Result<ShardIndex, WeightError> {
    let text = std::fs::read_to_string(path).map_err(|e| WeightError::io(path, e))?;
    let bad = |why: String| WeightError::BadIndex {
        path: path.to_path_buf(),
        why,
    };
    let parsed: IndexJson = serde_json::from_str(&text)
        .map_err(|e| bad(format!("not an index json with a weight_map: {e}")))?;
    if parsed.weight_map.is_empty() {
        return Err(bad("its weight_map is empty".to_string()));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut weight_map = BTreeMap::new();
    for (name, shard) in parsed.weight_map {
        // Shards live beside the index; a path that climbs out of that folder is refused.
        let relative = Path::new(&shard);
        if relative
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(bad(format!(
                "tensor `{name}` points at {shard}, which is not a file beside the index"
            )));
        }
        let shard_path = dir.join(relative);
        if !shard_path.is_file() {
            return Err(bad(format!(
                "tensor `{name}` is in shard {}, which does not exist",
                shard_path.display()
            )));
        }
        weight_map.insert(name, shard_path);
    }
    Ok(ShardIndex {
        path: path.to_path_buf(),
        weight_map,
    })
}

fn extension_in(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| extensions.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("showo-shards-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn directory_prefers_safetensors_then_index_then_bin() {
        let dir = temp_dir("prefer");
        std::fs::write(dir.join("pytorch_model.bin"), b"x").unwrap();
        assert_eq!(
            resolve(&dir).unwrap().files,
            vec![dir.join("pytorch_model.bin")]
        );
        std::fs::write(dir.join("s1.safetensors"), b"x").unwrap();
        std::fs::write(
            dir.join("model.safetensors.index.json"),
            r#"{"metadata":{},"weight_map":{"a":"s1.safetensors","b":"s1.safetensors"}}"#,
        )
        .unwrap();
        let resolved = resolve(&dir).unwrap();
        assert_eq!(resolved.files, vec![dir.join("s1.safetensors")]);
        assert_eq!(resolved.index.unwrap().weight_map.len(), 2);
        std::fs::write(dir.join("model.safetensors"), b"x").unwrap();
        assert_eq!(
            resolve(&dir).unwrap().files,
            vec![dir.join("model.safetensors")]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn diffusers_bin_index_name_is_accepted() {
        let dir = temp_dir("diffusers");
        std::fs::write(dir.join("a.bin"), b"x").unwrap();
        std::fs::write(dir.join("b.bin"), b"x").unwrap();
        std::fs::write(
            dir.join("diffusion_pytorch_model.bin.index.json"),
            r#"{"weight_map":{"x":"b.bin","y":"a.bin"}}"#,
        )
        .unwrap();
        assert_eq!(
            resolve(&dir).unwrap().files,
            vec![dir.join("a.bin"), dir.join("b.bin")]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_indices_name_the_problem() {
        let dir = temp_dir("badindex");
        let index = dir.join("pytorch_model.bin.index.json");
        std::fs::write(&index, r#"{"weight_map":{"x":"missing.bin"}}"#).unwrap();
        let err = resolve(&dir).err().expect("missing shard");
        assert!(
            err.to_string().contains("missing.bin") && err.to_string().contains("`x`"),
            "{err}"
        );
        std::fs::write(&index, r#"{"weight_map":{"x":"../escape.bin"}}"#).unwrap();
        assert!(matches!(resolve(&dir), Err(WeightError::BadIndex { .. })));
        std::fs::write(&index, "not json").unwrap();
        assert!(matches!(resolve(&dir), Err(WeightError::BadIndex { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn empty_directory_lists_what_was_looked_for() {
        let dir = temp_dir("empty");
        let err = resolve(&dir).err().expect("nothing there");
        assert!(
            err.to_string().contains("model.safetensors")
                && err.to_string().contains("pytorch_model.bin")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
