//! [`WeightStore`]: every tensor of a checkpoint by name, served lazily from memory maps, and a
//! candle `VarBuilder` backend that checks shapes and records which tensors the model used.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;

use super::shards::{self, Resolved};
use super::{DataLayout, StoredDtype, WeightError, safetensors_source, torch_source};

/// Below this size a file cannot hold a checkpoint; saying "truncated" beats guessing the format.
const MIN_CHECKPOINT_BYTES: usize = 16;

/// Magic number that opens a pre-1.6 (non-zip) torch.save file.
const LEGACY_TORCH_MAGIC: &[u8] = &[
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19,
];

/// An opened file. The map is read-only; the file must not be rewritten while the store lives.
struct SourceFile {
    path: PathBuf,
    map: Option<memmap2::Mmap>,
}

impl SourceFile {
    fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}

struct Entry {
    file: usize,
    dtype: StoredDtype,
    shape: Vec<usize>,
    layout: DataLayout,
    used: AtomicBool,
}

/// All tensors of a checkpoint: name → (file, dtype, shape, bytes in a memory map).
pub struct WeightStore {
    /// What the caller opened (a file or a directory), for messages about the whole checkpoint.
    origin: PathBuf,
    files: Vec<SourceFile>,
    entries: BTreeMap<String, Entry>,
}

impl std::fmt::Debug for WeightStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeightStore")
            .field("origin", &self.origin)
            .field(
                "files",
                &self.files.iter().map(|s| &s.path).collect::<Vec<_>>(),
            )
            .field("tensors", &self.entries.len())
            .finish()
    }
}

impl WeightStore {
    /// Opens a checkpoint: a file (.safetensors/.bin/.pth/.pt, or a shard `*.index.json`) or a
    /// directory; in a directory prefers model.safetensors, then a sharded safetensors index,
    /// then pytorch_model.bin, then a .bin index (`pytorch_model.bin.index.json` or
    /// `diffusion_pytorch_model.bin.index.json`), then a lone weight file.
    /// The format of each file is recognised from its bytes, not its extension.
    pub fn open(path: &Path) -> Result<Self, WeightError> {
        let Resolved { files, index } = shards::resolve(path)?;
        let store = Self::open_paths(path, &files)?;
        if let Some(index) = index {
            for (name, shard) in &index.weight_map {
                let found = store.entries.get(name).map(|e| &store.files[e.file].path);
                if found != Some(shard) {
                    return Err(WeightError::BadIndex {
                        path: index.path.clone(),
                        why: format!(
                            "it puts tensor `{name}` in {}, but that shard does not hold it",
                            shard.display()
                        ),
                    });
                }
            }
        }
        Ok(store)
    }

    /// Opens the given files as one checkpoint (e.g. shards without an index). A tensor name
    /// present in two files is an error.
    pub fn open_files(files: &[PathBuf]) -> Result<Self, WeightError> {
        let origin = match files {
            [only] => only.clone(),
            [first, ..] => first.parent().map(Path::to_path_buf).unwrap_or_default(),
            [] => PathBuf::new(),
        };
        Self::open_paths(&origin, files)
    }

    fn open_paths(origin: &Path, paths: &[PathBuf]) -> Result<Self, WeightError> {
        let mut store = Self {
            origin: origin.to_path_buf(),
            files: Vec::new(),
            entries: BTreeMap::new(),
        };
        for path in paths {
            let file = map_file(path)?;
            let raw = read_any(path, file.bytes())?;
            let file_index = store.files.len();
            store.files.push(file);
            for raw in raw {
                if let Some(existing) = store.entries.get(&raw.name) {
                    return Err(WeightError::DuplicateTensor {
                        name: raw.name,
                        first: store.files[existing.file].path.clone(),
                        second: path.clone(),
                    });
                }
                let entry = Entry {
                    file: file_index,
                    dtype: raw.dtype,
                    shape: raw.shape,
                    layout: raw.layout,
                    used: AtomicBool::new(false),
                };
                store.entries.insert(raw.name, entry);
            }
        }
        Ok(store)
    }

