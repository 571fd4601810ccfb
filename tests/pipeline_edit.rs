//! Inpainting and extension through `Pipeline` on the small model: kept pixels stay exactly
//! the input's, and bad inputs are named.

#[path = "support/small_model.rs"]
mod small_model;

use image::{GrayImage, Luma};
use showo::media::{self, Growth, MediaError};
use showo::pipeline::generate::Control;
use showo::pipeline::{ExtendRequest, GenerateRequest, InpaintRequest, PipelineError, Side};
use small_model::{small_pipeline, test_picture};

fn base(prompt: &str, seed: u64) -> GenerateRequest {
    GenerateRequest {
        prompt: prompt.into(),
        seed,
        steps: 3,
        ..Default::default()
    }
}

fn rect_mask(w: u32, h: u32, x0: u32, y0: u32, x1: u32, y1: u32) -> GrayImage {
    GrayImage::from_fn(w, h, |x, y| {
        Luma([if (x0..x1).contains(&x) && (y0..y1).contains(&y) {
            255
        } else {
            0
        }])
    })
}

#[test]
fn inpaint_keeps_every_pixel_outside_the_feathered_mask() {
    let Some((pipe, _tmp)) = small_pipeline() else {
        return;
    };
    // Off-grid size on purpose: the pipeline pads to 16 px and crops back.
    let (w, h) = (70, 58);
    let image = test_picture(w, h);
    let mask = rect_mask(w, h, 20, 10, 45, 30);
    for (feather, resample) in [(6.0, 0), (0.0, 1)] {
        let mut req = InpaintRequest::new(base("a blue circle", 4), image.clone(), mask.clone());
        req.feather_px = feather;
        req.resample = resample;
        let out = Control::none(|c| pipe.inpaint(&req, c)).unwrap();
        assert_eq!(out.image.dimensions(), (w, h));
        let alpha = media::feather(&mask, feather);
        let mut kept = 0;
        let mut changed = 0;
        for (x, y, p) in out.image.enumerate_pixels() {
            if alpha.get(x, y) == 0.0 {
                assert_eq!(p, image.get_pixel(x, y), "pixel ({x},{y}) outside the mask");
                kept += 1;
            } else if p != image.get_pixel(x, y) {
                changed += 1;
            }
        }
        assert!(kept > (w * h / 2) as usize);
        assert!(
            changed > 100,
            "the masked region was regenerated ({changed} px changed)"
        );
        let info = out.params.mask.expect("mask metadata");
        assert_eq!(info.feather_px, feather);
        assert_eq!(info.dilate_cells, 1);
        assert_known_latent_kept(&pipe, &image, &mask, &out.latent);
    }
}

