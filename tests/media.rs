//! Integration tests for the `media` layer: files on disk, real PNG/GIF/MP4 bytes.
//!
//! MP4s are made at test time: the OpenH264 encoder (the same crate that decodes) encodes solid
//! colour frames and `support/mp4_mux.rs` wraps them in an MP4. One committed fixture made by
//! FFmpeg/x264 (see `tests/data/README.md`) covers High profile with B-frames, which OpenH264
//! cannot encode.

#[path = "support/mp4_mux.rs"]
mod mp4_mux;

use std::path::{Path, PathBuf};

use image::{AnimationDecoder, GrayImage, Luma, Rgb, RgbImage, Rgba, RgbaImage};
use mp4_mux::{MuxSample, SampleEntry, TrackSpec, mux_mp4};
use showo::media::{
    self, ExtensionInfo, GenerationMode, GenerationParams, GifFrame, GifRepeat, MaskInfo,
    MediaError, VideoSource,
};

/// Twelve clearly different colours; frame i of every test clip is `COLOURS[i]`.
const COLOURS: [[u8; 3]; 12] = [
    [230, 25, 25],
    [25, 230, 25],
    [25, 25, 230],
    [230, 230, 25],
    [25, 230, 230],
    [230, 25, 230],
    [128, 128, 128],
    [250, 250, 250],
    [10, 10, 10],
    [230, 128, 25],
    [128, 25, 230],
    [25, 128, 64],
];

fn assert_colour_close(got: [u8; 3], want: [u8; 3], what: &str) {
    for c in 0..3 {
        assert!(
            (got[c] as i32 - want[c] as i32).abs() <= 16,
            "{what}: got {got:?}, expected about {want:?}"
        );
    }
}

