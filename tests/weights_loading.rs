//! Checkpoint loading against the golden set: safetensors and PyTorch `.bin` give bit-identical
//! tensors, shards and views load correctly, conversion round-trips, and every kind of broken
//! or hostile file is refused with a message that names it.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device, IndexOp, Tensor};
use showo::model::weights::{
    ConvertOptions, WeightError, WeightStore, convert_to_safetensors, convert_to_safetensors_with,
};
use support::TempDir;
use support::torch_zip::{
    Storage, View, storage_type, write_raw_zip, write_torch_zip, write_torch_zip_with,
};

const EMBED: &str = "showo.model.embed_tokens.weight";
const LM_HEAD: &str = "showo.lm_head.weight";

fn golden_model_dir() -> Option<PathBuf> {
    showo::golden::open_or_fail().map(|set| set.model_dir())
}

/// The raw element bits of a tensor, so that comparisons are exact (NaN-safe, -0.0-aware).
fn bits(t: &Tensor) -> (DType, Vec<usize>, Vec<u64>) {
    let flat = t.contiguous().unwrap().flatten_all().unwrap();
    let bits = match t.dtype() {
        DType::F32 => flat
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .map(|v| v.to_bits() as u64)
            .collect(),
        DType::BF16 => flat
            .to_vec1::<half::bf16>()
            .unwrap()
            .iter()
            .map(|v| v.to_bits() as u64)
            .collect(),
        DType::F16 => flat
            .to_vec1::<half::f16>()
            .unwrap()
            .iter()
            .map(|v| v.to_bits() as u64)
            .collect(),
        DType::F64 => flat
            .to_vec1::<f64>()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect(),
        DType::I64 => flat
            .to_vec1::<i64>()
            .unwrap()
            .iter()
            .map(|&v| v as u64)
            .collect(),
        other => panic!("unexpected dtype {other:?}"),
    };
    (t.dtype(), t.dims().to_vec(), bits)
}

fn assert_bit_equal(got: &Tensor, want: &Tensor, what: &str) {
    let (gd, gs, gb) = bits(got);
    let (wd, ws, wb) = bits(want);
    assert_eq!((gd, &gs), (wd, &ws), "{what}: dtype/shape differ");
    assert!(gb == wb, "{what}: values differ");
}

/// The reference: the golden safetensors read by candle's own loader.
fn reference(dir: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu)
        .expect("candle reads the golden file")
}

fn load_all(store: &WeightStore) -> HashMap<String, Tensor> {
    store
        .names()
        .into_iter()
        .map(|n| {
            let dtype = store.stored_dtype(&n).unwrap().to_candle().unwrap();
            let t = store.load(&n, dtype, &Device::Cpu).unwrap();
            (n, t)
        })
        .collect()
}

fn assert_same_tensors(got: &HashMap<String, Tensor>, want: &HashMap<String, Tensor>, what: &str) {
    let mut got_names: Vec<&String> = got.keys().collect();
    let mut want_names: Vec<&String> = want.keys().collect();
    got_names.sort();
    want_names.sort();
    assert_eq!(got_names, want_names, "{what}: tensor names differ");
    for (name, t) in want {
        assert_bit_equal(&got[name], t, &format!("{what}: {name}"));
    }
}

#[test]
fn golden_safetensors_and_bin_are_bit_identical_for_every_key() {
    let Some(dir) = golden_model_dir() else {
        return;
    };
    let want = reference(&dir);
    assert!(
        want.len() > 50,
        "golden checkpoint has {} tensors",
        want.len()
    );

    let st = WeightStore::open(&dir.join("model.safetensors")).unwrap();
    assert_same_tensors(&load_all(&st), &want, "model.safetensors");

    let bin = WeightStore::open(&dir.join("pytorch_model.bin")).unwrap();
    assert_same_tensors(&load_all(&bin), &want, "pytorch_model.bin");
    for name in bin.names() {
        assert_eq!(bin.shape(&name), st.shape(&name), "{name}");
        assert_eq!(
            bin.raw_bytes(&name).unwrap(),
            st.raw_bytes(&name).unwrap(),
            "{name} raw bytes"
        );
    }

    // A directory opens its safetensors file first.
    let from_dir = WeightStore::open(&dir).unwrap();
    assert_eq!(
        from_dir.file_of(EMBED).unwrap(),
        dir.join("model.safetensors")
    );
}