    /// Every tensor name, sorted.
    pub fn names(&self) -> Vec<String> {
        self.entries.keys().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    pub fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.entries.get(name).map(|e| e.shape.clone())
    }

    /// The dtype as stored on disk (real Show-o2 `.bin` files are bf16).
    pub fn stored_dtype(&self, name: &str) -> Option<StoredDtype> {
        self.entries.get(name).map(|e| e.dtype)
    }

    /// The file a tensor comes from.
    pub fn file_of(&self, name: &str) -> Option<&Path> {
        self.entries
            .get(name)
            .map(|e| self.files[e.file].path.as_path())
    }

    /// The files of this checkpoint, in the order they were opened.
    pub fn files(&self) -> Vec<&Path> {
        self.files.iter().map(|f| f.path.as_path()).collect()
    }

    /// What was opened (a file or a directory).
    pub fn origin(&self) -> &Path {
        &self.origin
    }

    /// Groups of names that share the same bytes (tied weights saved as one storage), each
    /// group sorted; empty for safetensors, which cannot alias.
    pub fn aliases(&self) -> Vec<Vec<String>> {
        let mut groups: BTreeMap<(usize, String), Vec<String>> = BTreeMap::new();
        for (name, e) in &self.entries {
            let key = format!("{:?}|{:?}|{:?}", e.layout, e.shape, e.dtype);
            groups.entry((e.file, key)).or_default().push(name.clone());
        }
        groups.into_values().filter(|g| g.len() > 1).collect()
    }

    /// Reads tensor `name`, converted to `dtype` and placed on `dev`, and marks it used.
    pub fn load(&self, name: &str, dtype: DType, dev: &Device) -> Result<Tensor, WeightError> {
        let entry = self.entry(name)?;
        entry.used.store(true, Ordering::Relaxed);
        let file = &self.files[entry.file].path;
        let stored = entry
            .dtype
            .to_candle()
            .ok_or_else(|| WeightError::UnsupportedDtype {
                name: name.to_string(),
                file: file.clone(),
                dtype: entry.dtype,
            })?;
        let wrap = |cause| WeightError::Tensor {
            name: name.to_string(),
            file: file.clone(),
            cause: Box::new(cause),
        };
        let bytes = self.raw_bytes_of(entry);
        let tensor =
            Tensor::from_raw_buffer(&bytes, stored, &entry.shape, &Device::Cpu).map_err(wrap)?;
        // Convert where it is cheapest: on the CPU before an upload would copy the wider type.
        let tensor = if dev.is_cpu() {
            tensor.to_dtype(dtype)
        } else if dtype.size_in_bytes() < stored.size_in_bytes() {
            tensor.to_dtype(dtype).and_then(|t| t.to_device(dev))
        } else {
            tensor.to_device(dev).and_then(|t| t.to_dtype(dtype))
        };
        tensor.map_err(wrap)
    }

