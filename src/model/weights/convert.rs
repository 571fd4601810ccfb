//! One-off conversion of any checkpoint this module reads (`.bin`, `.pth`, shards) into a single
//! safetensors file, which then opens instantly through a memory map and never touches pickle.
//!
//! Tied tensors that shared one storage in the pickle are written as separate copies under
//! both names (safetensors cannot alias), so the converted file loads like the original.

use std::io::Write;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use super::{StoredDtype, WeightError, WeightStore};

/// How to convert.
#[derive(Debug, Clone, Default)]
pub struct ConvertOptions {
    /// Cast floating-point tensors to this dtype; `None` keeps each tensor's stored dtype.
    /// Integer tensors are always kept.
    pub dtype: Option<DType>,
}

/// What a conversion wrote.
#[derive(Debug, Clone)]
pub struct ConvertReport {
    /// The safetensors file written.
    pub output: PathBuf,
    pub tensors: usize,
    /// Bytes of tensor data written (the header excluded).
    pub data_bytes: u64,
    /// Groups of names that shared one storage in the source, now written as copies.
    pub aliases: Vec<Vec<String>>,
    /// Side files copied next to the output (config jsons of a checkpoint directory).
    pub copied: Vec<PathBuf>,
}

/// Converts `src` (a checkpoint file or directory) to safetensors at `dst`, keeping dtypes.
/// `progress(done_bytes, total_bytes)` is called after each tensor.
pub fn convert_to_safetensors(
    src: &Path,
    dst: &Path,
    progress: impl FnMut(u64, u64),
) -> Result<ConvertReport, WeightError> {
    convert_to_safetensors_with(src, dst, &ConvertOptions::default(), progress)
}

/// Converts `src` to safetensors at `dst`.
///
/// - `src` a directory: `dst` is a directory that receives `model.safetensors` plus copies of the
///   source's `*.json` files other than shard indices (config.json and friends).
/// - `src` a file: `dst` is the output file if it ends in `.safetensors`, else a directory that
///   receives `model.safetensors` (for `pytorch_model.bin`) or `<stem>.safetensors`.
///
/// The output is written to a temporary file beside it and renamed into place, so a failed or
/// interrupted conversion never leaves a half-written checkpoint under the final name.
pub fn convert_to_safetensors_with(
    src: &Path,
    dst: &Path,
    options: &ConvertOptions,
    mut progress: impl FnMut(u64, u64),
) -> Result<ConvertReport, WeightError> {
    let fail = |why: String| WeightError::Convert {
        src: src.to_path_buf(),
        dst: dst.to_path_buf(),
        why,
    };
    let store = WeightStore::open(src)?;
    let src_is_dir = src.is_dir();
    let output = output_path(src, dst, src_is_dir);
    if store.files().iter().any(|f| same_file(f, &output)) {
        return Err(fail(
            "the output would overwrite the checkpoint being read".to_string(),
        ));
    }
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| WeightError::io(dir, e))?;
    }

    let plan = plan_tensors(&store, options)?;
    let header = header_bytes(&plan).map_err(|e| fail(format!("cannot encode the header: {e}")))?;
    let total: u64 = plan.iter().map(|t| t.bytes as u64).sum();

    let temp = temp_path(&output);
    let written = write_file(&store, &plan, &header, &temp, total, &mut progress);
    if let Err(err) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(err);
    }
    std::fs::rename(&temp, &output).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        WeightError::io(&output, e)
    })?;

    let copied = if src_is_dir {
        copy_side_files(src, output.parent().unwrap_or(dst))?
    } else {
        Vec::new()
    };
    Ok(ConvertReport {
        output,
        tensors: plan.len(),
        data_bytes: total,
        aliases: store.aliases(),
        copied,
    })
}

/// One tensor of the output: its name, output dtype, shape and byte size.
struct Planned {
    name: String,
    dtype: StoredDtype,
    shape: Vec<usize>,
    bytes: usize,
    /// `Some` when floats are cast; `None` when the stored bytes are copied as they are.
    cast_to: Option<DType>,
}

fn plan_tensors(
    store: &WeightStore,
    options: &ConvertOptions,
) -> Result<Vec<Planned>, WeightError> {
    let mut plan = Vec::with_capacity(store.len());
    for name in store.names() {
        let stored = store.stored_dtype(&name).expect("name from the store");
        let shape = store.shape(&name).expect("name from the store");
        let cast_to = options
            .dtype
            .filter(|&d| stored.is_float() && stored.to_candle() != Some(d));
        let dtype = match cast_to {
            Some(d) => candle_to_stored(d),
            None => stored,
        };
        if dtype.size_in_bytes() == 0 {
            let file = store.file_of(&name).unwrap_or(Path::new("")).to_path_buf();
            return Err(WeightError::UnsupportedDtype { name, file, dtype });
        }
        let bytes = shape.iter().product::<usize>() * dtype.size_in_bytes();
        plan.push(Planned {
            name,
            dtype,
            shape,
            bytes,
            cast_to,
        });
    }
    Ok(plan)
}

fn candle_to_stored(dtype: DType) -> StoredDtype {
    match dtype {
        DType::F64 => StoredDtype::F64,
        DType::F16 => StoredDtype::F16,
        DType::BF16 => StoredDtype::BF16,
        _ => StoredDtype::F32,
    }
}

