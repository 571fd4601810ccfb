// The canvas composite, drawn in one pass inside an egui paint callback:
// checkerboard behind the shown image (so transparency is visible), the image itself,
// the mask as a coloured translucent overlay, and the pending extension area as a hatched tint.
//
// Geometry arrives in egui points: the callback covers `area`; canvas pixel (0, 0) sits at
// `view.xy` and one canvas pixel is `view.z` points wide. Colours are gamma-encoded, as egui's
// own shader keeps them; the output is premultiplied for egui's (One, OneMinusSrcAlpha) blend.

struct Uniforms {
    area: vec4<f32>,        // screen min.xy, size.zw (points)
    view: vec4<f32>,        // origin.xy (points), zoom (points per pixel), checker cell (points)
    scene: vec4<f32>,       // shown image min.xy, size.zw (canvas pixels)
    document: vec4<f32>,    // document min.xy (= 0), size.zw (canvas pixels)
    extension: vec4<f32>,   // extended canvas min.xy, size.zw (canvas pixels)
    mask_colour: vec4<f32>, // rgb (gamma), a = opacity
    flags: vec4<f32>,       // has scene, has mask, has extension, sRGB framebuffer
    sampling: vec4<f32>,    // x: 1 = nearest-neighbour image sampling
};

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var scene_texture: texture_2d<f32>;
@group(0) @binding(2) var mask_texture: texture_2d<f32>;
@group(0) @binding(3) var linear_sampler: sampler;
@group(0) @binding(4) var nearest_sampler: sampler;

struct VertexOut {
    @builtin(position) position: vec4<f32>,
    @location(0) uv: vec2<f32>,
};

// Two triangles covering the callback's viewport; uv runs 0..1 left→right, top→bottom.
@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> VertexOut {
    var corners = array<vec2<f32>, 6>(
        vec2<f32>(-1.0, -1.0), vec2<f32>(1.0, -1.0), vec2<f32>(-1.0, 1.0),
        vec2<f32>(-1.0, 1.0), vec2<f32>(1.0, -1.0), vec2<f32>(1.0, 1.0),
    );
    let corner = corners[index];
    var out: VertexOut;
    out.position = vec4<f32>(corner, 0.0, 1.0);
    out.uv = vec2<f32>((corner.x + 1.0) * 0.5, (1.0 - corner.y) * 0.5);
    return out;
}

fn inside(p: vec2<f32>, rect: vec4<f32>) -> bool {
    return p.x >= rect.x && p.y >= rect.y && p.x < rect.x + rect.z && p.y < rect.y + rect.w;
}

// Premultiplied "over".
fn over(top: vec4<f32>, below: vec4<f32>) -> vec4<f32> {
    return top + below * (1.0 - top.a);
}

fn gamma_to_linear(c: vec3<f32>) -> vec3<f32> {
    let low = c / 12.92;
    let high = pow((c + 0.055) / 1.055, vec3<f32>(2.4));
    return select(high, low, c <= vec3<f32>(0.04045));
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    let screen = u.area.xy + in.uv * u.area.zw;
    let canvas = (screen - u.view.xy) / u.view.z;
    var colour = vec4<f32>(0.0);

    let in_scene = u.flags.x > 0.5 && inside(canvas, u.scene);
    if in_scene {
        // Checkerboard cells are fixed in screen points, anchored at the image's corner.
        let corner = u.view.xy + u.scene.xy * u.view.z;
        let cell = vec2<i32>(floor((screen - corner) / u.view.w));
        let odd = ((cell.x + cell.y) & 1) == 1;
        let checker = select(vec3<f32>(0.8), vec3<f32>(0.6), odd);
        let uv = (canvas - u.scene.xy) / u.scene.zw;
        let smooth_texel = textureSampleLevel(scene_texture, linear_sampler, uv, 0.0);
        let sharp_texel = textureSampleLevel(scene_texture, nearest_sampler, uv, 0.0);
        let texel = select(smooth_texel, sharp_texel, u.sampling.x > 0.5);
        colour = vec4<f32>(mix(checker, texel.rgb, texel.a), 1.0);
    }

    if u.flags.y > 0.5 && inside(canvas, u.document) {
        let uv = (canvas - u.document.xy) / u.document.zw;
        let coverage = textureSampleLevel(mask_texture, nearest_sampler, uv, 0.0).r * u.mask_colour.a;
        colour = over(vec4<f32>(u.mask_colour.rgb * coverage, coverage), colour);
    }

    if u.flags.z > 0.5 && inside(canvas, u.extension) && !inside(canvas, u.document) && !in_scene {
        // Diagonal hatching so the new area reads as "to be generated".
        let stripe = fract((screen.x + screen.y) / 12.0) < 0.5;
        let alpha = select(0.16, 0.32, stripe);
        let tint = vec3<f32>(80.0, 180.0, 255.0) / 255.0;
        colour = over(vec4<f32>(tint * alpha, alpha), colour);
    }

    if colour.a <= 0.0 {
        discard;
    }
    if u.flags.w > 0.5 {
        // An sRGB framebuffer encodes on write; hand it linear values.
        let straight = colour.rgb / colour.a;
        colour = vec4<f32>(gamma_to_linear(straight) * colour.a, colour.a);
    }
    return colour;
}