    /// The tensor's bytes in its stored dtype, row-major (strided views are gathered).
    pub fn raw_bytes(&self, name: &str) -> Result<Cow<'_, [u8]>, WeightError> {
        Ok(self.raw_bytes_of(self.entry(name)?))
    }

    fn raw_bytes_of(&self, entry: &Entry) -> Cow<'_, [u8]> {
        let bytes = self.files[entry.file].bytes();
        match &entry.layout {
            DataLayout::Contiguous { start, len } => Cow::Borrowed(&bytes[*start..*start + *len]),
            DataLayout::Strided {
                storage_start,
                offset,
                strides,
            } => Cow::Owned(gather_strided(
                &bytes[*storage_start..],
                entry.dtype.size_in_bytes(),
                *offset,
                &entry.shape,
                strides,
            )),
        }
    }

    fn entry(&self, name: &str) -> Result<&Entry, WeightError> {
        self.entries
            .get(name)
            .ok_or_else(|| WeightError::MissingTensor {
                name: name.to_string(),
                files: self.files.iter().map(|f| f.path.clone()).collect(),
            })
    }

    /// Like [`load`](Self::load), but first checks the shape the model expects.
    pub fn load_checked(
        &self,
        name: &str,
        expected: &[usize],
        dtype: DType,
        dev: &Device,
    ) -> Result<Tensor, WeightError> {
        let entry = self.entry(name)?;
        if entry.shape != expected {
            return Err(WeightError::ShapeMismatch {
                name: name.to_string(),
                file: self.files[entry.file].path.clone(),
                expected: expected.to_vec(),
                found: entry.shape.clone(),
            });
        }
        self.load(name, dtype, dev)
    }

    /// A `VarBuilder` over this store. Tensors are read when the model asks for them, with the
    /// shape checked and converted to `dtype` on `dev`.
    pub fn var_builder(
        self: &Arc<Self>,
        dtype: DType,
        dev: &Device,
    ) -> candle_nn::VarBuilder<'static> {
        candle_nn::VarBuilder::from_backend(Box::new(SharedStore(self.clone())), dtype, dev.clone())
    }

    /// Names never fetched (through the `VarBuilder` or [`load`](Self::load)), sorted.
    pub fn unused_tensors(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(_, e)| !e.used.load(Ordering::Relaxed))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// After the model is built: fails with every unused tensor not matched by `allow`
    /// (exact names, or prefixes written with a trailing `*`, e.g. `"showo.lm_head.weight"`).
    pub fn check_all_used(&self, allow: &[&str]) -> Result<(), WeightError> {
        let allowed = |name: &str| {
            allow.iter().any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => name == *pattern,
            })
        };
        let unused: Vec<String> = self
            .unused_tensors()
            .into_iter()
            .filter(|n| !allowed(n))
            .collect();
        if unused.is_empty() {
            return Ok(());
        }
        let files: BTreeSet<usize> = unused.iter().map(|n| self.entries[n].file).collect();
        let file = match files.iter().next() {
            Some(&only) if files.len() == 1 => self.files[only].path.clone(),
            _ => self.origin.clone(),
        };
        Err(WeightError::UnusedTensors {
            names: unused,
            file,
        })
    }

    /// Forgets which tensors were fetched (e.g. before building a second model from the store).
    pub fn reset_usage(&self) {
        for entry in self.entries.values() {
            entry.used.store(false, Ordering::Relaxed);
        }
    }
}

/// The `VarBuilder` backend: shape-checked, usage-tracked reads from the store.
impl SimpleBackend for WeightStore {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        self.load_checked(name, s.dims(), dtype, dev)
            .map_err(candle_core::Error::wrap)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.load(name, dtype, dev)
            .map_err(candle_core::Error::wrap)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.contains(name)
    }
}

/// Lets a `VarBuilder<'static>` share the store with the caller, who checks usage afterwards.
struct SharedStore(Arc<WeightStore>);

impl SimpleBackend for SharedStore {
    fn get(
        &self,
        s: Shape,
        name: &str,
        h: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        self.0.get(s, name, h, dtype, dev)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.0.get_unchecked(name, dtype, dev)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.0.contains(name)
    }
}

fn map_file(path: &Path) -> Result<SourceFile, WeightError> {
    let file = std::fs::File::open(path).map_err(|e| WeightError::io(path, e))?;
    let len = file.metadata().map_err(|e| WeightError::io(path, e))?.len();
    if len == 0 {
        // Zero-length maps are an error on some platforms; an empty file is simply empty.
        return Ok(SourceFile {
            path: path.to_path_buf(),
            map: None,
        });
    }
    // SAFETY: the map is read-only and private to this store. Like every mmap-based loader it
    // assumes the file is not truncated or rewritten by another process while it is open.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| WeightError::io(path, e))?;
    Ok(SourceFile {
        path: path.to_path_buf(),
        map: Some(map),
    })
}