/// The safetensors header: `{name: {dtype, shape, data_offsets}}` in name order (the data
/// follows in the same order), with `format: pt` metadata, padded with spaces to 8 bytes.
fn header_bytes(plan: &[Planned]) -> Result<Vec<u8>, serde_json::Error> {
    let mut map = serde_json::Map::new();
    map.insert(
        "__metadata__".to_string(),
        serde_json::json!({ "format": "pt" }),
    );
    let mut offset = 0usize;
    for t in plan {
        let entry = serde_json::json!({
            "dtype": t.dtype.safetensors_name(),
            "shape": t.shape,
            "data_offsets": [offset, offset + t.bytes],
        });
        map.insert(t.name.clone(), entry);
        offset += t.bytes;
    }
    let mut json = serde_json::to_vec(&serde_json::Value::Object(map))?;
    while json.len() % 8 != 0 {
        json.push(b' ');
    }
    Ok(json)
}

fn write_file(
    store: &WeightStore,
    plan: &[Planned],
    header: &[u8],
    temp: &Path,
    total: u64,
    progress: &mut impl FnMut(u64, u64),
) -> Result<(), WeightError> {
    let io = |e| WeightError::io(temp, e);
    let file = std::fs::File::create(temp).map_err(io)?;
    let mut out = std::io::BufWriter::with_capacity(8 << 20, file);
    out.write_all(&(header.len() as u64).to_le_bytes())
        .map_err(io)?;
    out.write_all(header).map_err(io)?;
    let mut done = 0u64;
    progress(done, total);
    for t in plan {
        match t.cast_to {
            None => out.write_all(&store.raw_bytes(&t.name)?).map_err(io)?,
            Some(dtype) => {
                let tensor = store.load(&t.name, dtype, &Device::Cpu)?;
                let bytes = tensor_bytes(&tensor).map_err(|cause| WeightError::Tensor {
                    name: t.name.clone(),
                    file: store
                        .file_of(&t.name)
                        .unwrap_or(Path::new(""))
                        .to_path_buf(),
                    cause: Box::new(cause),
                })?;
                out.write_all(&bytes).map_err(io)?;
            }
        }
        done += t.bytes as u64;
        progress(done, total);
    }
    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)
}

/// Little-endian bytes of a float tensor (the cast target of a conversion).
fn tensor_bytes(tensor: &Tensor) -> candle_core::Result<Vec<u8>> {
    let flat = tensor.flatten_all()?;
    Ok(match flat.dtype() {
        DType::F64 => flat
            .to_vec1::<f64>()?
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        DType::F32 => flat
            .to_vec1::<f32>()?
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        DType::F16 => flat
            .to_vec1::<half::f16>()?
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        DType::BF16 => flat
            .to_vec1::<half::bf16>()?
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        other => candle_core::bail!("cannot write a {other:?} tensor as a converted float"),
    })
}

fn output_path(src: &Path, dst: &Path, src_is_dir: bool) -> PathBuf {
    let is_file_target = dst.extension().is_some_and(|e| e == "safetensors") && !dst.is_dir();
    if is_file_target && !src_is_dir {
        return dst.to_path_buf();
    }
    if src_is_dir {
        return dst.join("model.safetensors");
    }
    let stem = src.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    let name = match stem {
        "pytorch_model" => "model".to_string(),
        other => other.to_string(),
    };
    dst.join(format!("{name}.safetensors"))
}

fn temp_path(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("model.safetensors");
    output.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Copies the checkpoint's json side files (config.json, sub-configs) except shard indices,
/// which describe the old files.
fn copy_side_files(src: &Path, dst_dir: &Path) -> Result<Vec<PathBuf>, WeightError> {
    let mut copied = Vec::new();
    let entries = std::fs::read_dir(src).map_err(|e| WeightError::io(src, e))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !path.is_file() || !name.ends_with(".json") || name.ends_with(".index.json") {
            continue;
        }
        let target = dst_dir.join(name);
        if same_file(&path, &target) {
            continue;
        }
        // Read and write rather than fs::copy, which would also copy a read-only mode and make
        // a second conversion into the same folder fail.
        let bytes = std::fs::read(&path).map_err(|e| WeightError::io(&path, e))?;
        std::fs::write(&target, bytes).map_err(|e| WeightError::io(&target, e))?;
        copied.push(target);
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_names_follow_the_source() {
        let out = Path::new("/tmp/out");
        assert_eq!(
            output_path(Path::new("a/pytorch_model.bin"), out, false),
            out.join("model.safetensors")
        );
        assert_eq!(
            output_path(Path::new("a/vae.pth"), out, false),
            out.join("vae.safetensors")
        );
        let file = Path::new("/tmp/x.safetensors");
        assert_eq!(
            output_path(Path::new("a/vae.pth"), file, false),
            file.to_path_buf()
        );
    }

    #[test]
    fn header_is_padded_and_ordered() {
        let plan = vec![
            Planned {
                name: "a".into(),
                dtype: StoredDtype::F32,
                shape: vec![2],
                bytes: 8,
                cast_to: None,
            },
            Planned {
                name: "b".into(),
                dtype: StoredDtype::BF16,
                shape: vec![3],
                bytes: 6,
                cast_to: None,
            },
        ];
        let header = header_bytes(&plan).unwrap();
        assert_eq!(header.len() % 8, 0);
        let v: serde_json::Value = serde_json::from_slice(&header).unwrap();
        assert_eq!(v["a"]["data_offsets"], serde_json::json!([0, 8]));
        assert_eq!(v["b"]["data_offsets"], serde_json::json!([8, 14]));
        assert_eq!(v["b"]["dtype"], "BF16");
    }
}
