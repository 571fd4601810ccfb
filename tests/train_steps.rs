//! A few training steps of the unified model on fixed data: both losses must fall. Proves
//! that autograd flows through every module of the shared Show-o2 code path.

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use showo::model::Showo2;
use showo::model::vae::WanVae;
use showo::train::optim::AdamW;
use showo::train::spec::tiny_showo2_config;
use showo::train::unified::{
    LayoutIds, QaExample, T2iExample, answer_loss, flow_loss, rng, twin_difference_weight,
};

/// Token roles of the toy vocabulary these tests use.
const IDS: LayoutIds = LayoutIds {
    bos: 50,
    eos: 51,
    boi: 52,
    eoi: 53,
    img_pad: 54,
    pad: 55,
};

/// A freshly initialised tiny Show-o2 over a 64-token vocabulary, and its variables.
fn fresh_showo2(dev: &Device) -> (VarMap, Showo2) {
    let cfg = tiny_showo2_config(64);
    let map = VarMap::new();
    let model = Showo2::new(&cfg, VarBuilder::from_varmap(&map, DType::F32, dev)).unwrap();
    (map, model)
}

#[test]
fn losses_fall_over_a_few_steps() {
    let dev = Device::Cpu;
    let (map, model) = fresh_showo2(&dev);
    let mut opt = AdamW::new(vars(&map), 0.0).unwrap();
    // Seeded latents so the data are the same on every run.
    let latent = |seed: u64| {
        use rand_distr::Distribution;
        let mut r = rng(100 + seed);
        let v: Vec<f32> = (0..16 * 8 * 8)
            .map(|_| rand_distr::StandardNormal.sample(&mut r))
            .collect();
        Tensor::from_vec(v, (16, 8, 8), &dev).unwrap()
    };
    let t2i: Vec<T2iExample> = (0..4)
        .map(|i| T2iExample {
            latent: latent(i),
            caption: vec![1 + i as u32, 10],
            weight: None,
            shares_noise_with_previous: false,
            noise: None,
        })
        .collect();
    let qa: Vec<QaExample> = (0..4)
        .map(|i| QaExample {
            before: vec![50, 3, 52],
            visual: t2i[i].latent.unsqueeze(0).unwrap(),
            after: vec![53, 4, 5],
            answer: vec![20 + i as u32, 51],
        })
        .collect();
    let (mut first, mut last) = ((0f32, 0f32), (0f32, 0f32));
    for step in 0..60 {
        let mut r_fixed = rng(0); // the same noise and times every step, so the flow loss can fall
        let f = flow_loss(&model, &t2i, IDS, &mut r_fixed).unwrap();
        let (a, _) = answer_loss(&model, &qa, IDS, 4).unwrap();
        let total = (&f + &a).unwrap();
        let mut grads = total.backward().unwrap();
        opt.clip(&mut grads, 1.0).unwrap();
        opt.apply(&grads, 3e-3).unwrap();
        let vals = (f.to_scalar::<f32>().unwrap(), a.to_scalar::<f32>().unwrap());
        if step < 2 {
            first = (first.0 + vals.0 / 2.0, first.1 + vals.1 / 2.0);
        }
        if step >= 58 {
            last = (last.0 + vals.0 / 2.0, last.1 + vals.1 / 2.0);
        }
    }
    eprintln!(
        "flow loss {:.3} -> {:.3}, answer loss {:.3} -> {:.3}",
        first.0, last.0, first.1, last.1
    );
    assert!(
        last.0 < 0.9 * first.0,
        "flow loss did not fall: {first:?} -> {last:?}"
    );
    assert!(
        last.1 < 0.3 * first.1,
        "answer loss did not fall: {first:?} -> {last:?}"
    );
}

