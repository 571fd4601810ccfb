//! Image snapshots of the real studio window, rendered by wgpu (a CPU Vulkan adapter such
//! as lavapipe is enough: `scripts/install-deps.sh`). They cover the main layout and the
//! mask overlay drawn by the canvas shader, and check a few pixels of the shader's output.
//! Refresh with `UPDATE_SNAPSHOTS=1 cargo test --test studio_snapshots`.

mod studio_support;

use egui::vec2;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use image::{Rgba, RgbaImage};
use showo::engine::testing::ScriptedBackend;
use showo::studio::StudioApp;
use studio_support::{options, wait_for_model};

/// Left quarter transparent (the checkerboard must show), the rest a gradient.
fn sample_image() -> RgbaImage {
    RgbaImage::from_fn(256, 192, |x, y| {
        if x < 64 {
            Rgba([0, 0, 0, 0])
        } else {
            Rgba([(x - 64) as u8, (y + 40) as u8, 200, 255])
        }
    })
}

fn gpu_studio(dir: &std::path::Path) -> Harness<'static, StudioApp> {
    let options = options(dir);
    let mut h = Harness::builder()
        .with_size(vec2(1280.0, 800.0))
        .wgpu()
        .build_eframe(move |cc| StudioApp::new(cc, Box::new(ScriptedBackend::new()), options));
    wait_for_model(&mut h);
    assert!(
        h.state().uses_gpu_canvas(),
        "the wgpu canvas path is under test"
    );
    h.state_mut().add_image("sample", sample_image());
    for _ in 0..4 {
        h.step();
    }
    h
}

/// Hides the live frame-time readout, the one thing that differs between runs.
fn mask_frame_time(h: &mut Harness<'_, StudioApp>) {
    let rect = h
        .get_by(|n| {
            n.role() == egui::accesskit::Role::Label
                && n.value().is_some_and(|v| v.starts_with("ui "))
        })
        .rect();
    h.mask(rect);
}

fn pixel(image: &RgbaImage, p: egui::Pos2) -> [u8; 4] {
    image.get_pixel(p.x as u32, p.y as u32).0
}

#[test]
fn main_layout() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = gpu_studio(dir.path());
    let doc = h.state().canvas.document_screen_rect().unwrap();
    let zoom = h.state().canvas.zoom;
    let render = h.render().expect("a wgpu render");
    // Inside the opaque part the shader shows the image's pixel.
    let at = doc.min + vec2(200.5, 100.5) * zoom;
    let shown = pixel(&render, at);
    let expected = sample_image().get_pixel(200, 100).0;
    for c in 0..3 {
        assert!(
            (shown[c] as i32 - expected[c] as i32).abs() <= 3,
            "image pixel {shown:?} vs {expected:?}"
        );
    }
    // The transparent quarter shows the checkerboard's two greys.
    let greys: std::collections::BTreeSet<u8> = (0..40)
        .map(|i| pixel(&render, doc.min + vec2(2.0 + i as f32 * 1.3, 10.0)))
        .map(|p| {
            assert_eq!(p[0], p[1], "checkerboard is grey: {p:?}");
            p[0]
        })
        .collect();
    assert_eq!(greys.into_iter().collect::<Vec<_>>(), vec![153, 204]);
    mask_frame_time(&mut h);
    h.snapshot("studio_main_layout");
}

#[test]
fn mask_overlay() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = gpu_studio(dir.path());
    {
        let app = h.state_mut();
        app.mask.brush_size = 48.0;
        app.mask.hardness = 1.0;
        app.mask.begin_stroke([90.0, 96.0]);
        app.mask.extend_stroke([220.0, 96.0]);
        app.mask.end_stroke();
        app.mask.colour = egui::Color32::from_rgb(255, 0, 0);
        app.mask.opacity = 0.5;
    }
    for _ in 0..3 {
        h.step();
    }
    let doc = h.state().canvas.document_screen_rect().unwrap();
    let zoom = h.state().canvas.zoom;
    let render = h.render().expect("a wgpu render");
    let inside = pixel(&render, doc.min + vec2(150.5, 96.5) * zoom);
    let under = sample_image().get_pixel(150, 96).0;
    let blend = |mask: u8, image: u8| ((mask as f32 + image as f32) / 2.0).round() as i32;
    assert!(
        (inside[0] as i32 - blend(255, under[0])).abs() <= 3,
        "{inside:?}"
    );
    assert!(
        (inside[1] as i32 - blend(0, under[1])).abs() <= 3,
        "{inside:?}"
    );
    let outside = pixel(&render, doc.min + vec2(150.5, 20.5) * zoom);
    let image = sample_image().get_pixel(150, 20).0;
    assert!(
        (outside[0] as i32 - image[0] as i32).abs() <= 3,
        "{outside:?} vs {image:?}"
    );
    mask_frame_time(&mut h);
    h.snapshot("studio_mask_overlay");
}