fn full_params() -> GenerationParams {
    GenerationParams {
        prompt: "a red circle on the left — «ünïcödé», with: punctuation".into(),
        negative_prompt: "".into(),
        seed: 18_446_744_073_709_551_000,
        steps: 25,
        guidance: 7.5,
        width: 448,
        height: 432,
        model_id: "show-o2-tiny".into(),
        model_hash: "0123456789".into(),
        mode: GenerationMode::Inpaint,
        mask: Some(MaskInfo {
            mask_hash: "e3b0c44298fc1c14".into(),
            feather_px: 8.0,
            dilate_cells: 1,
            repaint_jumps: None,
            strength: None,
        }),
        extension: Some(ExtensionInfo {
            left: 16,
            right: 0,
            top: 32,
            bottom: 0,
        }),
        time_shift: 3.0,
        eta: 1.0,
        app_version: "0.1.0".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// PNG metadata

#[test]
fn png_metadata_round_trip_restores_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let params = full_params();
    let rgb = RgbImage::from_fn(448, 432, |x, y| Rgb([x as u8, y as u8, 7]));
    let path = dir.path().join("out.png");
    media::save_png_with_metadata(&path, &rgb, &params).unwrap();
    assert_eq!(media::read_png_metadata(&path).unwrap(), params);
    assert_eq!(media::load_rgb(&path).unwrap(), rgb);

    let rgba = RgbaImage::from_pixel(4, 4, Rgba([1, 2, 3, 128]));
    let path = dir.path().join("alpha.png");
    let t2i = GenerationParams {
        mode: GenerationMode::TextToImage,
        mask: None,
        extension: None,
        ..full_params()
    };
    media::save_png_with_metadata(&path, &rgba, &t2i).unwrap();
    assert_eq!(media::read_png_metadata(&path).unwrap(), t2i);
    assert_eq!(media::load_rgba(&path).unwrap(), rgba);
}

/// Writes a PNG with only the given text chunks, as another tool would.
fn png_with_texts(path: &Path, width: u32, height: u32, texts: &[(&str, &str)]) {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    for (k, v) in texts {
        encoder
            .add_text_chunk(k.to_string(), v.to_string())
            .unwrap();
    }
    let mut writer = encoder.write_header().unwrap();
    writer
        .write_image_data(&vec![9; (width * height * 3) as usize])
        .unwrap();
    writer.finish().unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn png_metadata_falls_back_to_the_a1111_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a1111.png");
    let text = "portrait of a cat\nNegative prompt: dog\nSteps: 30, Sampler: Euler a, CFG scale: 6.5, Seed: 77, Model hash: deadbeef, Model: sd15";
    png_with_texts(&path, 24, 16, &[("parameters", text)]);
    let p = media::read_png_metadata(&path).unwrap();
    assert_eq!(p.prompt, "portrait of a cat");
    assert_eq!(p.negative_prompt, "dog");
    assert_eq!((p.steps, p.guidance, p.seed), (30, 6.5, 77));
    assert_eq!(
        (p.model_hash.as_str(), p.model_id.as_str()),
        ("deadbeef", "sd15")
    );
    // No "Size:" field: the PNG's own size is used.
    assert_eq!((p.width, p.height), (24, 16));

    // Our own infotext alone (e.g. after a tool stripped the JSON chunk) still round-trips.
    let params = full_params();
    let path = dir.path().join("infotext-only.png");
    let own = media::a1111_parameters(&params);
    let latin1: String = own.chars().filter(|c| (*c as u32) < 256).collect();
    png_with_texts(&path, 2, 2, &[("parameters", &latin1)]);
    let p = media::read_png_metadata(&path).unwrap();
    assert_eq!(
        (p.seed, p.steps, p.mode),
        (params.seed, params.steps, params.mode)
    );
    assert_eq!(p.mask, params.mask);
    assert_eq!(p.extension, params.extension);
}

#[test]
fn png_metadata_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.png");
    png_with_texts(&plain, 2, 2, &[("Software", "something")]);
    let err = media::read_png_metadata(&plain).unwrap_err();
    assert!(matches!(err, MediaError::MissingMetadata { .. }));
    assert!(err.to_string().contains("plain.png"));

    let future = dir.path().join("future.png");
    png_with_texts(
        &future,
        2,
        2,
        &[("showo-studio", r#"{"version": 7, "prompt": "x"}"#)],
    );
    let err = media::read_png_metadata(&future).unwrap_err().to_string();
    assert!(
        err.contains("future.png") && err.contains("version 7"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Image loading errors

#[test]
fn corrupt_zero_size_and_unsupported_images_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.png");
    media::save_rgb(&good, &RgbImage::from_pixel(32, 32, Rgb([1, 2, 3]))).unwrap();
    let bytes = std::fs::read(&good).unwrap();

    let truncated = dir.path().join("truncated.png");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = media::load_rgb(&truncated).unwrap_err();
    assert!(matches!(err, MediaError::CorruptImage { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("truncated.png") && msg.contains("expected a valid PNG"),
        "{msg}"
    );

    // Same bytes with a zero width in the IHDR (bytes 16..20).
    let mut zero = bytes.clone();
    zero[16..20].copy_from_slice(&0u32.to_be_bytes());
    let zero_path = dir.path().join("zero.png");
    std::fs::write(&zero_path, &zero).unwrap();
    let msg = media::load_rgb(&zero_path).unwrap_err().to_string();
    assert!(
        msg.contains("zero.png") && msg.contains("0x32") && msg.contains("at least 1x1"),
        "{msg}"
    );

    let bmp = dir.path().join("pic.bmp");
    std::fs::write(&bmp, b"BM\x3a\0\0\0\0\0\0\0\x36\0\0\0").unwrap();
    let msg = media::load_rgb(&bmp).unwrap_err().to_string();
    assert!(
        msg.contains("pic.bmp") && msg.contains("expected PNG, JPEG or GIF"),
        "{msg}"
    );

    let msg = media::load_rgb_from_bytes(b"", "clipboard")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("clipboard") && msg.contains("empty"), "{msg}");

    let missing = dir.path().join("nope.png");
    let msg = media::load_rgb(&missing).unwrap_err().to_string();
    assert!(msg.contains("nope.png"), "{msg}");
}

#[test]
fn jpeg_and_gif_first_frame_load() {
    let dir = tempfile::tempdir().unwrap();
    let jpg = dir.path().join("photo.jpg");
    media::save_rgb(&jpg, &RgbImage::from_pixel(40, 30, Rgb([200, 40, 40]))).unwrap();
    let img = media::load_rgb(&jpg).unwrap();
    assert_eq!(img.dimensions(), (40, 30));
    assert_colour_close(img.get_pixel(20, 15).0, [200, 40, 40], "jpeg");

    let gif = dir.path().join("anim.gif");
    let frames = vec![
        GifFrame::from_rgb(&RgbImage::from_pixel(10, 6, Rgb([0, 0, 250])), 100),
        GifFrame::from_rgb(&RgbImage::from_pixel(10, 6, Rgb([250, 0, 0])), 100),
    ];
    media::save_gif(&gif, &frames, GifRepeat::Forever).unwrap();
    let first = media::load_rgb(&gif).unwrap();
    assert_colour_close(first.get_pixel(5, 3).0, [0, 0, 250], "gif first frame");
}

// ---------------------------------------------------------------------------------------------
// Masks

#[test]
fn mask_file_checks_and_latent_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let mask_path = dir.path().join("mask.png");
    let mut mask = GrayImage::new(64, 48);
    for y in 10..20 {
        for x in 20..30 {
            mask.put_pixel(x, y, Luma([255]));
        }
    }
    mask.save(&mask_path).unwrap();
    let loaded = media::load_mask(&mask_path).unwrap();
    assert_eq!(loaded, mask);

    let err = media::validate_mask_size(&loaded, "mask.png", 432, 432, "photo.png")
        .unwrap_err()
        .to_string();
    assert!(err.contains("64x48") && err.contains("432x432"), "{err}");

    // Pixels 20..30 x 10..20 touch latent cells x 2..=3, y 1..=2; dilated by one: x 1..=4, y 0..=3.
    let latent = media::dilate(&media::downsample_max(&loaded, media::LATENT_DOWNSAMPLE), 1);
    assert_eq!(latent.dimensions(), (8, 6));
    for (x, y, p) in latent.enumerate_pixels() {
        let expected = (1..=4).contains(&x) && (0..=3).contains(&y);
        assert_eq!(p[0] == 255, expected, "cell ({x}, {y})");
    }

    // A transparent-background mask: transparent pixels are "keep".
    let rgba_path = dir.path().join("painted.png");
    let mut painted = RgbaImage::new(8, 8);
    painted.put_pixel(3, 3, Rgba([255, 255, 255, 255]));
    painted.save(&rgba_path).unwrap();
    let m = media::load_mask(&rgba_path).unwrap();
    assert_eq!(m.get_pixel(3, 3)[0], 255);
    assert_eq!(m.pixels().filter(|p| p[0] != 0).count(), 1);
}

#[test]
fn extension_composite_keeps_the_original_exactly() {
    let original = RgbImage::from_fn(100, 60, |x, y| Rgb([x as u8, y as u8, (x ^ y) as u8]));
    let growth = media::Growth {
        left: 0,
        right: 40,
        top: 0,
        bottom: 0,
    };
    let plan = media::plan_canvas_extension(100, 60, growth, media::PIXEL_GRID).unwrap();
    assert_eq!((plan.canvas_width, plan.canvas_height), (144, 64));
    assert_eq!((plan.offset_x, plan.offset_y), (0, 2));
    let canvas =
        media::place_on_canvas(&original, &plan, media::CanvasFill::ReplicateEdge).unwrap();
    let generated = RgbImage::from_pixel(144, 64, Rgb([255, 0, 0]));
    let alpha = media::feather(&plan.new_area_mask(), 6.0);
    let out = media::composite(&canvas, &generated, &alpha).unwrap();
    // Everything farther than the feather radius from the new area is the original, bit for bit.
    // The 4 missing rows of height (60 → 64) are split 2 + 2, so the original spans rows 2..62.
    for y in 6..54 {
        for x in 0..94 {
            assert_eq!(
                out.get_pixel(x, y + plan.offset_y),
                original.get_pixel(x, y),
                "({x}, {y})"
            );
        }
    }
    // The new area itself is fully generated.
    assert_eq!(*out.get_pixel(130, 30), Rgb([255, 0, 0]));
}

// ---------------------------------------------------------------------------------------------
// GIF

#[test]
fn gif_export_writes_an_animation_that_decodes_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trajectory.gif");
    let frames: Vec<GifFrame> = COLOURS[..5]
        .iter()
        .map(|c| GifFrame::from_rgb(&RgbImage::from_pixel(48, 32, Rgb(*c)), 80))
        .collect();
    media::save_gif(&path, &frames, GifRepeat::Forever).unwrap();
    let decoded = image::codecs::gif::GifDecoder::new(std::io::BufReader::new(
        std::fs::File::open(&path).unwrap(),
    ))
    .unwrap()
    .into_frames()
    .collect_frames()
    .unwrap();
    assert_eq!(decoded.len(), 5);
    for (i, f) in decoded.iter().enumerate() {
        assert_eq!(f.buffer().dimensions(), (48, 32));
        let p = f.buffer().get_pixel(24, 16).0;
        assert_colour_close([p[0], p[1], p[2]], COLOURS[i], "gif frame");
    }
}

// ---------------------------------------------------------------------------------------------
// MP4 / H.264 made at test time

struct EncodedClip {
    sps: Vec<u8>,
    pps: Vec<u8>,
    samples: Vec<MuxSample>,
}

/// Encodes one solid-colour frame per entry with OpenH264 (Constrained Baseline, an IDR every
/// `gop` frames) and returns MP4-ready samples with the given durations.
fn encode_clip(colours: &[[u8; 3]], durations: &[u32], gop: u32) -> EncodedClip {
    use openh264::encoder::{Encoder, EncoderConfig, IntraFramePeriod, RateControlMode};
    use openh264::formats::{RgbSliceU8, YUVBuffer};
    let (w, h) = (64usize, 48usize);
    let config = EncoderConfig::new()
        .skip_frames(false)
        .rate_control_mode(RateControlMode::Off)
        .intra_frame_period(IntraFramePeriod::from_num_frames(gop));
    let mut encoder =
        Encoder::with_api_config(openh264::OpenH264API::from_source(), config).unwrap();
    let (mut sps, mut pps) = (Vec::new(), Vec::new());
    let mut samples = Vec::new();
    for (i, colour) in colours.iter().enumerate() {
        let rgb: Vec<u8> = colour.iter().copied().cycle().take(w * h * 3).collect();
        let yuv = YUVBuffer::from_rgb8_source(RgbSliceU8::new(&rgb, (w, h)));
        let stream = encoder.encode(&yuv).unwrap().to_vec();
        let mut data = Vec::new();
        let mut sync = false;
        for nal in split_annex_b(&stream) {
            match nal[0] & 0x1F {
                7 => sps = nal.to_vec(),
                8 => pps = nal.to_vec(),
                t => {
                    sync |= t == 5;
                    data.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                    data.extend_from_slice(nal);
                }
            }
        }
        assert!(!data.is_empty(), "frame {i} was not encoded");
        samples.push(MuxSample {
            data,
            duration: durations[i],
            composition_offset: 0,
            sync,
        });
    }
    EncodedClip { sps, pps, samples }
}

fn split_annex_b(stream: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i..i + 3] == [0, 0, 1] {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    starts
        .iter()
        .enumerate()
        .map(|(k, &s)| {
            let mut end = starts.get(k + 1).map_or(stream.len(), |&n| n - 3);
            while end > s && stream[end - 1] == 0 {
                end -= 1; // the zero byte of a 4-byte start code belongs to no NAL
            }
            &stream[s..end]
        })
        .collect()
}

fn write_clip(dir: &Path, name: &str, clip: EncodedClip, faststart: bool) -> PathBuf {
    let spec = TrackSpec {
        width: 64,
        height: 48,
        timescale: 1000,
        entry: SampleEntry::Avc {
            sps: clip.sps,
            pps: clip.pps,
        },
    };
    let path = dir.join(name);
    std::fs::write(&path, mux_mp4(&spec, &clip.samples, faststart)).unwrap();
    path
}

/// Variable frame rate on purpose: timestamps must come from the sample table, not an fps.
fn vfr_durations() -> Vec<u32> {
    (0..12)
        .map(|i| if i % 2 == 0 { 100 } else { 150 })
        .collect()
}

fn start_time_s(index: usize, durations: &[u32]) -> f64 {
    durations[..index].iter().sum::<u32>() as f64 / 1000.0
}

#[test]
fn mp4_sampling_picks_uniform_frames_with_exact_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let durations = vfr_durations();
    for faststart in [false, true] {
        let clip = encode_clip(&COLOURS, &durations, 5);
        assert!(
            clip.samples.iter().filter(|s| s.sync).count() >= 2,
            "expected several GOPs"
        );
        let path = write_clip(
            dir.path(),
            &format!("clip-{faststart}.mp4"),
            clip,
            faststart,
        );
        let video = media::load_video_frames(&path, 4).unwrap();
        assert_eq!(video.total_frames, 12);
        assert!((video.duration_s.unwrap() - 1.5).abs() < 1e-9);
        // np.linspace(0, 11, 4, dtype=int) = [0, 3, 7, 11]
        let indices: Vec<_> = video.frames.iter().map(|f| f.index).collect();
        assert_eq!(indices, vec![0, 3, 7, 11]);
        for f in &video.frames {
            assert_eq!(f.image.dimensions(), (64, 48));
            let ts = f.timestamp_s.unwrap();
            assert!(
                (ts - start_time_s(f.index, &durations)).abs() < 1e-9,
                "frame {}: {ts}",
                f.index
            );
            assert_colour_close(f.image.get_pixel(32, 24).0, COLOURS[f.index], "mp4 frame");
        }
    }
}

#[test]
fn mp4_sampling_skips_gops_without_sampled_frames() {
    let colour = |i: usize| {
        [
            (i * 37 % 200 + 30) as u8,
            (i * 91 % 200 + 30) as u8,
            (i * 53 % 200 + 30) as u8,
        ]
    };
    let colours: Vec<[u8; 3]> = (0..30).map(colour).collect();
    let mut clip = encode_clip(&colours, &[100; 30], 5);
    let idr: Vec<usize> = (0..30).filter(|&i| clip.samples[i].sync).collect();
    assert_eq!(idr, vec![0, 5, 10, 15, 20, 25]);
    // np.linspace(0, 29, 3, dtype=int) = [0, 14, 29]: the GOPs 15..20 and 20..25 hold no sampled
    // frame, nor do frames 1..5 after frame 0. Poison them: a NAL length far past the sample's
    // end fails loudly if anything tries to decode it.
    for poisoned in [3, 17, 22] {
        clip.samples[poisoned].data[..4].copy_from_slice(&u32::MAX.to_be_bytes());
    }
    let dir = tempfile::tempdir().unwrap();
    let path = write_clip(dir.path(), "long.mp4", clip, true);
    let video = media::load_video_frames(&path, 3).unwrap();
    let got: Vec<_> = video
        .frames
        .iter()
        .map(|f| (f.index, f.timestamp_s.unwrap()))
        .collect();
    assert_eq!(got, vec![(0, 0.0), (14, 1.4), (29, 2.9)]);
    for f in &video.frames {
        assert_colour_close(
            f.image.get_pixel(32, 24).0,
            colours[f.index],
            "sampled frame",
        );
    }
    // Asking for a poisoned frame does decode it, and the error names the file and sample.
    let msg = media::load_video_frames(&path, 30).unwrap_err().to_string();
    assert!(
        msg.contains("long.mp4") && msg.contains("sample 3"),
        "{msg}"
    );
}

#[test]
fn mp4_sampling_more_frames_than_exist_repeats_indices() {
    let dir = tempfile::tempdir().unwrap();
    let clip = encode_clip(&COLOURS[..3], &[100, 100, 100], 30);
    let path = write_clip(dir.path(), "short.mp4", clip, false);
    let video = media::sample_frames(&VideoSource::File(path), 5).unwrap();
    let indices: Vec<_> = video.frames.iter().map(|f| f.index).collect();
    assert_eq!(indices, vec![0, 0, 1, 1, 2]);
    assert_colour_close(
        video.frames[4].image.get_pixel(1, 1).0,
        COLOURS[2],
        "last frame",
    );
}

#[test]
fn truncated_and_corrupt_mp4s_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let durations = vfr_durations();

    // moov at the end: cutting the file loses the index entirely.
    let path = write_clip(
        dir.path(),
        "cut.mp4",
        encode_clip(&COLOURS, &durations, 5),
        false,
    );
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let err = media::load_video_frames(&path, 4).unwrap_err();
    assert!(matches!(err, MediaError::CorruptVideo { .. }), "{err:?}");
    assert!(err.to_string().contains("cut.mp4"), "{err}");

    // moov first: the index survives but points past the end of the file.
    let path = write_clip(
        dir.path(),
        "cut-fast.mp4",
        encode_clip(&COLOURS, &durations, 5),
        true,
    );
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 200]).unwrap();
    let msg = media::load_video_frames(&path, 4).unwrap_err().to_string();
    assert!(
        msg.contains("cut-fast.mp4") && msg.contains("truncated"),
        "{msg}"
    );

    // Garbage after a valid-looking header.
    let path = dir.path().join("garbage.mp4");
    let mut garbage = b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2".to_vec();
    garbage.extend(std::iter::repeat_n(0xAB, 300));
    std::fs::write(&path, &garbage).unwrap();
    let err = media::load_video_frames(&path, 4).unwrap_err();
    assert!(matches!(err, MediaError::CorruptVideo { .. }), "{err:?}");
    assert!(err.to_string().contains("garbage.mp4"));
}