fn vars(map: &VarMap) -> Vec<(String, candle_core::Var)> {
    map.data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn seeded(shape: &[usize], seed: u64, dev: &Device) -> Tensor {
    use rand_distr::Distribution;
    let mut r = rng(seed);
    let n = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|_| rand_distr::StandardNormal.sample(&mut r))
        .collect();
    Tensor::from_vec(v, shape, dev).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// What training optimises must be what gets saved: the VAE reloaded from its saved weights
/// computes exactly what the in-memory model computed after the steps, and the steps changed
/// it. (A layer that copies its weights at construction trains a stale copy and fails here.)
#[test]
fn trained_vae_reloads_to_the_model_that_was_trained() {
    let dev = Device::Cpu;
    let cfg = showo::train::tiny::tiny_vae_config();
    let map = VarMap::new();
    let vae = WanVae::new(&cfg, VarBuilder::from_varmap(&map, DType::F32, &dev)).unwrap();
    let x = (seeded(&[2, 3, 1, 16, 16], 7, &dev) * 0.5).unwrap();
    let before = vae
        .decode_unclamped(&vae.encode_detailed(&x).unwrap().mu_raw)
        .unwrap();
    let mut opt = AdamW::new(vars(&map), 0.0).unwrap();
    for _ in 0..3 {
        let recon = vae
            .decode_unclamped(&vae.encode_detailed(&x).unwrap().mu_raw)
            .unwrap();
        let loss = (recon - &x).unwrap().abs().unwrap().mean_all().unwrap();
        let grads = loss.backward().unwrap();
        opt.apply(&grads, 1e-2).unwrap();
    }
    let after = vae
        .decode_unclamped(&vae.encode_detailed(&x).unwrap().mu_raw)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vae.safetensors");
    map.save(&file).unwrap();
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&file], DType::F32, &dev).unwrap() };
    let reloaded = WanVae::new(&cfg, vb).unwrap();
    let again = reloaded
        .decode_unclamped(&reloaded.encode_detailed(&x).unwrap().mu_raw)
        .unwrap();
    let changed = max_diff(&before, &after);
    let drift = max_diff(&after, &again);
    eprintln!("VAE output changed by {changed:.3e} in training; reload differs by {drift:.3e}");
    assert!(
        changed > 1e-3,
        "training did not change the VAE ({changed})"
    );
    assert!(
        drift < 1e-5,
        "reloaded VAE differs from the trained one by {drift}"
    );
}

/// The same for the unified model: a flow-loss step, save, reload, identical velocity.
#[test]
fn trained_showo2_reloads_to_the_model_that_was_trained() {
    let dev = Device::Cpu;
    let (map, model) = fresh_showo2(&dev);
    let t2i: Vec<T2iExample> = (0..2)
        .map(|i| T2iExample {
            latent: seeded(&[16, 8, 8], 40 + i, &dev),
            caption: vec![1 + i as u32, 10],
            weight: None,
            shares_noise_with_previous: false,
            noise: None,
        })
        .collect();
    let mut opt = AdamW::new(vars(&map), 0.0).unwrap();
    for _ in 0..3 {
        let loss = flow_loss(&model, &t2i, IDS, &mut rng(1)).unwrap();
        let grads = loss.backward().unwrap();
        opt.apply(&grads, 1e-2).unwrap();
    }
    let velocity = |m: &Showo2| {
        // The loss at fixed noise and times is a deterministic function of the weights.
        flow_loss(m, &t2i, IDS, &mut rng(2))
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    let trained = velocity(&model);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("model.safetensors");
    map.save(&file).unwrap();
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&file], DType::F32, &dev).unwrap() };
    let reloaded = Showo2::new(&tiny_showo2_config(64), vb).unwrap();
    let again = velocity(&reloaded);
    eprintln!("flow loss of the trained model {trained:.6}, reloaded {again:.6}");
    assert!(
        (trained - again).abs() < 1e-4 * trained.abs().max(1.0),
        "reloaded model differs: {trained} vs {again}"
    );
}