/// The input's latent as the pipeline encodes it, and the latent cells (dilated by `dilate`)
/// under `mask`, on the 16-px padded canvas.
fn encoded_with_cells(
    pipe: &showo::pipeline::Pipeline,
    image: &image::RgbImage,
    mask: &GrayImage,
    dilate: u32,
) -> (candle_core::Tensor, GrayImage) {
    let (w, h) = image.dimensions();
    let plan = media::plan_canvas_extension(w, h, Growth::default(), 16).unwrap();
    let canvas = media::place_on_canvas(image, &plan, media::CanvasFill::ReplicateEdge).unwrap();
    let chw = media::rgb_to_chw(&canvas);
    let pixels = candle_core::Tensor::from_vec(
        chw.data,
        (1, 3, chw.height, chw.width),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let known = pipe.vae.encode(&pixels).unwrap();
    let mask_canvas = GrayImage::from_fn(plan.canvas_width, plan.canvas_height, |x, y| {
        let (ox, oy) = (x.wrapping_sub(plan.offset_x), y.wrapping_sub(plan.offset_y));
        if ox < w && oy < h {
            *mask.get_pixel(ox, oy)
        } else {
            Luma([0])
        }
    });
    let cells = media::dilate(&media::downsample_max(&mask_canvas, 8), dilate);
    (known, cells)
}

/// Latent blending ends at t = 1 on exactly the encoded input outside the dilated latent mask.
fn assert_known_latent_kept(
    pipe: &showo::pipeline::Pipeline,
    image: &image::RgbImage,
    mask: &GrayImage,
    latent: &candle_core::Tensor,
) {
    let (known, cells) = encoded_with_cells(pipe, image, mask, 1);
    let (c, lh, lw) = known.squeeze(0).unwrap().dims3().unwrap();
    let k = known.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let l = latent.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let mut kept = 0;
    for ch in 0..c {
        for y in 0..lh {
            for x in 0..lw {
                if cells.get_pixel(x as u32, y as u32)[0] == 0 {
                    let i = (ch * lh + y) * lw + x;
                    assert_eq!(l[i].to_bits(), k[i].to_bits(), "latent ({ch},{y},{x})");
                    kept += 1;
                }
            }
        }
    }
    assert!(kept > 0);
}

#[test]
fn inpaint_is_reproducible() {
    let Some((pipe, _tmp)) = small_pipeline() else {
        return;
    };
    let image = test_picture(64, 64);
    let req = InpaintRequest::new(
        base("a red square", 8),
        image.clone(),
        rect_mask(64, 64, 0, 0, 32, 64),
    );
    let a = Control::none(|c| pipe.inpaint(&req, c)).unwrap();
    let b = Control::none(|c| pipe.inpaint(&req, c)).unwrap();
    assert_eq!(a.image, b.image);
}

#[test]
fn inpaint_input_errors_name_the_problem() {
    let Some((pipe, _tmp)) = small_pipeline() else {
        return;
    };
    let image = test_picture(64, 64);
    let run = |req: InpaintRequest| Control::none(|c| pipe.inpaint(&req, c)).unwrap_err();
    let err = run(InpaintRequest::new(
        base("a", 1),
        image.clone(),
        rect_mask(32, 64, 0, 0, 8, 8),
    ));
    assert!(
        matches!(
            err,
            PipelineError::Media(MediaError::MaskSizeMismatch { .. })
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("32x64") && text.contains("64x64"), "{text}");
    let err = run(InpaintRequest::new(
        base("a", 1),
        image::RgbImage::new(0, 0),
        GrayImage::new(0, 0),
    ));
    assert!(err.to_string().contains("0x0"), "{err}");
    let err = run(InpaintRequest::new(
        base("a", 1),
        image.clone(),
        GrayImage::new(64, 64),
    ));
    assert!(err.to_string().contains("mask"), "{err}");
    let err = run(InpaintRequest::new(
        base("", 1),
        image,
        rect_mask(64, 64, 0, 0, 8, 8),
    ));
    assert!(matches!(err, PipelineError::EmptyPrompt));

    // A corrupt PNG is refused by the loader with the file named.
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("broken.png");
    let mut bytes =
        media::encode_png_with_metadata(&test_picture(8, 8), &Default::default(), "x").unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&bad, &bytes).unwrap();
    let err = media::load_rgb(&bad).unwrap_err().to_string();
    assert!(err.contains("broken.png"), "{err}");
}

#[test]
fn extension_keeps_the_original_at_its_new_offset() {
    let Some((pipe, _tmp)) = small_pipeline() else {
        return;
    };
    let (w, h) = (48, 40);
    let image = test_picture(w, h);
    let growth = Growth {
        left: 10,
        right: 0,
        top: 5,
        bottom: 20,
    };
    let req = ExtendRequest::new(base("a green sky", 2), image.clone(), growth);
    let out = Control::none(|c| pipe.extend(&req, c)).unwrap();
    let plan = media::plan_canvas_extension(w, h, growth, 16).unwrap();
    assert_eq!(
        out.image.dimensions(),
        (plan.canvas_width, plan.canvas_height)
    );
    assert_eq!(plan.canvas_width % 16, 0);
    assert_eq!(plan.canvas_height % 16, 0);
    assert!(plan.growth.left >= 10 && plan.growth.top >= 5 && plan.growth.bottom >= 20);
    for (x, y, p) in image.enumerate_pixels() {
        assert_eq!(
            out.image.get_pixel(x + plan.offset_x, y + plan.offset_y),
            p,
            "original pixel ({x},{y})"
        );
    }
    assert_eq!(out.params.extension, Some(plan.growth));
    assert_eq!(out.params.width, plan.canvas_width);
}

#[test]
fn per_side_prompts_run_as_successive_extensions() {
    let Some((pipe, _tmp)) = small_pipeline() else {
        return;
    };
    let image = test_picture(32, 32);
    let out = Control::none(|c| {
        pipe.extend_sides(
            &base("a sky", 3),
            &image,
            &[
                (Side::Left, 16, Some("a red circle".into())),
                (Side::Bottom, 16, None),
            ],
            (0, 1.0),
            c,
        )
    })
    .unwrap();
    assert_eq!(out.image.dimensions(), (48, 48));
    for (x, y, p) in image.enumerate_pixels() {
        assert_eq!(out.image.get_pixel(x + 16, y), p);
    }
    assert_eq!(
        out.params.extension,
        Some(Growth {
            left: 16,
            right: 0,
            top: 0,
            bottom: 16
        })
    );
    assert_eq!(out.params.prompt, "a sky");

    // The edit history exports as a GIF on the largest canvas, one frame per version.
    let tmp = tempfile::tempdir().unwrap();
    let gif = tmp.path().join("history.gif");
    let frames = showo::pipeline::export::history_frames(&[image.clone(), out.image.clone()], 400);
    media::save_gif(&gif, &frames, media::GifRepeat::Forever).unwrap();
    let decoded = image::codecs::gif::GifDecoder::new(std::io::BufReader::new(
        std::fs::File::open(&gif).unwrap(),
    ))
    .unwrap();
    use image::AnimationDecoder;
    let decoded = decoded.into_frames().collect_frames().unwrap();
    assert_eq!(decoded.len(), 2);
    assert!(decoded.iter().all(|f| f.buffer().dimensions() == (48, 48)));
    let err = Control::none(|c| {
        pipe.extend(
            &ExtendRequest::new(base("a", 1), image.clone(), Growth::default()),
            c,
        )
    })
    .unwrap_err();
    assert!(err.to_string().contains("--left"), "{err}");
}

/// Mean absolute difference between the result's latent and the input's encoded latent over
/// the latent cells under the mask (the tiny golden VAE is random, so pixels would only measure
/// its own round trip).
fn masked_latent_difference(
    pipe: &showo::pipeline::Pipeline,
    image: &image::RgbImage,
    mask: &GrayImage,
    latent: &candle_core::Tensor,
) -> f64 {
    let (known, cells) = encoded_with_cells(pipe, image, mask, 0);
    let (c, lh, lw) = known.squeeze(0).unwrap().dims3().unwrap();
    let k = known.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let l = latent.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let (mut sum, mut n) = (0.0, 0usize);
    for ch in 0..c {
        for y in 0..lh {
            for x in 0..lw {
                if cells.get_pixel(x as u32, y as u32)[0] > 0 {
                    let i = (ch * lh + y) * lw + x;
                    sum += (l[i] - k[i]).abs() as f64;
                    n += 1;
                }
            }
        }
    }
    assert!(n > 0, "the mask covers some latent cells");
    sum / n as f64
}

#[test]
fn lower_strength_keeps_more_of_what_is_under_the_mask() {
    let Some((pipe, _tmp)) = small_pipeline() else {
        return;
    };
    let image = test_picture(64, 64);
    let mask = rect_mask(64, 64, 16, 16, 48, 48);
    let run = |strength: f32| {
        let mut req = InpaintRequest::new(base("a blue circle", 3), image.clone(), mask.clone());
        req.feather_px = 0.0;
        req.strength = strength;
        Control::none(|c| pipe.inpaint(&req, c)).unwrap()
    };
    let full = run(1.0);
    let light = run(0.05);
    let (far, near) = (
        masked_latent_difference(&pipe, &image, &mask, &full.latent),
        masked_latent_difference(&pipe, &image, &mask, &light.latent),
    );
    assert!(
        near < far * 0.5,
        "strength 0.05 stays near the original ({near:.1} vs {far:.1} at strength 1)"
    );
    assert_eq!(light.params.mask.unwrap().strength, Some(0.05));

    for bad in [0.0, -0.5, 1.5, f32::NAN] {
        let mut req = InpaintRequest::new(base("a", 1), image.clone(), mask.clone());
        req.strength = bad;
        let err = Control::none(|c| pipe.inpaint(&req, c))
            .unwrap_err()
            .to_string();
        assert!(err.contains("strength"), "{bad}: {err}");
        let mut req = ExtendRequest::new(
            base("a", 1),
            image.clone(),
            Growth {
                left: 16,
                right: 0,
                top: 0,
                bottom: 0,
            },
        );
        req.strength = bad;
        let err = Control::none(|c| pipe.extend(&req, c))
            .unwrap_err()
            .to_string();
        assert!(err.contains("strength"), "{bad}: {err}");
    }
}
