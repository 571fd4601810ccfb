//! Scratch: unified-step time vs batch sizes (steady state, random data).
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use showo::model::Showo2;
use showo::train::optim::AdamW;
use showo::train::spec::tiny_showo2_config;
use showo::train::unified::{LayoutIds, QaExample, T2iExample, answer_loss, flow_loss, rng};
use std::time::Instant;

fn main() {
    let dev = Device::Cpu;
    let cfg = tiny_showo2_config(95);
    let map = VarMap::new();
    let model = Showo2::new(&cfg, VarBuilder::from_varmap(&map, DType::F32, &dev)).unwrap();
    let vars: Vec<_> = map
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut opt = AdamW::new(vars, 0.01).unwrap();
    let ids = LayoutIds {
        bos: 50,
        eos: 51,
        boi: 52,
        eoi: 53,
        img_pad: 54,
        pad: 55,
    };
    let lat = |n: usize| Tensor::randn(0f32, 1.0, (n, 16, 8, 8), &dev).unwrap();
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let (bt, bq, bc) = (args[0], args[1], args[2]);
    let t2i: Vec<T2iExample> = (0..bt)
        .map(|i| T2iExample {
            latent: lat(1).squeeze(0).unwrap(),
            caption: vec![1 + (i % 40) as u32; 12],
        })
        .collect();
    let before: Vec<u32> = vec![50, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 52];
    let img: Vec<QaExample> = (0..bq)
        .map(|_| QaExample {
            before: before.clone(),
            visual: lat(1),
            after: vec![53, 4, 5, 6, 7, 8, 9, 10, 11, 12],
            answer: vec![20, 51],
        })
        .collect();
    let clip: Vec<QaExample> = (0..bc)
        .map(|_| QaExample {
            before: before.clone(),
            visual: lat(5),
            after: vec![53, 4, 5, 6, 7, 8, 9, 10, 11, 12],
            answer: vec![20, 51],
        })
        .collect();
    let mut joint: Vec<QaExample> = Vec::new();
    for e in img.iter().chain(clip.iter()) {
        joint.push(QaExample {
            before: e.before.clone(),
            visual: e.visual.clone(),
            after: e.after.clone(),
            answer: e.answer.clone(),
        });
    }
    let mut r = rng(0);
    for mode in ["flow", "img", "clip", "joint"] {
        let mut tot = 0.0;
        for k in 0..6 {
            let t0 = Instant::now();
            let loss = match mode {
                "flow" => flow_loss(&model, &t2i, ids, &mut r).unwrap(),
                "img" => answer_loss(&model, &img, ids, 4).unwrap().0,
                "clip" => answer_loss(&model, &clip, ids, 4).unwrap().0,
                _ => answer_loss(&model, &joint, ids, 4).unwrap().0,
            };
            let mut g = loss.backward().unwrap();
            opt.clip(&mut g, 1.0).unwrap();
            opt.apply(&g, 1e-4).unwrap();
            if k >= 2 {
                tot += t0.elapsed().as_secs_f64();
            }
        }
        println!(
            "{mode}: {:.1} ms/step (t2i {bt}, img {bq}, clip {bc})",
            tot / 4.0 * 1e3
        );
    }
}
