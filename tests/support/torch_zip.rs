//! A minimal writer of torch.save-style zips, for tests: shards, views with offsets and
//! strides, bf16/f16 storages, shared storages, and deliberately malicious pickles.
//!
//! It writes what `torch.save(state_dict)` writes: `<archive>/data.pkl` (protocol 2),
//! `<archive>/byteorder`, `<archive>/data/<key>` per storage and `<archive>/version`, all stored.

use std::io::Write;
use std::path::Path;

use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

/// One storage: its key, torch type name (`FloatStorage`, `BFloat16Storage`, ...) and bytes.
pub struct Storage {
    pub key: String,
    pub type_name: &'static str,
    pub elem_size: usize,
    pub bytes: Vec<u8>,
}

/// One state-dict entry: a view (offset, shape, strides in elements) of a storage.
pub struct View {
    pub name: String,
    pub storage: String,
    pub offset: usize,
    pub shape: Vec<usize>,
    pub strides: Vec<usize>,
}

impl View {
    /// A dense row-major view of a whole storage.
    pub fn dense(name: &str, storage: &str, shape: &[usize]) -> Self {
        let mut strides = vec![1usize; shape.len()];
        for d in (0..shape.len().saturating_sub(1)).rev() {
            strides[d] = strides[d + 1] * shape[d + 1];
        }
        Self {
            name: name.into(),
            storage: storage.into(),
            offset: 0,
            shape: shape.to_vec(),
            strides,
        }
    }
}

/// The torch storage type that holds a safetensors-style dtype name.
pub fn storage_type(dtype: &str) -> (&'static str, usize) {
    match dtype {
        "f32" | "F32" => ("FloatStorage", 4),
        "bf16" | "BF16" => ("BFloat16Storage", 2),
        "f16" | "F16" => ("HalfStorage", 2),
        "f64" | "F64" => ("DoubleStorage", 8),
        "i64" | "I64" => ("LongStorage", 8),
        other => panic!("no torch storage type for {other}"),
    }
}

fn push_str(p: &mut Vec<u8>, s: &str) {
    p.push(b'X');
    p.extend((s.len() as u32).to_le_bytes());
    p.extend(s.as_bytes());
}

fn push_int(p: &mut Vec<u8>, v: usize) {
    p.push(b'J');
    p.extend((v as i32).to_le_bytes());
}

fn push_int_tuple(p: &mut Vec<u8>, values: &[usize]) {
    p.push(b'(');
    for &v in values {
        push_int(p, v);
    }
    p.push(b't');
}

/// The data.pkl torch.save writes for `{name: _rebuild_tensor_v2(...)}` (protocol 2, no memo).
pub fn state_dict_pickle(storages: &[Storage], views: &[View]) -> Vec<u8> {
    let mut p = vec![0x80, 2, b'}', b'('];
    for view in views {
        let storage = storages
            .iter()
            .find(|s| s.key == view.storage)
            .expect("view of a known storage");
        push_str(&mut p, &view.name);
        p.extend(b"ctorch._utils\n_rebuild_tensor_v2\n(");
        // Persistent id: ('storage', torch.XStorage, key, 'cpu', numel).
        p.push(b'(');
        push_str(&mut p, "storage");
        p.extend(format!("ctorch\n{}\n", storage.type_name).as_bytes());
        push_str(&mut p, &storage.key);
        push_str(&mut p, "cpu");
        push_int(&mut p, storage.bytes.len() / storage.elem_size);
        p.extend(b"tQ");
        push_int(&mut p, view.offset);
        push_int_tuple(&mut p, &view.shape);
        push_int_tuple(&mut p, &view.strides);
        p.push(0x89); // requires_grad = False
        p.extend(b"ccollections\nOrderedDict\n)R");
        p.extend(b"tR");
    }
    p.extend(b"u.");
    p
}

/// Writes a torch.save zip with the given storages and state-dict views.
pub fn write_torch_zip(path: &Path, archive: &str, storages: &[Storage], views: &[View]) {
    write_torch_zip_with(path, archive, storages, views, false);
}

/// Like [`write_torch_zip`]; `zip64` forces zip64 headers, as torch writes for files over 4 GiB
/// (the real 1.5B checkpoint is 5.7 GB).
pub fn write_torch_zip_with(
    path: &Path,
    archive: &str,
    storages: &[Storage],
    views: &[View],
    zip64: bool,
) {
    let pickle = state_dict_pickle(storages, views);
    let mut members: Vec<(String, Vec<u8>)> = vec![
        (format!("{archive}/data.pkl"), pickle),
        (format!("{archive}/byteorder"), b"little".to_vec()),
    ];
    for s in storages {
        members.push((format!("{archive}/data/{}", s.key), s.bytes.clone()));
    }
    members.push((format!("{archive}/version"), b"3\n".to_vec()));
    let refs: Vec<(&str, &[u8])> = members
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    write_zip(path, &refs, zip64);
}

/// Writes a zip of stored (uncompressed) members.
pub fn write_raw_zip(path: &Path, members: &[(&str, &[u8])]) {
    write_zip(path, members, false);
}

fn write_zip(path: &Path, members: &[(&str, &[u8])], zip64: bool) {
    let file = std::fs::File::create(path).expect("create zip");
    let mut zip = zip::ZipWriter::new(file);
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .large_file(zip64);
    for (name, bytes) in members {
        zip.start_file(*name, options).expect("zip member");
        zip.write_all(bytes).expect("zip data");
    }
    zip.finish().expect("finish zip");
}
