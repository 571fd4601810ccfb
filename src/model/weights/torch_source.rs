//! PyTorch `torch.save` files (`.bin`, `.pth`, `.pt`): a zip whose `<archive>/data.pkl` is a
//! pickle describing the tensors and whose `<archive>/data/<key>` entries hold the raw storages.
//!
//! torch.save stores every entry uncompressed, so each storage is a byte range of the file and
//! tensors are read straight from the memory map. Two tensors naming the same storage key
//! (tied embeddings) end up as two entries over the same bytes.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::Path;

use zip::CompressionMethod;

use super::pickle::{self, PickleError, TensorRef, Value};
use super::{DataLayout, RawEntry, WeightError};

/// One zip member: where its bytes are in the file.
struct Member {
    start: usize,
    len: usize,
    stored: bool,
}

/// Reads the tensor table of a torch.save zip held in `bytes` (the whole file).
pub(crate) fn read_entries(path: &Path, bytes: &[u8]) -> Result<Vec<RawEntry>, WeightError> {
    let members = zip_members(path, bytes)?;

    let pkl_name = members
        .keys()
        .filter(|name| name.ends_with("/data.pkl") || name.as_str() == "data.pkl")
        .min_by_key(|name| name.len())
        .ok_or_else(|| {
            WeightError::not_checkpoint(
                path,
                "the zip has no data.pkl, so it is not a torch.save file",
            )
        })?
        .clone();
    let prefix = &pkl_name[..pkl_name.len() - "data.pkl".len()];

    if let Some(order) = members.get(&format!("{prefix}byteorder")) {
        let order = member_bytes(path, bytes, "byteorder", order)?;
        if order != b"little" {
            return Err(WeightError::not_checkpoint(
                path,
                format!(
                    "tensors are stored {}-endian; only little-endian is supported",
                    String::from_utf8_lossy(order)
                ),
            ));
        }
    }

    let pkl = member_bytes(path, bytes, &pkl_name, &members[&pkl_name])?;
    let top = pickle::load(pkl).map_err(|err| match err {
        PickleError::Unsafe(global) => WeightError::UnsafePickle {
            path: path.to_path_buf(),
            global,
        },
        PickleError::Truncated { .. } => WeightError::truncated(path, format!("{pkl_name}: {err}")),
        PickleError::Malformed { .. } => {
            WeightError::not_checkpoint(path, format!("{pkl_name}: {err}"))
        }
    })?;

    let tensors = state_dict_tensors(path, &top)?;
    let mut entries = Vec::with_capacity(tensors.len());
    for (name, tensor) in tensors {
        let key = format!("{prefix}data/{}", tensor.storage.key);
        let member = members.get(&key).ok_or_else(|| {
            WeightError::not_checkpoint(
                path,
                format!("tensor `{name}` uses storage {key}, which the zip lacks"),
            )
        })?;
        let storage = member_bytes(path, bytes, &key, member)?;
        let storage_start = member.start;
        let layout = tensor_layout(&tensor, storage.len()).map_err(|why| {
            WeightError::truncated(path, format!("tensor `{name}` ({key}): {why}"))
        })?;
        let layout = match layout {
            DataLayout::Contiguous { start, len } => DataLayout::Contiguous {
                start: storage_start + start,
                len,
            },
            DataLayout::Strided {
                offset, strides, ..
            } => DataLayout::Strided {
                storage_start,
                offset,
                strides,
            },
        };
        entries.push(RawEntry {
            name,
            dtype: tensor.storage.dtype,
            shape: tensor.shape.clone(),
            layout,
        });
    }
    Ok(entries)
}

/// The central directory of the zip: member name → byte range.
fn zip_members(path: &Path, bytes: &[u8]) -> Result<HashMap<String, Member>, WeightError> {
    let damaged = |e: zip::result::ZipError| {
        WeightError::truncated(
            path,
            format!("its zip directory is missing or damaged ({e}); was the download cut short?"),
        )
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(damaged)?;
    let mut members = HashMap::with_capacity(archive.len());
    for index in 0..archive.len() {
        let file = archive.by_index_raw(index).map_err(damaged)?;
        let name = file.name().map_err(damaged)?.into_owned();
        let start = file.data_start().ok_or_else(|| {
            WeightError::truncated(
                path,
                format!("zip member {name} has no readable local header"),
            )
        })?;
        let as_usize = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        let member = Member {
            start: as_usize(start),
            len: as_usize(file.compressed_size()),
            stored: file.compression() == CompressionMethod::Stored
                && file.compressed_size() == file.size(),
        };
        members.insert(name, member);
    }
    Ok(members)
}

fn member_bytes<'a>(
    path: &Path,
    bytes: &'a [u8],
    name: &str,
    member: &Member,
) -> Result<&'a [u8], WeightError> {
    if !member.stored {
        return Err(WeightError::not_checkpoint(
            path,
            format!(
                "zip member {name} is compressed; torch.save writes uncompressed members (re-save it with torch.save)"
            ),
        ));
    }
    let end = member
        .start
        .checked_add(member.len)
        .filter(|&end| end <= bytes.len());
    match end {
        Some(end) => Ok(&bytes[member.start..end]),
        None => Err(WeightError::truncated(
            path,
            format!(
                "zip member {name} should span bytes {}..{} but the file has {} bytes",
                member.start,
                member.start.saturating_add(member.len),
                bytes.len()
            ),
        )),
    }
}