#[test]
fn tied_pair_in_the_bin_shares_storage_and_loads_equal() {
    let Some(dir) = golden_model_dir() else {
        return;
    };
    let bin = WeightStore::open(&dir.join("pytorch_model.bin")).unwrap();
    let aliases = bin.aliases();
    assert!(
        aliases.contains(&vec![LM_HEAD.to_string(), EMBED.to_string()]),
        "tied pair not detected as shared: {aliases:?}"
    );
    let embed = bin.load(EMBED, DType::F32, &Device::Cpu).unwrap();
    let head = bin.load(LM_HEAD, DType::F32, &Device::Cpu).unwrap();
    assert_bit_equal(&head, &embed, "lm_head vs embed_tokens");
    // safetensors keeps two separate copies, which cannot alias.
    let st = WeightStore::open(&dir.join("model.safetensors")).unwrap();
    assert!(st.aliases().is_empty());
}

#[test]
fn vae_pth_equals_vae_safetensors() {
    let Some(set) = showo::golden::open_or_fail() else {
        return;
    };
    let vae = set.vae_dir();
    let pth = WeightStore::open(&vae.join("vae.pth")).unwrap();
    let st = WeightStore::open(&vae.join("vae.safetensors")).unwrap();
    let want = candle_core::safetensors::load(vae.join("vae.safetensors"), &Device::Cpu).unwrap();
    assert_same_tensors(&load_all(&pth), &want, "vae.pth");
    assert_same_tensors(&load_all(&st), &want, "vae.safetensors");
    assert!(pth.names().iter().any(|n| n.starts_with("decoder.")));
    // The VAE folder holds both; the safetensors file wins.
    assert_eq!(
        WeightStore::open(&vae)
            .unwrap()
            .file_of(&st.names()[0])
            .unwrap(),
        vae.join("vae.safetensors")
    );
}

/// Storages and dense views of the golden `.bin`, with the tied pair sharing one storage.
fn golden_storages(bin: &WeightStore, names: &[String]) -> (Vec<Storage>, Vec<View>) {
    let mut storages = Vec::new();
    let mut views = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let shape = bin.shape(name).unwrap();
        if name == LM_HEAD && names.contains(&EMBED.to_string()) {
            views.push(View::dense(name, "tied", &shape));
            continue;
        }
        let key = if name == EMBED {
            "tied".to_string()
        } else {
            i.to_string()
        };
        let (type_name, elem_size) =
            storage_type(bin.stored_dtype(name).unwrap().safetensors_name());
        storages.push(Storage {
            key: key.clone(),
            type_name,
            elem_size,
            bytes: bin.raw_bytes(name).unwrap().to_vec(),
        });
        views.push(View::dense(name, &key, &shape));
    }
    (storages, views)
}

fn split_names(store: &WeightStore) -> (Vec<String>, Vec<String>) {
    let names = store.names();
    let (first, second): (Vec<_>, Vec<_>) = names.into_iter().enumerate().partition(|(i, n)| {
        // Keep the tied pair together in the first shard; alternate the rest.
        n == EMBED || n == LM_HEAD || i % 2 == 0
    });
    (
        first.into_iter().map(|(_, n)| n).collect(),
        second.into_iter().map(|(_, n)| n).collect(),
    )
}