/// The whole `train-tiny` command at toy sizes: all five phases run and leave a loadable
/// checkpoint; phases 3 and 4 change the decoder and not one encoder weight (phase 2 trained on
/// the encoder's latents); a second run on the same folder resumes to exactly the same files,
/// and a fresh run in another folder writes them again byte for byte.
#[test]
fn train_tiny_runs_every_phase_and_resumes() {
    use showo::train::tiny::{TrainOptions, run};
    let dir = tempfile::tempdir().unwrap();
    let mut opts = TrainOptions::new(dir.path().to_path_buf());
    (
        opts.vae_steps,
        opts.steps,
        opts.decoder_steps,
        opts.polish_steps,
    ) = (2, 2, 2, 2);
    // And the optional sharpening against a critic (phase 5) and redrawing (phase 6), so
    // their resumes are checked too. A toy model draws nothing the world could redraw, so
    // phase 6 finds its bank already in the folder (the bank's sampling is tested on the
    // built-in model, `tests/builtin_model.rs`).
    opts.sharpen_steps = 2;
    (opts.redraw_steps, opts.redraw_batch) = (2, 2);
    place_redraw_bank(dir.path());
    (
        opts.vae_batch,
        opts.t2i_batch,
        opts.qa_batch,
        opts.clip_batch,
    ) = (2, 2, 1, 1);
    opts.checkpoint_every = 1;
    // With the VAE's auxiliary kind head, whatever the default recipe says.
    opts.vae_kind_weight = 0.1;
    let mut phases = Vec::new();
    // The folder as a run stopped in the middle of phase 3 leaves it: the progress of its
    // second step comes before that step's checkpoint, so the first step's is on disk.
    let interrupted = tempfile::tempdir().unwrap();
    run(&opts, &mut |p: &str,
                     step: usize,
                     _: usize,
                     _: &[(&str, f64)]| {
        if phases.last().is_none_or(|l: &String| l != p) {
            phases.push(p.to_string());
        }
        if p == "decoder" && step == 2 {
            copy_folder(dir.path(), interrupted.path());
        }
    })
    .unwrap();
    assert_eq!(
        phases,
        ["vae", "unified", "decoder", "polish", "sharpen", "redraw"]
    );
    let out = dir.path();
    for file in [
        "model.safetensors",
        "vae.safetensors",
        "preview_map.json",
        "curves.png",
    ] {
        assert!(out.join(file).exists(), "{file} missing");
    }
    let csv = std::fs::read_to_string(out.join("curves.csv")).unwrap();
    assert!(
        csv.contains("decoder_l1")
            && csv.contains("decoder_predicted_l1")
            && csv.contains("polish_l1")
            && csv.contains("sharpen_fooling")
            && csv.contains("sharpen_critic")
            && csv.contains("redraw_redrawn_l1"),
        "{csv}"
    );
    // The critic has its own checkpoint and never ships in the VAE.
    assert!(out.join("vae_sharpen_critic.ckpt.safetensors").exists());
    let shipped =
        candle_core::safetensors::load(out.join("vae.safetensors"), &Device::Cpu).unwrap();
    assert!(shipped.keys().all(|k| !k.starts_with("critic.")));

    let dev = Device::Cpu;
    let load = |f: &str| candle_core::safetensors::load(out.join(f), &dev).unwrap();
    let (phase1, last) = (load("vae.ckpt.safetensors"), load("vae.safetensors"));
    let (mut encoder_same, mut decoder_changed, mut kind_head) = (0, 0, 0);
    for (name, before) in &phase1 {
        // Phase 1's auxiliary kind head trains with the VAE and is not part of it.
        if name.starts_with("kind_head.") {
            assert!(
                !last.contains_key(name),
                "{name} shipped in vae.safetensors"
            );
            kind_head += 1;
            continue;
        }
        let diff = max_diff(before, &last[name]);
        if name.starts_with("encoder.") || name.starts_with("conv1.") {
            assert_eq!(diff, 0.0, "phase 3 or 4 changed {name}");
            encoder_same += 1;
        } else if diff > 0.0 {
            decoder_changed += 1;
        }
    }
    assert!(
        encoder_same > 10 && decoder_changed > 10,
        "{encoder_same} {decoder_changed}"
    );
    assert_eq!(
        kind_head, 2,
        "the kind head's weight and bias in phase 1's checkpoint"
    );
    assert!(csv.contains("vae_kind_ce"), "{csv}");
    showo::pipeline::Pipeline::load(out, &dev, DType::F32).unwrap();

    let names = ["model.safetensors", "vae.safetensors", "preview_map.json"];
    let files = |dir: &std::path::Path| -> Vec<Vec<u8>> {
        names
            .iter()
            .map(|n| std::fs::read(dir.join(n)).unwrap())
            .collect()
    };
    let first = files(out);
    run(&opts, &mut |_: &str,
                     _: usize,
                     _: usize,
                     _: &[(&str, f64)]| {})
    .unwrap();
    assert!(
        first == files(out),
        "a resumed run changed a finished model"
    );

    // A second run from scratch in another folder: the same bytes (initial weights are drawn
    // from the run's seed, not from the thread RNG candle's VarMap uses).
    let other = tempfile::tempdir().unwrap();
    place_redraw_bank(other.path());
    let mut again = opts.clone();
    again.out = other.path().to_path_buf();
    run(&again, &mut |_: &str,
                      _: usize,
                      _: usize,
                      _: &[(&str, f64)]| {})
    .unwrap();
    for ((name, a), b) in names.iter().zip(&first).zip(files(other.path())) {
        assert!(
            *a == b,
            "two fresh runs with one seed wrote different {name}"
        );
    }

    // The run stopped after phase 3's first step goes on to the same bytes: every step of the
    // decoder phases draws from its own random streams, not from one the stopped run had
    // advanced.
    run(
        &TrainOptions {
            out: interrupted.path().to_path_buf(),
            ..opts.clone()
        },
        &mut |_: &str, _: usize, _: usize, _: &[(&str, f64)]| {},
    )
    .unwrap();
    for ((name, a), b) in names.iter().zip(&first).zip(files(interrupted.path())) {
        assert!(
            *a == b,
            "a run resumed in the middle of phase 3 wrote different {name}"
        );
    }
}

