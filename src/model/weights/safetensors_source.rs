//! safetensors files: an 8-byte little-endian header length, a JSON header
//! `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`, then the data.
//!
//! The header is parsed here (rather than through the `safetensors` crate) so that every
//! inconsistency can be reported with the tensor name and the numbers that disagree.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::{DataLayout, RawEntry, StoredDtype, WeightError};

/// A header larger than this is certainly not a real one (real 7B headers are ~100 KB).
const MAX_HEADER_BYTES: u64 = 100 * 1024 * 1024;

#[derive(Deserialize)]
struct HeaderEntry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [usize; 2],
}

pub(crate) fn read_entries(path: &Path, bytes: &[u8]) -> Result<Vec<RawEntry>, WeightError> {
    let Some(len_bytes) = bytes.get(..8) else {
        return Err(WeightError::truncated(
            path,
            format!(
                "only {} bytes, less than the 8-byte header length",
                bytes.len()
            ),
        ));
    };
    let header_len = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes"));
    if header_len > MAX_HEADER_BYTES {
        return Err(WeightError::not_checkpoint(
            path,
            format!("safetensors header length {header_len} is implausible"),
        ));
    }
    let header_end = 8 + header_len as usize;
    let Some(header) = bytes.get(8..header_end) else {
        return Err(WeightError::truncated(
            path,
            format!(
                "the header claims {header_len} bytes but the file has only {}",
                bytes.len()
            ),
        ));
    };
    let header: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(header).map_err(|e| {
            WeightError::not_checkpoint(
                path,
                format!("safetensors header is not a JSON object: {e}"),
            )
        })?;

    let data_len = bytes.len() - header_end;
    let mut entries = Vec::with_capacity(header.len());
    for (name, value) in header {
        if name == "__metadata__" {
            continue;
        }
        let bad =
            |why: String| WeightError::not_checkpoint(path, format!("tensor `{name}`: {why}"));
        let entry: HeaderEntry =
            serde_json::from_value(value).map_err(|e| bad(format!("bad header entry: {e}")))?;
        let dtype = parse_dtype(&entry.dtype)
            .ok_or_else(|| bad(format!("unknown dtype {}", entry.dtype)))?;
        let [begin, end] = entry.data_offsets;
        if begin > end {
            return Err(bad(format!("data_offsets [{begin}, {end}] are reversed")));
        }
        if end > data_len {
            return Err(WeightError::truncated(
                path,
                format!(
                    "tensor `{name}` ends at data byte {end} but the data section has only {data_len} bytes"
                ),
            ));
        }
        let elem = dtype.size_in_bytes();
        let numel = entry
            .shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d));
        if elem > 0 {
            let needed = numel.and_then(|n| n.checked_mul(elem));
            if needed != Some(end - begin) {
                return Err(bad(format!(
                    "shape {:?} of {dtype} needs {} bytes but data_offsets give {}",
                    entry.shape,
                    needed.map_or("too many".to_string(), |n| n.to_string()),
                    end - begin
                )));
            }
        }
        entries.push(RawEntry {
            name,
            dtype,
            shape: entry.shape,
            layout: DataLayout::Contiguous {
                start: header_end + begin,
                len: end - begin,
            },
        });
    }
    Ok(entries)
}

fn parse_dtype(name: &str) -> Option<StoredDtype> {
    let dtype = match name {
        "F64" => StoredDtype::F64,
        "F32" => StoredDtype::F32,
        "F16" => StoredDtype::F16,
        "BF16" => StoredDtype::BF16,
        "I64" => StoredDtype::I64,
        "I32" => StoredDtype::I32,
        "I16" => StoredDtype::I16,
        "I8" => StoredDtype::I8,
        "U8" => StoredDtype::U8,
        "U32" => StoredDtype::U32,
        "BOOL" => StoredDtype::Bool,
        // Known to safetensors but not loadable here; kept so the file still opens.
        "U16" => StoredDtype::Other("U16"),
        "U64" => StoredDtype::Other("U64"),
        "F8_E4M3" => StoredDtype::Other("F8_E4M3"),
        "F8_E5M2" => StoredDtype::Other("F8_E5M2"),
        "C64" => StoredDtype::Other("C64"),
        _ => return None,
    };
    Some(dtype)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, data_len: usize) -> Vec<u8> {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend(header.as_bytes());
        bytes.extend(std::iter::repeat_n(0u8, data_len));
        bytes
    }

    #[test]
    fn reads_entries_and_skips_metadata() {
        let h = r#"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]}}"#;
        let bytes = file(h, 22);
        let entries = read_entries(Path::new("x.safetensors"), &bytes).unwrap();
        assert_eq!(entries.len(), 2);
        let start = 8 + h.len();
        assert_eq!(entries[0].name, "a");
        assert_eq!(entries[0].layout, DataLayout::Contiguous { start, len: 16 });
        assert_eq!(entries[1].dtype, StoredDtype::BF16);
        assert_eq!(
            entries[1].layout,
            DataLayout::Contiguous {
                start: start + 16,
                len: 6
            }
        );
    }

    #[test]
    fn header_lying_about_sizes_is_refused() {
        let past_end = r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#;
        let err = read_entries(Path::new("cut.safetensors"), &file(past_end, 8)).unwrap_err();
        assert!(matches!(err, WeightError::Truncated { .. }), "{err}");
        assert!(err.to_string().contains("cut.safetensors") && err.to_string().contains("`a`"));

        let wrong_size = r#"{"a":{"dtype":"F32","shape":[5],"data_offsets":[0,16]}}"#;
        let err = read_entries(Path::new("lie.safetensors"), &file(wrong_size, 16)).unwrap_err();
        assert!(matches!(err, WeightError::NotACheckpoint { .. }), "{err}");

        let overflow =
            r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}}"#;
        assert!(read_entries(Path::new("o.safetensors"), &file(overflow, 16)).is_err());
    }

    #[test]
    fn header_longer_than_the_file_is_truncation() {
        let mut bytes = 1000u64.to_le_bytes().to_vec();
        bytes.extend(b"{\"a\":");
        let err = read_entries(Path::new("t.safetensors"), &bytes).unwrap_err();
        assert!(matches!(err, WeightError::Truncated { .. }), "{err}");
    }
}