#[test]
fn hevc_mp4_is_rejected_naming_the_codec() {
    let dir = tempfile::tempdir().unwrap();
    let spec = TrackSpec {
        width: 64,
        height: 48,
        timescale: 1000,
        entry: SampleEntry::Hevc,
    };
    let samples = vec![MuxSample {
        data: vec![0, 0, 0, 2, 0x26, 0x01],
        duration: 100,
        composition_offset: 0,
        sync: true,
    }];
    let path = dir.path().join("phone.mp4");
    std::fs::write(&path, mux_mp4(&spec, &samples, false)).unwrap();
    let err = media::load_video_frames(&path, 2).unwrap_err();
    assert!(
        matches!(err, MediaError::UnsupportedCodec { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("phone.mp4") && msg.contains("HEVC") && msg.contains("H.264"),
        "{msg}"
    );
}

// ---------------------------------------------------------------------------------------------
// Fixtures made by FFmpeg (tests/data/README.md)

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

#[test]
fn x264_high_profile_with_b_frames_decodes_in_display_order() {
    let path = fixture("bframes_high_h264.mp4");
    // Every frame: the B-frame reordering must put each colour at its display position.
    let all = media::load_video_frames(&path, 12).unwrap();
    assert_eq!(all.total_frames, 12);
    assert!((all.duration_s.unwrap() - 1.5).abs() < 1e-9);
    for (i, f) in all.frames.iter().enumerate() {
        assert_eq!(f.index, i);
        assert!(
            (f.timestamp_s.unwrap() - i as f64 / 8.0).abs() < 1e-9,
            "frame {i}"
        );
        assert_colour_close(
            f.image.get_pixel(32, 24).0,
            COLOURS[i],
            &format!("frame {i}"),
        );
    }
    // np.linspace(0, 11, 6, dtype=int) = [0, 2, 4, 6, 8, 11]
    let six = media::load_video_frames(&path, 6).unwrap();
    let indices: Vec<_> = six.frames.iter().map(|f| f.index).collect();
    assert_eq!(indices, vec![0, 2, 4, 6, 8, 11]);
    for f in &six.frames {
        assert_colour_close(f.image.get_pixel(5, 5).0, COLOURS[f.index], "sampled frame");
    }
}

#[test]
fn real_hevc_file_is_rejected_naming_the_codec() {
    let err = media::load_video_frames(&fixture("hevc_hvc1.mp4"), 4).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, MediaError::UnsupportedCodec { .. }),
        "{err:?}"
    );
    assert!(
        msg.contains("hevc_hvc1.mp4") && msg.contains("HEVC/H.265 ('hvc1')"),
        "{msg}"
    );
}