/// Copies the files of folder `from` into folder `to`.
fn copy_folder(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// A redraw bank (see `train::redraw`) of three seeded latents and world pictures in `dir`.
fn place_redraw_bank(dir: &std::path::Path) {
    use showo::tiny::world::Scene;
    let dev = Device::Cpu;
    let latents = seeded(&[3, 16, 1, 8, 8], 7, &dev);
    let bytes: Vec<u8> = (0..3)
        .flat_map(|seed| {
            let picture = Scene::generate(seed).render(64);
            (0..3)
                .flat_map(|c| picture.pixels().map(move |p| p.0[c]).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        })
        .collect();
    let targets = Tensor::from_vec(bytes, (3, 3, 64, 64), &dev).unwrap();
    let tensors: std::collections::HashMap<_, _> = [("latents", latents), ("targets", targets)]
        .into_iter()
        .collect();
    candle_core::safetensors::save(&tensors, dir.join(showo::train::redraw::BANK_FILE)).unwrap();
}

/// Settings a run cannot honour (a clip grid or frame count a frame cannot give, a weight
/// average outside [0, 1), sharpening with no weight or no predictions, redrawing with no
/// bank) are refused before anything is written, naming the setting and what
/// it may be.
#[test]
fn train_tiny_refuses_settings_it_cannot_honour() {
    use showo::train::tiny::{TrainOptions, run};
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let cases: [(usize, usize, usize, f64, &str); 5] = [
        (1, 9, 3, 0.0, "clip_grid 9: expected 1..=8"),
        (2, 8, 3, 0.0, "clip_grid 8: expected 1..=4"),
        (1, 8, 1, 0.0, "clip_frames_seen 1: expected at least 2"),
        (1, 4, 5, 1.0, "ema_decay 1: expected a decay in [0, 1)"),
        (1, 4, 5, -0.5, "ema_decay -0.5: expected a decay in [0, 1)"),
    ];
    // Refused before anything is written, with a message containing `expected`.
    let refused = |opts: &TrainOptions, expected: &str| {
        let err =
            run(opts, &mut |_: &str,
                            _: usize,
                            _: usize,
                            _: &[(&str, f64)]| {})
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{err}");
        assert!(!out.exists(), "a refused run wrote {}", out.display());
    };
    for (patch, grid, frames, ema, expected) in cases {
        let mut opts = TrainOptions::new(out.clone());
        (opts.patch_size, opts.clip_grid, opts.clip_frames_seen) = (patch, grid, frames);
        opts.ema_decay = ema;
        refused(&opts, expected);
    }
    // Sharpening with nothing for the critic to judge.
    for (weight, flow_batch) in [(0.0, 4), (0.1, 0)] {
        let mut opts = TrainOptions::new(out.clone());
        (opts.sharpen_steps, opts.sharpen_weight) = (5, weight);
        opts.decoder_flow_batch = flow_batch;
        refused(&opts, "sharpen_steps 5 with sharpen_weight");
    }
    // Redrawing with no bank to draw from or nothing of it a step.
    for (pictures, batch) in [(0, 8), (1600, 0)] {
        let mut opts = TrainOptions::new(out.clone());
        (opts.redraw_steps, opts.redraw_pictures, opts.redraw_batch) = (5, pictures, batch);
        refused(&opts, "redraw_steps 5 with redraw_pictures");
    }
    for (share, focus) in [(0.0, 0.0), (1.0, -1.0)] {
        let mut opts = TrainOptions::new(out.clone());
        (opts.redraw_steps, opts.redraw_lr_share, opts.redraw_focus) = (5, share, focus);
        refused(&opts, "expected a learning-rate share above 0");
    }
}

/// The shape-weighted flow loss: uniform weights give exactly the plain loss; weights that
/// favour one cell make that cell's error count more.
#[test]
fn shape_weighted_flow_loss() {
    use showo::train::unified::shape_cell_weights;
    // A 16x16 picture on a 4x4 grid (cells of 4 px): one shape pixel block in cell (1, 2).
    let side = 16;
    let mut is_shape = vec![false; side * side];
    for y in 4..8 {
        for x in 8..12 {
            is_shape[y * side + x] = true;
        }
    }
    let w = shape_cell_weights(&is_shape, side, 4, 4.0);
    assert_eq!(w.len(), 16);
    assert_eq!(w[4 + 2], 5.0, "a covered cell takes the full extra weight");
    assert_eq!(w[0], 1.0, "a far cell keeps weight 1");
    assert_eq!(w[15], 1.0);
    // A neighbour's grown window (one pixel into the shape) sees a little of it.
    assert!(w[4 + 1] > 1.0 && w[4 + 1] < 5.0, "{}", w[4 + 1]);

    let dev = Device::Cpu;
    let (_map, model) = fresh_showo2(&dev);
    let example = |weight: Option<Tensor>| T2iExample {
        latent: Tensor::ones((16, 8, 8), DType::F32, &dev).unwrap(),
        caption: vec![3, 4],
        weight,
        shares_noise_with_previous: false,
        noise: None,
    };
    let loss = |weight: Option<Tensor>| {
        let batch = [example(weight)];
        flow_loss(&model, &batch, IDS, &mut rng(7))
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    let plain = loss(None);
    let uniform = loss(Some(Tensor::full(3f32, (8, 8), &dev).unwrap()));
    assert!(
        (plain - uniform).abs() < 1e-6 * plain,
        "{plain} vs {uniform}"
    );
    let mut one_cell = vec![1f32; 64];
    one_cell[0] = 50.0;
    let skewed = loss(Some(Tensor::from_vec(one_cell, (8, 8), &dev).unwrap()));
    assert!(
        (skewed - plain).abs() > 1e-4 * plain,
        "weights changed nothing"
    );
}

/// A row that shares its predecessor's noise and time: the same example twice, shared, is
/// exactly one example's loss (identical rows), and unshared it is not (fresh noise).
#[test]
fn twin_rows_share_noise_and_time() {
    let dev = Device::Cpu;
    let (_map, model) = fresh_showo2(&dev);
    let example = |shares: bool| T2iExample {
        latent: seeded(&[16, 8, 8], 3, &dev),
        caption: vec![3, 4],
        weight: None,
        shares_noise_with_previous: shares,
        noise: None,
    };
    let loss = |batch: &[T2iExample]| {
        flow_loss(&model, batch, IDS, &mut rng(11))
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    let single = loss(&[example(false)]);
    let shared = loss(&[example(false), example(true)]);
    let fresh = loss(&[example(false), example(false)]);
    assert!(
        (single - shared).abs() < 1e-6 * single,
        "{single} vs {shared}"
    );
    assert!(
        (single - fresh).abs() > 1e-4 * single,
        "independent rows drew the same noise"
    );
}

/// A reflow row starts from its own noise: the noise the stream would have drawn gives exactly
/// the fresh row's loss, other noise another loss, and the row after it still sees the stream
/// it would have seen.
#[test]
fn reflow_rows_start_from_their_own_noise() {
    use rand_distr::{Distribution, StandardNormal};
    let dev = Device::Cpu;
    let (_map, model) = fresh_showo2(&dev);
    let example = |noise: Option<Tensor>| T2iExample {
        latent: seeded(&[16, 8, 8], 3, &dev),
        caption: vec![3, 4],
        weight: None,
        shares_noise_with_previous: false,
        noise,
    };
    let loss = |batch: &[T2iExample]| {
        flow_loss(&model, batch, IDS, &mut rng(11))
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    let mut stream = rng(11);
    let drawn: Vec<f32> = (0..16 * 64)
        .map(|_| StandardNormal.sample(&mut stream))
        .collect();
    let drawn = Tensor::from_vec(drawn, (16, 8, 8), &dev).unwrap();
    let fresh = loss(&[example(None)]);
    let given = loss(&[example(Some(drawn.clone()))]);
    assert!((fresh - given).abs() < 1e-6 * fresh, "{fresh} vs {given}");
    let other = loss(&[example(Some(seeded(&[16, 8, 8], 9, &dev)))]);
    assert!(
        (fresh - other).abs() > 1e-4 * fresh,
        "the given noise was ignored"
    );
    // In a pair, the first row given the noise it would have drawn leaves the pair's loss
    // exactly as it was: the second row still draws from where the stream would be.
    let pair_fresh = loss(&[example(None), example(None)]);
    let pair_given = loss(&[example(Some(drawn.clone())), example(None)]);
    assert!(
        (pair_fresh - pair_given).abs() < 1e-6 * pair_fresh,
        "{pair_fresh} vs {pair_given}"
    );
}

#[test]
fn twin_difference_weight_marks_the_cells_where_twins_differ() {
    let dev = Device::Cpu;
    let a = seeded(&[16, 4, 4], 5, &dev);
    // The twin differs from the original in cell (1, 2) strongly and in (3, 0) weakly.
    let mut delta = vec![0f32; 16 * 4 * 4];
    for c in 0..16 {
        delta[c * 16 + 4 + 2] = 2.0;
        delta[c * 16 + 12] = -0.5;
    }
    let b = (&a + Tensor::from_vec(delta, (16, 4, 4), &dev).unwrap()).unwrap();
    let w = twin_difference_weight(&a, &b, 12.0)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    assert!((w[1][2] - 12.0).abs() < 1e-4, "{w:?}");
    assert!((w[3][0] - 3.0).abs() < 1e-4, "{w:?}");
    let others: f32 = w.iter().flatten().sum::<f32>() - w[1][2] - w[3][0];
    assert!(others.abs() < 1e-4, "{w:?}");
    let same = twin_difference_weight(&a, &a, 12.0).unwrap();
    assert_eq!(same.sum_all().unwrap().to_scalar::<f32>().unwrap(), 0.0);
}
