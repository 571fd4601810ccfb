//! The wgpu canvas renderer: one egui paint callback that runs `shaders/canvas.wgsl` to draw
//! the checkerboard, the shown image, the mask overlay and the extension area in a single
//! pass. Textures are uploaded only when the image or mask version changes.
//!
//! The pipeline is built for egui's main pass as eframe configures it here: one sample per
//! pixel and no depth buffer (`NativeOptions::multisampling = 0`, `depth_buffer = 0`).

use std::borrow::Cow;
use std::sync::Arc;

use eframe::egui_wgpu::{self, CallbackResources, CallbackTrait, ScreenDescriptor, wgpu};
use egui::Ui;
use image::{GrayImage, RgbaImage};

use super::canvas::{CHECKER_POINTS, CanvasFrame};

const SHADER: &str = include_str!("../../shaders/canvas.wgsl");
/// Eight vec4<f32> (see `Uniforms` in the shader).
const UNIFORM_FLOATS: usize = 32;

/// Builds the pipeline and registers it with egui's renderer. Call once at start-up.
pub fn install(render_state: &egui_wgpu::RenderState) {
    let resources = CanvasResources::new(&render_state.device, render_state.target_format);
    render_state
        .renderer
        .write()
        .callback_resources
        .insert(resources);
}

/// Queues the canvas for this frame.
pub fn paint(ui: &Ui, frame: &CanvasFrame) {
    let pixels_per_point = ui.ctx().pixels_per_point();
    let rect = |r: egui::Rect| [r.min.x, r.min.y, r.width(), r.height()];
    let (scene_rect, has_scene) = match &frame.scene {
        Some((_, r)) => (rect(*r), 1.0),
        None => ([0.0; 4], 0.0),
    };
    let document = frame.document.map_or([0.0; 4], |d| [0.0, 0.0, d.x, d.y]);
    let (extension, has_extension) = match frame.extension {
        Some(r) => (rect(r), 1.0),
        None => ([0.0; 4], 0.0),
    };
    let (mask_colour, has_mask) = match &frame.mask {
        Some(m) => {
            let c = m.colour;
            (
                [
                    c.r() as f32 / 255.0,
                    c.g() as f32 / 255.0,
                    c.b() as f32 / 255.0,
                    m.opacity,
                ],
                1.0,
            )
        }
        None => ([0.0; 4], 0.0),
    };
    let nearest = if frame.zoom * pixels_per_point >= 2.0 {
        1.0
    } else {
        0.0
    };
    let mut uniforms = [0f32; UNIFORM_FLOATS];
    let rows: [[f32; 4]; 8] = [
        rect(frame.area),
        [frame.origin.x, frame.origin.y, frame.zoom, CHECKER_POINTS],
        scene_rect,
        document,
        extension,
        mask_colour,
        // The sRGB flag is filled in by `prepare`, which knows the framebuffer format.
        [has_scene, has_mask, has_extension, 0.0],
        [nearest, pixels_per_point, 0.0, 0.0],
    ];
    for (i, row) in rows.iter().enumerate() {
        uniforms[i * 4..i * 4 + 4].copy_from_slice(row);
    }
    let callback = CanvasCallback {
        uniforms,
        scene: frame
            .scene
            .as_ref()
            .map(|(image, _)| (image.version, image.image.clone())),
        mask: frame.mask.as_ref().map(|m| (m.version, m.mask.clone())),
    };
    ui.painter().add(egui_wgpu::Callback::new_paint_callback(
        frame.area, callback,
    ));
}

struct CanvasCallback {
    uniforms: [f32; UNIFORM_FLOATS],
    scene: Option<(u64, Arc<RgbaImage>)>,
    mask: Option<(u64, Arc<GrayImage>)>,
}

/// A texture and the version of the data in it.
struct Uploaded {
    version: u64,
    size: (u32, u32),
    view: wgpu::TextureView,
    texture: wgpu::Texture,
}

struct CanvasResources {
    pipeline: wgpu::RenderPipeline,
    layout: wgpu::BindGroupLayout,
    uniforms: wgpu::Buffer,
    linear: wgpu::Sampler,
    nearest: wgpu::Sampler,
    scene: Uploaded,
    mask: Uploaded,
    bind_group: wgpu::BindGroup,
    srgb_target: bool,
}

impl CanvasResources {
    fn new(device: &wgpu::Device, target: wgpu::TextureFormat) -> Self {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("canvas.wgsl"),
            source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(SHADER)),
        });
        let texture_entry = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Texture {
                multisampled: false,
                sample_type: wgpu::TextureSampleType::Float { filterable: true },
                view_dimension: wgpu::TextureViewDimension::D2,
            },
            count: None,
        };
        let sampler_entry = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
            count: None,
        };
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("canvas bind group layout"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                },
                texture_entry(1),
                texture_entry(2),
                sampler_entry(3),
                sampler_entry(4),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("canvas pipeline layout"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("canvas pipeline"),
            layout: Some(&pipeline_layout),
            vertex: wgpu::VertexState {
                module: &module,
                entry_point: Some("vs_main"),
                buffers: &[],
                compilation_options: wgpu::PipelineCompilationOptions::default(),
            },
            primitive: wgpu::PrimitiveState::default(),
            depth_stencil: None,
            multisample: wgpu::MultisampleState::default(),
            fragment: Some(wgpu::FragmentState {
                module: &module,
                entry_point: Some("fs_main"),
                targets: &[Some(wgpu::ColorTargetState {
                    format: target,
                    blend: Some(wgpu::BlendState::PREMULTIPLIED_ALPHA_BLENDING),
                    write_mask: wgpu::ColorWrites::ALL,
                })],
                compilation_options: wgpu::PipelineCompilationOptions::default(),
            }),
            multiview_mask: None,
            cache: None,
        });
        let uniforms = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("canvas uniforms"),
            size: (UNIFORM_FLOATS * 4) as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let sampler = |filter| {
            device.create_sampler(&wgpu::SamplerDescriptor {
                label: Some("canvas sampler"),
                mag_filter: filter,
                min_filter: filter,
                address_mode_u: wgpu::AddressMode::ClampToEdge,
                address_mode_v: wgpu::AddressMode::ClampToEdge,
                ..Default::default()
            })
        };
        let linear = sampler(wgpu::FilterMode::Linear);
        let nearest = sampler(wgpu::FilterMode::Nearest);
        // 1×1 placeholders until the first image and mask arrive.
        let scene = create_texture(device, (1, 1), wgpu::TextureFormat::Rgba8Unorm, 0);
        let mask = create_texture(device, (1, 1), wgpu::TextureFormat::R8Unorm, 0);
        let bind_group = bind(device, &layout, &uniforms, &scene, &mask, &linear, &nearest);
        CanvasResources {
            pipeline,
            layout,
            uniforms,
            linear,
            nearest,
            scene,
            mask,
            bind_group,
            srgb_target: target.is_srgb(),
        }
    }
}