fn write_index(path: &Path, shards: &[(&str, &[String])]) {
    let mut map = serde_json::Map::new();
    for (file, names) in shards {
        for n in *names {
            map.insert(n.clone(), serde_json::Value::String(file.to_string()));
        }
    }
    let json = serde_json::json!({ "metadata": { "total_size": 0 }, "weight_map": map });
    std::fs::write(path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
}

#[test]
fn sharded_bin_with_either_index_name_loads_every_tensor() {
    let Some(dir) = golden_model_dir() else {
        return;
    };
    let want = reference(&dir);
    let bin = WeightStore::open(&dir.join("pytorch_model.bin")).unwrap();
    let (first, second) = split_names(&bin);
    assert!(!first.is_empty() && !second.is_empty());

    for index_name in [
        "pytorch_model.bin.index.json",
        "diffusion_pytorch_model.bin.index.json",
    ] {
        let tmp = TempDir::new(&format!("bin-shards-{index_name}"));
        let shard_names = [
            "pytorch_model-00001-of-00002.bin",
            "pytorch_model-00002-of-00002.bin",
        ];
        for (file, names) in shard_names.iter().zip([&first, &second]) {
            let (storages, views) = golden_storages(&bin, names);
            write_torch_zip(&tmp.join(file), "pytorch_model", &storages, &views);
        }
        write_index(
            &tmp.join(index_name),
            &[(shard_names[0], &first), (shard_names[1], &second)],
        );

        let store = WeightStore::open(tmp.path()).unwrap();
        assert_same_tensors(&load_all(&store), &want, index_name);
        assert_eq!(store.file_of(&second[0]).unwrap(), tmp.join(shard_names[1]));
        assert_eq!(store.files().len(), 2);
        assert!(
            store
                .aliases()
                .contains(&vec![LM_HEAD.to_string(), EMBED.to_string()])
        );

        // The shards also open without the index, and the index json opens directly.
        let files: Vec<PathBuf> = shard_names.iter().map(|f| tmp.join(f)).collect();
        assert_eq!(WeightStore::open_files(&files).unwrap().len(), want.len());
        assert_eq!(
            WeightStore::open(&tmp.join(index_name)).unwrap().len(),
            want.len()
        );
    }
}

#[test]
fn zip64_headers_are_read() {
    let Some(dir) = golden_model_dir() else {
        return;
    };
    let want = reference(&dir);
    let bin = WeightStore::open(&dir.join("pytorch_model.bin")).unwrap();
    let (storages, views) = golden_storages(&bin, &bin.names());
    let tmp = TempDir::new("zip64");
    let path = tmp.join("pytorch_model.bin");
    write_torch_zip_with(&path, "pytorch_model", &storages, &views, true);
    assert_same_tensors(
        &load_all(&WeightStore::open(&path).unwrap()),
        &want,
        "zip64",
    );
}

#[test]
fn sharded_safetensors_with_index_loads_every_tensor() {
    let Some(dir) = golden_model_dir() else {
        return;
    };
    let want = reference(&dir);
    let st = WeightStore::open(&dir.join("model.safetensors")).unwrap();
    let (first, second) = split_names(&st);
    let tmp = TempDir::new("st-shards");
    let shard_names = [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ];
    for (file, names) in shard_names.iter().zip([&first, &second]) {
        let part: HashMap<String, Tensor> =
            names.iter().map(|n| (n.clone(), want[n].clone())).collect();
        candle_core::safetensors::save(&part, tmp.join(file)).unwrap();
    }
    write_index(
        &tmp.join("model.safetensors.index.json"),
        &[(shard_names[0], &first), (shard_names[1], &second)],
    );
    let store = WeightStore::open(tmp.path()).unwrap();
    assert_same_tensors(&load_all(&store), &want, "sharded safetensors");

    // An index that puts a tensor in the wrong shard is caught.
    write_index(
        &tmp.join("model.safetensors.index.json"),
        &[(shard_names[1], &first), (shard_names[0], &second)],
    );
    let err = WeightStore::open(tmp.path()).unwrap_err();
    assert!(matches!(err, WeightError::BadIndex { .. }), "{err}");
}

#[test]
fn bin_views_with_offsets_strides_and_half_dtypes_load_correctly() {
    let Some(dir) = golden_model_dir() else {
        return;
    };
    let want = reference(&dir);
    let w = &want[EMBED]; // (310, 64) f32
    let (rows, cols) = w.dims2().unwrap();
    let f32_bytes: Vec<u8> = w
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let wb = w.to_dtype(DType::BF16).unwrap();
    let bf16_bytes: Vec<u8> = wb
        .flatten_all()
        .unwrap()
        .to_vec1::<half::bf16>()
        .unwrap()
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let wh = w.to_dtype(DType::F16).unwrap();
    let f16_bytes: Vec<u8> = wh
        .flatten_all()
        .unwrap()
        .to_vec1::<half::f16>()
        .unwrap()
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();

    let storages = vec![
        Storage {
            key: "f".into(),
            type_name: "FloatStorage",
            elem_size: 4,
            bytes: f32_bytes,
        },
        Storage {
            key: "b".into(),
            type_name: "BFloat16Storage",
            elem_size: 2,
            bytes: bf16_bytes,
        },
        Storage {
            key: "h".into(),
            type_name: "HalfStorage",
            elem_size: 2,
            bytes: f16_bytes,
        },
    ];
    let view =
        |name: &str, storage: &str, offset: usize, shape: &[usize], strides: &[usize]| View {
            name: name.into(),
            storage: storage.into(),
            offset,
            shape: shape.to_vec(),
            strides: strides.to_vec(),
        };
    let views = vec![
        View::dense("whole", "f", &[rows, cols]),
        view("transposed", "f", 0, &[cols, rows], &[1, cols]),
        view("rows_5_to_15", "f", 5 * cols, &[10, cols], &[cols, 1]),
        view("cols_3_to_11", "f", 3, &[rows, 8], &[cols, 1]),
        view("even_rows", "f", 0, &[rows / 2, cols], &[2 * cols, 1]),
        view("scalar_at_7", "f", 7, &[], &[]),
        View::dense("bf16", "b", &[rows, cols]),
        view("bf16_transposed", "b", 0, &[cols, rows], &[1, cols]),
        View::dense("f16", "h", &[rows, cols]),
    ];
    let tmp = TempDir::new("views");
    let path = tmp.join("views.bin");
    write_torch_zip(&path, "views", &storages, &views);
    let store = WeightStore::open(&path).unwrap();
    let cpu = &Device::Cpu;
    let get = |name: &str, dtype| store.load(name, dtype, cpu).unwrap();

    assert_bit_equal(&get("whole", DType::F32), w, "whole");
    assert_bit_equal(
        &get("transposed", DType::F32),
        &w.t().unwrap(),
        "transposed",
    );
    assert_bit_equal(
        &get("rows_5_to_15", DType::F32),
        &w.narrow(0, 5, 10).unwrap(),
        "row slice",
    );
    assert_bit_equal(
        &get("cols_3_to_11", DType::F32),
        &w.narrow(1, 3, 8).unwrap(),
        "column slice",
    );
    let even = w
        .reshape((rows / 2, 2, cols))
        .unwrap()
        .i((.., 0, ..))
        .unwrap();
    assert_bit_equal(&get("even_rows", DType::F32), &even, "every other row");
    let flat = w.flatten_all().unwrap();
    assert_bit_equal(
        &get("scalar_at_7", DType::F32),
        &flat.i(7).unwrap(),
        "scalar",
    );

    assert_eq!(
        store.stored_dtype("bf16").unwrap().to_candle(),
        Some(DType::BF16)
    );
    assert_bit_equal(&get("bf16", DType::BF16), &wb, "bf16 kept");
    assert_bit_equal(
        &get("bf16", DType::F32),
        &wb.to_dtype(DType::F32).unwrap(),
        "bf16 widened",
    );
    assert_bit_equal(
        &get("bf16_transposed", DType::BF16),
        &wb.t().unwrap(),
        "bf16 transposed",
    );
    assert_bit_equal(&get("f16", DType::F16), &wh, "f16 kept");

    // Views convert too: safetensors gets each view as its own dense tensor.
    let out = tmp.join("views.safetensors");
    convert_to_safetensors(&path, &out, |_, _| {}).unwrap();
    let converted = candle_core::safetensors::load(&out, cpu).unwrap();
    assert_bit_equal(
        &converted["transposed"],
        &w.t().unwrap(),
        "converted transpose",
    );
    assert_bit_equal(
        &converted["bf16_transposed"],
        &wb.t().unwrap(),
        "converted bf16 transpose",
    );
}

#[test]
fn convert_round_trips_bin_to_safetensors() {
    let Some(dir) = golden_model_dir() else {
        return;
    };
    let want = reference(&dir);
    let tmp = TempDir::new("convert");

    // A single file into a directory: pytorch_model.bin → model.safetensors.
    let mut calls = Vec::new();
    let report = convert_to_safetensors(
        &dir.join("pytorch_model.bin"),
        &tmp.join("out"),
        |done, total| calls.push((done, total)),
    )
    .unwrap();
    assert_eq!(report.output, tmp.join("out").join("model.safetensors"));
    assert_eq!(report.tensors, want.len());
    assert!(
        report
            .aliases
            .contains(&vec![LM_HEAD.to_string(), EMBED.to_string()])
    );
    let (done, total) = *calls.last().unwrap();
    assert_eq!(done, total);
    assert_eq!(total, report.data_bytes);
    // Read back by candle's loader (an independent safetensors reader) and by the store.
    let back = candle_core::safetensors::load(&report.output, &Device::Cpu).unwrap();
    assert_same_tensors(&back, &want, "converted");
    assert_same_tensors(
        &load_all(&WeightStore::open(&report.output).unwrap()),
        &want,
        "converted via store",
    );
    let leftovers: Vec<_> = std::fs::read_dir(tmp.join("out"))
        .unwrap()
        .filter_map(|e| e.ok())
        .collect();
    assert_eq!(leftovers.len(), 1, "temporary file left behind");

    // A directory with only the .bin: configs come along.
    let src = tmp.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::copy(dir.join("pytorch_model.bin"), src.join("pytorch_model.bin")).unwrap();
    let jsons: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    assert!(jsons.contains(&"config.json".to_string()));
    for name in &jsons {
        std::fs::copy(dir.join(name), src.join(name)).unwrap();
    }
    let options = ConvertOptions {
        dtype: Some(DType::BF16),
    };
    let report = convert_to_safetensors_with(&src, &tmp.join("bf16"), &options, |_, _| {}).unwrap();
    assert_eq!(report.copied.len(), jsons.len());
    for name in &jsons {
        assert_eq!(
            std::fs::read(tmp.join("bf16").join(name)).unwrap(),
            std::fs::read(dir.join(name)).unwrap()
        );
    }
    let bf16 = load_all(&WeightStore::open(&tmp.join("bf16")).unwrap());
    let want_bf16: HashMap<String, Tensor> = want
        .iter()
        .map(|(n, t)| (n.clone(), t.to_dtype(DType::BF16).unwrap()))
        .collect();
    assert_same_tensors(&bf16, &want_bf16, "converted to bf16");
}

#[test]
fn var_builder_checks_shapes_and_names_what_is_wrong() {
    let Some(dir) = golden_model_dir() else {
        return;
    };
    let file = dir.join("model.safetensors");
    let store = Arc::new(WeightStore::open(&file).unwrap());
    let want = reference(&dir);
    let vb = store.var_builder(DType::F32, &Device::Cpu);

    let embed = vb
        .pp("showo")
        .pp("model")
        .get((310, 64), "embed_tokens.weight")
        .unwrap();
    assert_bit_equal(&embed, &want[EMBED], "through the VarBuilder");
    let half = store
        .var_builder(DType::BF16, &Device::Cpu)
        .get((310, 64), EMBED)
        .unwrap();
    assert_eq!(half.dtype(), DType::BF16);

    let err = vb.get((64, 310), EMBED).unwrap_err().to_string();
    for part in [EMBED, "model.safetensors", "[64, 310]", "[310, 64]"] {
        assert!(err.contains(part), "shape error lacks {part}: {err}");
    }
    let err = vb.get(7, "showo.no_such.weight").unwrap_err().to_string();
    assert!(
        err.contains("showo.no_such.weight") && err.contains("model.safetensors"),
        "{err}"
    );

    assert!(vb.contains_tensor(LM_HEAD));
    assert!(!vb.contains_tensor("showo.no_such.weight"));
}

#[test]
fn unused_tensors_are_reported_with_their_file() {
    let Some(dir) = golden_model_dir() else {
        return;
    };
    let file = dir.join("pytorch_model.bin");
    let store = Arc::new(WeightStore::open(&file).unwrap());
    let vb = store.var_builder(DType::F32, &Device::Cpu);
    let total = store.len();
    assert_eq!(store.unused_tensors().len(), total);

    vb.get((310, 64), EMBED).unwrap();
    let norm = store.shape("showo.model.norm.weight").unwrap();
    vb.get(norm, "showo.model.norm.weight").unwrap();
    let unused = store.unused_tensors();
    assert_eq!(unused.len(), total - 2);
    assert!(!unused.contains(&EMBED.to_string()) && unused.contains(&LM_HEAD.to_string()));

    let err = store.check_all_used(&[]).unwrap_err();
    assert!(matches!(&err, WeightError::UnusedTensors { names, .. } if names.len() == total - 2));
    let text = err.to_string();
    assert!(
        text.contains("pytorch_model.bin") && text.contains(&unused[0]),
        "{text}"
    );

    // Allowing every remaining top-level module by prefix makes the check pass.
    let mut prefixes: Vec<String> = unused
        .iter()
        .map(|n| format!("{}*", n.split('.').next().unwrap()))
        .collect();
    prefixes.dedup();
    let allow: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    store.check_all_used(&allow).unwrap();

    store.reset_usage();
    assert_eq!(store.unused_tensors().len(), total);
}

#[test]
fn absent_lm_head_lets_the_model_fall_back_to_embeddings() {
    let Some(dir) = golden_model_dir() else {
        return;
    };
    let mut tensors = reference(&dir);
    tensors.remove(LM_HEAD);
    let tmp = TempDir::new("untied");
    let path = tmp.join("model.safetensors");
    candle_core::safetensors::save(&tensors, &path).unwrap();
    let store = Arc::new(WeightStore::open(tmp.path()).unwrap());
    let vb = store.var_builder(DType::F32, &Device::Cpu);
    assert!(!vb.contains_tensor(LM_HEAD));
    assert!(vb.contains_tensor(EMBED));
    let err = vb.get((310, 64), LM_HEAD).unwrap_err().to_string();
    assert!(err.contains(LM_HEAD), "{err}");
}

fn assert_refused(path: &Path, what: &str) -> WeightError {
    let err = match WeightStore::open(path) {
        Ok(store) => panic!("{what}: accepted with {} tensors", store.len()),
        Err(err) => err,
    };
    let text = err.to_string();
    let name = path.file_name().unwrap().to_string_lossy();
    assert!(
        text.contains(name.as_ref()),
        "{what}: message does not name the file: {text}"
    );
    err
}

#[test]
fn truncated_checkpoints_give_errors_naming_the_file() {
    let Some(dir) = golden_model_dir() else {
        return;
    };
    let tmp = TempDir::new("truncated");
    for source in ["pytorch_model.bin", "model.safetensors"] {
        let bytes = std::fs::read(dir.join(source)).unwrap();
        let n = bytes.len();
        for cut in [
            0,
            3,
            8,
            12,
            100,
            1000,
            20_000,
            n / 2,
            n - 100,
            n - 22,
            n - 1,
        ] {
            let path = tmp.join(&format!("cut-{cut}-{source}"));
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let err = assert_refused(&path, &format!("{source} cut at {cut}"));
            assert!(
                matches!(
                    err,
                    WeightError::Truncated { .. } | WeightError::NotACheckpoint { .. }
                ),
                "{source} cut at {cut}: {err}"
            );
        }
    }
}

#[test]
fn safetensors_header_lying_about_sizes_is_refused() {
    let Some(dir) = golden_model_dir() else {
        return;
    };
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    let data = &bytes[8 + header_len..];
    let tmp = TempDir::new("lying");

    let write = |header: &serde_json::Value, name: &str| {
        let json = serde_json::to_vec(header).unwrap();
        let mut out = (json.len() as u64).to_le_bytes().to_vec();
        out.extend(json);
        out.extend(data);
        let path = tmp.join(name);
        std::fs::write(&path, out).unwrap();
        path
    };
    // Claims more data than there is.
    let mut past_end = header.clone();
    past_end[EMBED]["data_offsets"][1] = serde_json::json!(data.len() + 4096);
    let err = assert_refused(
        &write(&past_end, "past_end.safetensors"),
        "offsets past the end",
    );
    assert!(err.to_string().contains(EMBED), "{err}");
    // A shape that does not match the byte range.
    header[EMBED]["shape"] = serde_json::json!([311, 64]);
    let err = assert_refused(
        &write(&header, "wrong_shape.safetensors"),
        "shape/offset mismatch",
    );
    assert!(err.to_string().contains(EMBED), "{err}");
}

#[test]
fn random_bytes_and_zips_without_a_pickle_are_not_checkpoints() {
    let tmp = TempDir::new("garbage");
    // Deterministic noise (a 64-bit LCG), starting with neither a zip nor a safetensors header.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let noise: Vec<u8> = (0..100_000)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 56) as u8
        })
        .collect();
    let path = tmp.join("noise.bin");
    std::fs::write(&path, &noise).unwrap();
    let err = assert_refused(&path, "random bytes");
    assert!(
        matches!(
            err,
            WeightError::NotACheckpoint { .. } | WeightError::Truncated { .. }
        ),
        "{err}"
    );

    let path = tmp.join("nopickle.pth");
    write_raw_zip(
        &path,
        &[
            ("archive/byteorder", b"little"),
            ("archive/data/0", &[0u8; 64]),
        ],
    );
    let err = assert_refused(&path, "zip without data.pkl");
    assert!(
        matches!(err, WeightError::NotACheckpoint { .. }) && err.to_string().contains("data.pkl"),
        "{err}"
    );

    let path = tmp.join("empty.safetensors");
    std::fs::write(&path, b"").unwrap();
    assert_refused(&path, "empty file");

    let path = tmp.join("big-endian.pth");
    let pkl = support::torch_zip::state_dict_pickle(&[], &[]);
    write_raw_zip(
        &path,
        &[("archive/data.pkl", &pkl), ("archive/byteorder", b"big")],
    );
    let err = assert_refused(&path, "big-endian");
    assert!(err.to_string().contains("big"), "{err}");

    // A storage shorter than the tensor that views it.
    let path = tmp.join("short-storage.bin");
    let storage = Storage {
        key: "0".into(),
        type_name: "FloatStorage",
        elem_size: 4,
        bytes: vec![0; 16],
    };
    write_torch_zip(
        &path,
        "archive",
        &[storage],
        &[View::dense("w", "0", &[2, 4])],
    );
    let err = assert_refused(&path, "short storage");
    assert!(err.to_string().contains("`w`"), "{err}");
}