/// Recognises the format from the first bytes and reads the tensor table.
fn read_any(path: &Path, bytes: &[u8]) -> Result<Vec<super::RawEntry>, WeightError> {
    if bytes.len() < MIN_CHECKPOINT_BYTES {
        return Err(WeightError::truncated(
            path,
            format!("the file has only {} bytes", bytes.len()),
        ));
    }
    let entries = if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        torch_source::read_entries(path, bytes)?
    } else if bytes.starts_with(LEGACY_TORCH_MAGIC) {
        return Err(WeightError::not_checkpoint(
            path,
            "this is the legacy (pre-1.6) torch.save format; re-save it with a recent torch or as safetensors",
        ));
    } else if bytes[8] == b'{' {
        safetensors_source::read_entries(path, bytes)?
    } else {
        return Err(WeightError::not_checkpoint(
            path,
            format!(
                "it is neither safetensors nor a torch.save zip (starts with {:02x?})",
                &bytes[..8]
            ),
        ));
    };
    if entries.is_empty() {
        return Err(WeightError::not_checkpoint(path, "it holds no tensors"));
    }
    Ok(entries)
}

/// Copies a strided view out of `storage` into row-major order, one contiguous run of the
/// innermost dimension at a time when that dimension is dense.
fn gather_strided(
    storage: &[u8],
    elem: usize,
    offset: usize,
    shape: &[usize],
    strides: &[usize],
) -> Vec<u8> {
    let numel: usize = shape.iter().product();
    let mut out = Vec::with_capacity(numel * elem);
    if numel == 0 {
        return out;
    }
    // The innermost run copied at once: the last dim if it is dense, else single elements.
    let (outer_dims, run) = match (shape.last(), strides.last()) {
        (Some(&n), Some(&1)) => (shape.len() - 1, n),
        _ => (shape.len(), 1),
    };
    let mut index = vec![0usize; outer_dims];
    let mut pos = offset;
    loop {
        out.extend_from_slice(&storage[pos * elem..(pos + run) * elem]);
        let mut d = outer_dims;
        loop {
            if d == 0 {
                return out;
            }
            d -= 1;
            index[d] += 1;
            pos += strides[d];
            if index[d] < shape[d] {
                break;
            }
            pos -= strides[d] * shape[d];
            index[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_f32(bytes: &[u8]) -> Vec<f32> {
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    #[test]
    fn gathers_a_transpose() {
        // storage = [[0,1,2],[3,4,5]]; the transpose (3, 2) has strides (1, 3).
        let storage: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect();
        let out = gather_strided(&storage, 4, 0, &[3, 2], &[1, 3]);
        assert_eq!(as_f32(&out), vec![0., 3., 1., 4., 2., 5.]);
    }

    #[test]
    fn gathers_a_column_slice_with_offset() {
        // storage 3x4 = 0..12; view [:, 1:3] has offset 1, shape (3, 2), strides (4, 1).
        let storage: Vec<u8> = (0..12).flat_map(|i| (i as f32).to_le_bytes()).collect();
        let out = gather_strided(&storage, 4, 1, &[3, 2], &[4, 1]);
        assert_eq!(as_f32(&out), vec![1., 2., 5., 6., 9., 10.]);
    }

    #[test]
    fn gathers_scalars_and_broadcast_views() {
        let storage: Vec<u8> = (0..4).flat_map(|i| (i as f32).to_le_bytes()).collect();
        assert_eq!(as_f32(&gather_strided(&storage, 4, 2, &[], &[])), vec![2.]);
        // An expanded view (stride 0) repeats its row.
        let out = gather_strided(&storage, 4, 0, &[2, 3], &[0, 1]);
        assert_eq!(as_f32(&out), vec![0., 1., 2., 0., 1., 2.]);
    }
}