fn create_texture(
    device: &wgpu::Device,
    size: (u32, u32),
    format: wgpu::TextureFormat,
    version: u64,
) -> Uploaded {
    let texture = device.create_texture(&wgpu::TextureDescriptor {
        label: Some("canvas texture"),
        size: wgpu::Extent3d {
            width: size.0,
            height: size.1,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        view_formats: &[],
    });
    let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
    Uploaded {
        version,
        size,
        view,
        texture,
    }
}

fn bind(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    uniforms: &wgpu::Buffer,
    scene: &Uploaded,
    mask: &Uploaded,
    linear: &wgpu::Sampler,
    nearest: &wgpu::Sampler,
) -> wgpu::BindGroup {
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("canvas bind group"),
        layout,
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: uniforms.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: wgpu::BindingResource::TextureView(&scene.view),
            },
            wgpu::BindGroupEntry {
                binding: 2,
                resource: wgpu::BindingResource::TextureView(&mask.view),
            },
            wgpu::BindGroupEntry {
                binding: 3,
                resource: wgpu::BindingResource::Sampler(linear),
            },
            wgpu::BindGroupEntry {
                binding: 4,
                resource: wgpu::BindingResource::Sampler(nearest),
            },
        ],
    })
}

/// Pixels to upload, with their format and identity.
struct Pixels<'a> {
    format: wgpu::TextureFormat,
    bytes_per_pixel: u32,
    version: u64,
    size: (u32, u32),
    data: &'a [u8],
}

/// Uploads `pixels` into `slot` unless it already holds that version; recreates the texture
/// when the size changes. Returns true if the texture object was replaced (the bind group
/// must be rebuilt).
fn upload(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    slot: &mut Uploaded,
    pixels: Pixels<'_>,
) -> bool {
    let Pixels {
        format,
        bytes_per_pixel,
        version,
        size,
        data,
    } = pixels;
    if slot.version == version && slot.size == size {
        return false;
    }
    let replaced = slot.size != size;
    if replaced {
        *slot = create_texture(device, size, format, version);
    }
    queue.write_texture(
        wgpu::TexelCopyTextureInfo {
            texture: &slot.texture,
            mip_level: 0,
            origin: wgpu::Origin3d::ZERO,
            aspect: wgpu::TextureAspect::All,
        },
        data,
        wgpu::TexelCopyBufferLayout {
            offset: 0,
            bytes_per_row: Some(bytes_per_pixel * size.0),
            rows_per_image: Some(size.1),
        },
        wgpu::Extent3d {
            width: size.0,
            height: size.1,
            depth_or_array_layers: 1,
        },
    );
    slot.version = version;
    replaced
}

impl CallbackTrait for CanvasCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen: &ScreenDescriptor,
        _encoder: &mut wgpu::CommandEncoder,
        resources: &mut CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        let Some(r) = resources.get_mut::<CanvasResources>() else {
            return Vec::new();
        };
        let mut rebind = false;
        if let Some((version, image)) = &self.scene {
            rebind |= upload(
                device,
                queue,
                &mut r.scene,
                Pixels {
                    format: wgpu::TextureFormat::Rgba8Unorm,
                    bytes_per_pixel: 4,
                    version: *version,
                    size: image.dimensions(),
                    data: image.as_raw(),
                },
            );
        }
        if let Some((version, mask)) = &self.mask {
            rebind |= upload(
                device,
                queue,
                &mut r.mask,
                Pixels {
                    format: wgpu::TextureFormat::R8Unorm,
                    bytes_per_pixel: 1,
                    version: *version,
                    size: mask.dimensions(),
                    data: mask.as_raw(),
                },
            );
        }
        if rebind {
            r.bind_group = bind(
                device,
                &r.layout,
                &r.uniforms,
                &r.scene,
                &r.mask,
                &r.linear,
                &r.nearest,
            );
        }
        let mut uniforms = self.uniforms;
        uniforms[27] = if r.srgb_target { 1.0 } else { 0.0 };
        let bytes: Vec<u8> = uniforms.iter().flat_map(|f| f.to_ne_bytes()).collect();
        queue.write_buffer(&r.uniforms, 0, &bytes);
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        render_pass: &mut wgpu::RenderPass<'static>,
        resources: &CallbackResources,
    ) {
        let Some(r) = resources.get::<CanvasResources>() else {
            return;
        };
        render_pass.set_pipeline(&r.pipeline);
        render_pass.set_bind_group(0, &r.bind_group, &[]);
        render_pass.draw(0..6, 0..1);
    }
}