#[test]
fn malicious_pickles_are_refused_by_name() {
    let tmp = TempDir::new("malicious");
    let payloads: [(&str, &[u8]); 3] = [
        (
            "os.system",
            b"\x80\x02cos\nsystem\nq\x00(X\x0b\x00\x00\x00echo pwnedtR.",
        ),
        (
            "builtins.eval",
            b"\x80\x02cbuiltins\neval\n(X\x0d\x00\x00\x00print('pwn')tR.",
        ),
        (
            "subprocess.Popen",
            b"\x80\x02}(X\x01\x00\x00\x00wcsubprocess\nPopen\n(X\x02\x00\x00\x00idtRu.",
        ),
    ];
    for (global, pkl) in payloads {
        let path = tmp.join(&format!("{global}.bin"));
        write_raw_zip(
            &path,
            &[
                ("archive/data.pkl", pkl),
                ("archive/byteorder", b"little"),
                ("archive/version", b"3\n"),
            ],
        );
        let err = assert_refused(&path, global);
        assert!(
            matches!(&err, WeightError::UnsafePickle { global: g, .. } if g == global),
            "{err}"
        );
        assert!(err.to_string().contains(global), "{err}");
    }
    // Also inside an otherwise valid state dict, after real tensors.
    let path = tmp.join("late.bin");
    let storage = Storage {
        key: "0".into(),
        type_name: "FloatStorage",
        elem_size: 4,
        bytes: vec![0; 16],
    };
    let mut pkl = support::torch_zip::state_dict_pickle(&[storage], &[View::dense("w", "0", &[4])]);
    pkl.truncate(pkl.len() - 2); // drop SETITEMS + STOP, then add an evil item
    pkl.extend(b"X\x01\x00\x00\x00xcos\nsystem\n(X\x02\x00\x00\x00idtRu.");
    write_raw_zip(
        &path,
        &[("archive/data.pkl", &pkl), ("archive/data/0", &[0u8; 16])],
    );
    let err = assert_refused(&path, "late os.system");
    assert!(err.to_string().contains("os.system"), "{err}");
}

