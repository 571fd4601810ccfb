//! Scratch: how well the VAE round trip keeps the checker's verdicts (48+ held-out pictures).
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use image::RgbImage;
use showo::model::vae::{VaeConfig, WanVae};
use showo::tiny::checker::judge;
use showo::tiny::dataset::{WorldDataset, image_to_chw};

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap());
    let n: u64 = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(96);
    let sigma: f64 = std::env::args()
        .nth(3)
        .map(|s| s.parse().unwrap())
        .unwrap_or(0.0);
    let dev = Device::Cpu;
    let cfg = VaeConfig::from_json_file(dir.join("vae_config.json")).unwrap();
    let vb = unsafe {
        VarBuilder::from_mmaped_safetensors(&[dir.join("vae.safetensors")], DType::F32, &dev)
            .unwrap()
    };
    let vae = WanVae::new(&cfg, vb).unwrap();
    let data = WorldDataset::held_out(64, 9).unwrap();
    let (mut shape, mut colour, mut pos, mut gt) = (0, 0, 0, 0);
    let mut fails = std::collections::HashMap::new();
    let mut pairs: Vec<(RgbImage, RgbImage)> = Vec::new();
    for i in 0..n {
        let (scene, img) = data.image(i);
        gt += judge(&img, &scene.shapes).shape as usize;
        let x = Tensor::from_vec(image_to_chw(&img), (1, 3, 1, 64, 64), &dev).unwrap();
        let z = vae.sample_deterministic(&x).unwrap();
        let z = if sigma > 0.0 {
            use rand::SeedableRng;
            use rand_distr::Distribution;
            let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(i);
            let noise: Vec<f32> = (0..z.elem_count())
                .map(|_| rand_distr::StandardNormal.sample(&mut r))
                .collect();
            (&z + (Tensor::from_vec(noise, z.shape(), &dev).unwrap() * sigma).unwrap()).unwrap()
        } else {
            z
        };
        let y = vae
            .decode(&z)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .squeeze(1)
            .unwrap(); // (3,H,W)
        let v: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
        let mut out = RgbImage::new(64, 64);
        for yy in 0..64 {
            for xx in 0..64 {
                for c in 0..3 {
                    out.get_pixel_mut(xx, yy).0[c] =
                        (((v[c * 4096 + (yy * 64 + xx) as usize] + 1.0) * 127.5)
                            .round()
                            .clamp(0.0, 255.0)) as u8;
                }
            }
        }
        let j = judge(&out, &scene.shapes);
        shape += j.shape as usize;
        colour += j.colour as usize;
        pos += j.position as usize;
        if !j.shape {
            for s in &scene.shapes {
                *fails
                    .entry(format!("{:?} {:?}", s.size, s.kind))
                    .or_insert(0) += 1;
            }
            if pairs.len() < 8 {
                pairs.push((img.clone(), out.clone()));
            }
        }
    }
    let mut grid = RgbImage::new(8 * 66 * 3, 2 * 66 * 3);
    for (k, (a, b)) in pairs.iter().enumerate() {
        for (row, im) in [a, b].into_iter().enumerate() {
            let big = image::imageops::resize(im, 192, 192, image::imageops::FilterType::Nearest);
            image::imageops::replace(&mut grid, &big, (k * 198) as i64, (row * 198) as i64);
        }
    }
    grid.save("/tmp/vp_grid.png").unwrap();
    println!(
        "ground truth shape {gt}/{n}; round trip shape {shape}/{n}, colour {colour}/{n}, position {pos}/{n}"
    );
    println!("shapes in failing pictures: {fails:?}");
}
