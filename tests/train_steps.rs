//! A few training steps of the unified model on fixed data: both losses must fall. Proves
//! that autograd flows through every module of the shared Show-o2 code path.

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use showo::model::Showo2;
use showo::train::optim::AdamW;
use showo::train::spec::tiny_showo2_config;
use showo::train::unified::{LayoutIds, QaExample, T2iExample, answer_loss, flow_loss, rng};

#[test]
fn losses_fall_over_a_few_steps() {
    let dev = Device::Cpu;
    let vocab = 64;
    let cfg = tiny_showo2_config(vocab);
    let map = VarMap::new();
    let model = Showo2::new(&cfg, VarBuilder::from_varmap(&map, DType::F32, &dev)).unwrap();
    let params: Vec<_> = map
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut opt = AdamW::new(params, 0.0).unwrap();
    let ids = LayoutIds {
        bos: 50,
        eos: 51,
        boi: 52,
        eoi: 53,
        img_pad: 54,
        pad: 55,
    };
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
        let f = flow_loss(&model, &t2i, ids, &mut r_fixed).unwrap();
        let (a, _) = answer_loss(&model, &qa, ids, 4).unwrap();
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