/// The consent-based safetensors cache of a `.bin` checkpoint: nothing is written without
/// consent, a conversion made with consent is bit-identical and reused by later loads (even
/// without consent), and a changed `.bin` never reuses a stale conversion.
#[test]
fn bin_checkpoint_converts_once_into_the_safetensors_cache() {
    use showo::model::weights::{BinCache, open_with_cache};

    let Some(golden) = golden_model_dir() else {
        return;
    };
    let tmp = TempDir::new("bin-cache");
    let ckpt = tmp.join("ckpt");
    std::fs::create_dir_all(&ckpt).unwrap();
    std::fs::copy(
        golden.join("pytorch_model.bin"),
        ckpt.join("pytorch_model.bin"),
    )
    .unwrap();
    std::fs::copy(golden.join("config.json"), ckpt.join("config.json")).unwrap();
    let root = tmp.join("cache");
    let want = reference(&golden);
    let is_bin = |s: &WeightStore| {
        s.files()
            .iter()
            .all(|f| f.extension().is_some_and(|e| e == "bin"))
    };
    let entries = |root: &Path| {
        std::fs::read_dir(root)
            .map(|d| d.filter_map(|e| e.ok()).count())
            .unwrap_or(0)
    };

    let plain = open_with_cache(&ckpt, BinCache::UseIfPresent, Some(&root), |_, _| {}).unwrap();
    assert!(is_bin(&plain), "no conversion exists yet: the .bin is read");
    assert_eq!(entries(&root), 0, "nothing written without consent");

    let mut reported = 0;
    let converted = open_with_cache(&ckpt, BinCache::Convert, Some(&root), |done, total| {
        assert!(done <= total);
        reported = total;
    })
    .unwrap();
    let from = converted.files()[0].to_path_buf();
    assert!(!is_bin(&converted), "opened from {}", from.display());
    assert!(
        from.starts_with(&root),
        "{} is not in the cache",
        from.display()
    );
    assert!(reported > 0, "conversion progress was reported");
    assert_same_tensors(&load_all(&converted), &want, "cached conversion");

    let reused = open_with_cache(&ckpt, BinCache::UseIfPresent, Some(&root), |_, _| {
        panic!("a second conversion")
    })
    .unwrap();
    assert_eq!(
        reused.files()[0],
        from.as_path(),
        "the conversion is reused"
    );
    let off = open_with_cache(&ckpt, BinCache::Off, Some(&root), |_, _| {}).unwrap();
    assert!(is_bin(&off), "Off reads the .bin");

    // A replaced checkpoint (other size and time) does not match the conversion any more.
    let mut bytes = std::fs::read(ckpt.join("pytorch_model.bin")).unwrap();
    bytes.extend_from_slice(&[0u8; 64]); // trailing bytes after the zip: still a valid archive
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(ckpt.join("pytorch_model.bin"), bytes).unwrap();
    let stale = open_with_cache(&ckpt, BinCache::UseIfPresent, Some(&root), |_, _| {}).unwrap();
    assert!(is_bin(&stale), "a stale conversion must not be used");
    assert_eq!(entries(&root), 1);
}