/// The `name → tensor` pairs of the unpickled object: a state dict, or a dict that wraps one
/// under `state_dict` / `model` / `module` (training scripts often save that).
fn state_dict_tensors(path: &Path, top: &Value) -> Result<Vec<(String, TensorRef)>, WeightError> {
    let Value::Dict(dict) = top else {
        return Err(WeightError::not_checkpoint(
            path,
            "data.pkl does not hold a dict of tensors",
        ));
    };
    let direct = dict_tensors(&dict.borrow());
    if !direct.is_empty() {
        return Ok(direct);
    }
    for wrapper in ["state_dict", "model", "module"] {
        for (key, value) in dict.borrow().iter() {
            if let (Value::Str(k), Value::Dict(inner)) = (key, value)
                && &**k == wrapper
            {
                let nested = dict_tensors(&inner.borrow());
                if !nested.is_empty() {
                    return Ok(nested);
                }
            }
        }
    }
    Err(WeightError::not_checkpoint(
        path,
        "data.pkl holds a dict without any tensors",
    ))
}

/// String-keyed tensor values; a repeated key keeps its last value, as Python's dict would.
fn dict_tensors(pairs: &[(Value, Value)]) -> Vec<(String, TensorRef)> {
    let mut out: Vec<(String, TensorRef)> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (key, value) in pairs {
        if let (Value::Str(name), Value::Tensor(tensor)) = (key, value) {
            match seen.get(&**name) {
                Some(&i) => out[i].1 = (**tensor).clone(),
                None => {
                    seen.insert(name.to_string(), out.len());
                    out.push((name.to_string(), (**tensor).clone()));
                }
            }
        }
    }
    out
}

/// Checks that the view fits in its storage (`storage_len` bytes) and describes its bytes
/// relative to the storage start.
fn tensor_layout(tensor: &TensorRef, storage_len: usize) -> Result<DataLayout, String> {
    let elem = tensor.storage.dtype.size_in_bytes();
    let numel = tensor
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or("size overflows")?;
    let claimed = tensor
        .storage
        .numel
        .checked_mul(elem)
        .ok_or("storage size overflows")?;
    if claimed > storage_len {
        return Err(format!(
            "the pickle says the storage has {claimed} bytes, the file holds {storage_len}"
        ));
    }
    if numel == 0 {
        return Ok(DataLayout::Contiguous { start: 0, len: 0 });
    }
    // Highest element the view touches: offset + Σ (dim - 1) · stride.
    let mut last = tensor.offset;
    for (&dim, &stride) in tensor.shape.iter().zip(&tensor.strides) {
        last = (dim - 1)
            .checked_mul(stride)
            .and_then(|s| last.checked_add(s))
            .ok_or("view overflows")?;
    }
    let needed = last
        .checked_add(1)
        .and_then(|n| n.checked_mul(elem))
        .ok_or("view overflows")?;
    if needed > storage_len {
        return Err(format!(
            "the view (offset {}, shape {:?}, strides {:?}) needs {needed} bytes, the storage holds {storage_len}",
            tensor.offset, tensor.shape, tensor.strides
        ));
    }
    if is_row_major(&tensor.shape, &tensor.strides) {
        Ok(DataLayout::Contiguous {
            start: tensor.offset * elem,
            len: numel * elem,
        })
    } else {
        Ok(DataLayout::Strided {
            storage_start: 0,
            offset: tensor.offset,
            strides: tensor.strides.clone(),
        })
    }
}

/// Dense row-major strides; a dimension of size 1 may carry any stride (torch leaves those free).
fn is_row_major(shape: &[usize], strides: &[usize]) -> bool {
    let mut expected = 1usize;
    for (&dim, &stride) in shape.iter().zip(strides).rev() {
        if dim != 1 && stride != expected {
            return false;
        }
        expected = expected.saturating_mul(dim);
    }
    true
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;
    use crate::model::weights::StoredDtype;
    use crate::model::weights::pickle::StorageRef;

    fn view(numel: usize, offset: usize, shape: &[usize], strides: &[usize]) -> TensorRef {
        TensorRef {
            storage: Rc::new(StorageRef {
                dtype: StoredDtype::F32,
                key: "0".into(),
                numel,
            }),
            offset,
            shape: shape.to_vec(),
            strides: strides.to_vec(),
        }
    }

    #[test]
    fn contiguous_view_with_offset_is_a_byte_range() {
        let layout = tensor_layout(&view(12, 3, &[3, 3], &[3, 1]), 48).unwrap();
        assert_eq!(layout, DataLayout::Contiguous { start: 12, len: 36 });
    }

    #[test]
    fn size_one_dims_ignore_their_stride() {
        assert!(is_row_major(&[1, 4], &[99, 1]));
        assert!(is_row_major(&[4, 1], &[1, 7]));
        assert!(!is_row_major(&[2, 3], &[1, 2]));
    }

    #[test]
    fn transposed_view_stays_strided() {
        let layout = tensor_layout(&view(6, 0, &[3, 2], &[1, 3]), 24).unwrap();
        assert_eq!(
            layout,
            DataLayout::Strided {
                storage_start: 0,
                offset: 0,
                strides: vec![1, 3]
            }
        );
    }

    #[test]
    fn view_past_the_storage_is_refused() {
        assert!(tensor_layout(&view(6, 1, &[2, 3], &[3, 1]), 24).is_err());
        assert!(tensor_layout(&view(6, 0, &[2, 3], &[3, 1]), 20).is_err());
        assert!(tensor_layout(&view(6, 0, &[2, 3], &[usize::MAX, 1]), 24).is_err());
    }
}
