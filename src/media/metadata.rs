//! PNG export with recallable generation settings.
//!
//! Two text chunks are written before the image data:
//! - `parameters`: the A1111 "infotext" every image browser and Civitai understands:
//!   ```text
//!   a red circle on the left
//!   Negative prompt: blurry
//!   Steps: 50, Sampler: "Euler (flow, shift 3)", CFG scale: 5, Seed: 42, Size: 432x432, Model hash: 1a2b3c4d5e, Model: show-o2-1.5B, ...
//!   ```
//! - `showo-studio`: the exact settings as versioned JSON (`{"version":1, ...}`), lossless.
//!
//! [`read_png_metadata`] prefers the JSON chunk and falls back to parsing the infotext, so
//! settings can also be recalled (as far as they map) from images made by other tools.

use std::io::Cursor;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::atomic::write_bytes_atomically;
use super::mask::Growth;
use super::{MediaError, Result};

/// The tEXt/iTXt keyword of the A1111 infotext.
pub const A1111_KEYWORD: &str = "parameters";
/// The iTXt keyword of the versioned JSON settings.
pub const JSON_KEYWORD: &str = "showo-studio";
/// The JSON schema version this build writes and the newest it reads.
pub const METADATA_VERSION: u32 = 1;

/// What the image was made by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GenerationMode {
    #[default]
    TextToImage,
    Inpaint,
    Extend,
}

impl GenerationMode {
    fn as_str(self) -> &'static str {
        match self {
            GenerationMode::TextToImage => "text-to-image",
            GenerationMode::Inpaint => "inpaint",
            GenerationMode::Extend => "extend",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::TextToImage, Self::Inpaint, Self::Extend]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// Which mask an inpainting used (the mask itself is not embedded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaskInfo {
    /// A content hash of the mask PNG, so a recalled job can tell whether it has the same mask.
    pub mask_hash: String,
    /// Pixel feather radius of the final blend.
    pub feather_px: f32,
    /// Latent-cell dilation of the latent mask.
    #[serde(default)]
    pub dilate_cells: u32,
    /// Harmonising (RePaint) jumps per step; `None` = the model's own number (older files,
    /// or the studio's "Auto harmonise").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repaint_jumps: Option<u32>,
    /// Denoising strength in (0, 1]: how far back towards noise the kept picture is taken
    /// before the new area is drawn; `None` = the model's own (older files, "Auto strength").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strength: Option<f32>,
}

/// Whether a denoising strength is usable: in (0, 1] (0 would keep everything and take no
/// step; NaN and infinities fail both comparisons).
pub fn strength_in_range(strength: f32) -> bool {
    strength > 0.0 && strength <= 1.0
}

/// How far an extension grew each side, in pixels (after grid rounding).
pub type ExtensionInfo = Growth;

/// Everything needed to reproduce a generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationParams {
    pub prompt: String,
    /// The CFG unconditional prompt; Show-o2 uses the empty prompt.
    #[serde(default)]
    pub negative_prompt: String,
    pub seed: u64,
    pub steps: u32,
    pub guidance: f32,
    pub width: u32,
    pub height: u32,
    pub model_id: String,
    #[serde(default)]
    pub model_hash: String,
    #[serde(default)]
    pub mode: GenerationMode,
    #[serde(default)]
    pub mask: Option<MaskInfo>,
    #[serde(default)]
    pub extension: Option<ExtensionInfo>,
    /// The flow sampler's time shift (3.0 for Show-o2).
    #[serde(default = "default_time_shift")]
    pub time_shift: f32,
    /// Share of fresh noise per step: 0 is the official Euler sampler, above 0 ancestral steps.
    #[serde(default)]
    pub eta: f32,
    #[serde(default)]
    pub app_version: String,
}

fn default_time_shift() -> f32 {
    3.0
}

impl Default for GenerationParams {
    fn default() -> Self {
        GenerationParams {
            prompt: String::new(),
            negative_prompt: String::new(),
            seed: 0,
            steps: 50,
            guidance: 5.0,
            width: 432,
            height: 432,
            model_id: String::new(),
            model_hash: String::new(),
            mode: GenerationMode::TextToImage,
            mask: None,
            extension: None,
            time_shift: default_time_shift(),
            eta: 0.0,
            app_version: String::new(),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct VersionedParams {
    version: u32,
    #[serde(flatten)]
    params: GenerationParams,
}

/// The A1111 infotext for `params` (see the module docs for the layout). Values that contain
/// `,`, `:`, `"` or a newline are JSON-quoted exactly as A1111's own `quote()` does; that is why
/// the sampler reads `Sampler: "Euler (flow, shift 3)"`: unquoted, A1111 and Civitai would cut
/// it at the comma. Ancestral runs (eta > 0) say `Euler a`, A1111's name for them, and give
/// `Eta` as A1111 does.
pub fn a1111_parameters(params: &GenerationParams) -> String {
    let sampler = if params.eta > 0.0 { "Euler a" } else { "Euler" };
    let mut fields: Vec<(&str, String)> = vec![
        ("Steps", params.steps.to_string()),
        (
            "Sampler",
            format!("{sampler} (flow, shift {})", params.time_shift),
        ),
        ("CFG scale", params.guidance.to_string()),
        ("Seed", params.seed.to_string()),
        ("Size", format!("{}x{}", params.width, params.height)),
        ("Model hash", params.model_hash.clone()),
        ("Model", params.model_id.clone()),
        ("Mode", params.mode.as_str().to_owned()),
    ];
    if let Some(mask) = &params.mask {
        fields.push(("Mask hash", mask.mask_hash.clone()));
        fields.push(("Mask blur", mask.feather_px.to_string()));
        fields.push(("Mask dilation", mask.dilate_cells.to_string()));
        if let Some(jumps) = mask.repaint_jumps {
            fields.push(("Harmonise passes", jumps.to_string()));
        }
        if let Some(strength) = mask.strength {
            // A1111's name for the same idea, so its readers show it.
            fields.push(("Denoising strength", strength.to_string()));
        }
    }
    if let Some(g) = &params.extension {
        let growth = format!("{} {} {} {}", g.left, g.right, g.top, g.bottom);
        fields.push(("Extend LRTB", growth));
    }
    fields.push(("Time shift", params.time_shift.to_string()));
    if params.eta > 0.0 {
        fields.push(("Eta", params.eta.to_string()));
    }
    if !params.app_version.is_empty() {
        fields.push(("Version", format!("showo-studio {}", params.app_version)));
    }
    let line = fields
        .iter()
        .map(|(k, v)| format!("{k}: {}", quote_if_needed(v)))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{}\nNegative prompt: {}\n{line}",
        params.prompt, params.negative_prompt
    )
}

fn quote_if_needed(value: &str) -> String {
    if value.contains([',', ':', '"', '\n']) {
        serde_json::to_string(value).expect("a string always serialises")
    } else {
        value.to_owned()
    }
}

/// Parses an A1111 infotext back into settings. Fields it does not carry (or that another tool
/// did not write) keep their defaults; `name` is what errors call the source.
pub fn parse_a1111_parameters(text: &str, name: &str) -> Result<GenerationParams> {
    let bad = |reason: String| MediaError::BadMetadata {
        file: name.to_owned(),
        reason,
    };
    let text = text.trim_end_matches(['\n', '\r']);
    let (body, last_line) = match text.rfind('\n') {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => ("", text),
    };
    let fields = parse_fields(last_line);
    if !fields.iter().any(|(k, _)| k == "Steps") {
        return Err(bad(
            "the last line of the A1111 'parameters' text has no 'Steps: N' field".into(),
        ));
    }

    // Prompt lines come first; everything from a "Negative prompt:" line on is the negative.
    let mut prompt = Vec::new();
    let mut negative: Option<Vec<&str>> = None;
    for line in body.split('\n') {
        match (&mut negative, line.strip_prefix("Negative prompt:")) {
            (None, Some(rest)) => negative = Some(vec![rest.strip_prefix(' ').unwrap_or(rest)]),
            (Some(neg), _) => neg.push(line),
            (None, None) => prompt.push(line),
        }
    }

    let mut params = GenerationParams {
        prompt: prompt.join("\n"),
        negative_prompt: negative.map(|n| n.join("\n")).unwrap_or_default(),
        model_id: String::new(),
        ..GenerationParams::default()
    };
    let mut mask = MaskInfo {
        mask_hash: String::new(),
        feather_px: 0.0,
        dilate_cells: 0,
        repaint_jumps: None,
        strength: None,
    };
    let mut has_mask = false;
    let number = |key: &str, v: &str| {
        v.trim()
            .parse::<f64>()
            .map_err(|_| bad(format!("'{key}: {v}' is not a number")))
    };
    for (key, value) in &fields {
        let v = value.as_str();
        match key.as_str() {
            "Steps" => params.steps = number(key, v)? as u32,
            "CFG scale" => params.guidance = number(key, v)? as f32,
            "Seed" => {
                params.seed = v
                    .trim()
                    .parse()
                    .map_err(|_| bad(format!("'Seed: {v}' is not an unsigned integer")))?
            }
            "Size" => {
                let (w, h) = v
                    .split_once('x')
                    .and_then(|(w, h)| Some((w.trim().parse().ok()?, h.trim().parse().ok()?)))
                    .ok_or_else(|| bad(format!("'Size: {v}' is not WIDTHxHEIGHT")))?;
                (params.width, params.height) = (w, h);
            }
            "Model hash" => params.model_hash = v.to_owned(),
            "Model" => params.model_id = v.to_owned(),
            "Mode" => {
                params.mode = GenerationMode::parse(v).ok_or_else(|| {
                    bad(format!(
                        "'Mode: {v}' is not text-to-image, inpaint or extend"
                    ))
                })?
            }
            "Mask hash" => (mask.mask_hash, has_mask) = (v.to_owned(), true),
            "Mask blur" => (mask.feather_px, has_mask) = (number(key, v)? as f32, true),
            "Mask dilation" => (mask.dilate_cells, has_mask) = (number(key, v)? as u32, true),
            "Harmonise passes" => {
                (mask.repaint_jumps, has_mask) = (Some(number(key, v)? as u32), true)
            }
            "Denoising strength" => {
                (mask.strength, has_mask) = (Some(number(key, v)? as f32), true)
            }
            "Extend LRTB" => {
                let sides: Vec<u32> = v.split(' ').filter_map(|s| s.parse().ok()).collect();
                let [left, right, top, bottom] = sides[..] else {
                    return Err(bad(format!("'Extend LRTB: {v}' is not four pixel counts")));
                };
                params.extension = Some(Growth {
                    left,
                    right,
                    top,
                    bottom,
                });
            }
            "Time shift" => params.time_shift = number(key, v)? as f32,
            "Eta" => params.eta = number(key, v)? as f32,
            "Version" => {
                params.app_version = v.strip_prefix("showo-studio ").unwrap_or(v).to_owned()
            }
            _ => {}
        }
    }
    if has_mask {
        params.mask = Some(mask);
    }
    Ok(params)
}

/// Splits `Key: value, Key: "quoted, value", ...` into pairs. Like A1111's own parser, a
/// segment whose "key" is not a plain name (letters, digits, space, `_`, `-`, `/`) is skipped,
/// so an unquoted value containing a comma only loses its tail instead of derailing the rest.
fn parse_fields(line: &str) -> Vec<(String, String)> {
    let is_key = |k: &str| {
        k.chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
            && k.chars().all(|c| c.is_alphanumeric() || " _-/".contains(c))
    };
    let mut fields = Vec::new();
    let mut rest = line.trim_start();
    while let Some(colon) = rest.find(':') {
        let key = rest[..colon].trim();
        if !is_key(key) {
            match rest.find(',') {
                Some(comma) => {
                    rest = rest[comma + 1..].trim_start();
                    continue;
                }
                None => break,
            }
        }
        let after = rest[colon + 1..].trim_start();
        let (value, remaining) = if after.starts_with('"') {
            match closing_quote(after) {
                Some(end) => {
                    let quoted = &after[..=end];
                    let value = serde_json::from_str::<String>(quoted)
                        .unwrap_or_else(|_| quoted.trim_matches('"').to_owned());
                    (value, &after[end + 1..])
                }
                None => (after.to_owned(), ""),
            }
        } else {
            match after.find(',') {
                Some(comma) => (after[..comma].trim().to_owned(), &after[comma..]),
                None => (after.trim().to_owned(), ""),
            }
        };
        fields.push((key.to_owned(), value));
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    fields
}

fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

/// Pixel buffers that can be written as 8-bit PNG.
pub trait PngPixels {
    fn png_color(&self) -> png::ColorType;
    fn png_dimensions(&self) -> (u32, u32);
    fn png_bytes(&self) -> &[u8];
}

macro_rules! png_pixels {
    ($ty:ty, $color:expr) => {
        impl PngPixels for $ty {
            fn png_color(&self) -> png::ColorType {
                $color
            }
            fn png_dimensions(&self) -> (u32, u32) {
                self.dimensions()
            }
            fn png_bytes(&self) -> &[u8] {
                self.as_raw()
            }
        }
    };
}
png_pixels!(image::RgbImage, png::ColorType::Rgb);
png_pixels!(image::RgbaImage, png::ColorType::Rgba);
png_pixels!(image::GrayImage, png::ColorType::Grayscale);

/// Encodes `image` as PNG with both metadata chunks; `name` is what errors call the output.
pub fn encode_png_with_metadata<I: PngPixels>(
    image: &I,
    params: &GenerationParams,
    name: &str,
) -> Result<Vec<u8>> {
    let fail = |e: png::EncodingError| MediaError::Encode {
        file: name.to_owned(),
        format: "PNG",
        reason: e.to_string(),
    };
    let (width, height) = image.png_dimensions();
    let json = serde_json::to_string(&VersionedParams {
        version: METADATA_VERSION,
        params: params.clone(),
    })
    .map_err(|e| MediaError::Encode {
        file: name.to_owned(),
        format: "PNG metadata",
        reason: e.to_string(),
    })?;
    let infotext = a1111_parameters(params);

    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(Cursor::new(&mut bytes), width, height);
    encoder.set_color(image.png_color());
    encoder.set_depth(png::BitDepth::Eight);
    // tEXt is Latin-1 only; A1111 (via PIL) switches to iTXt for anything else, and so do we.
    if infotext.chars().all(|c| (c as u32) < 256) {
        encoder
            .add_text_chunk(A1111_KEYWORD.into(), infotext)
            .map_err(fail)?;
    } else {
        encoder
            .add_itxt_chunk(A1111_KEYWORD.into(), infotext)
            .map_err(fail)?;
    }
    encoder
        .add_itxt_chunk(JSON_KEYWORD.into(), json)
        .map_err(fail)?;
    let mut writer = encoder.write_header().map_err(fail)?;
    writer.write_image_data(image.png_bytes()).map_err(fail)?;
    writer.finish().map_err(fail)?;
    Ok(bytes)
}

/// Saves `image` as a PNG carrying `params`, atomically.
pub fn save_png_with_metadata<I: PngPixels>(
    path: &Path,
    image: &I,
    params: &GenerationParams,
) -> Result<()> {
    let bytes = encode_png_with_metadata(image, params, &path.display().to_string())?;
    write_bytes_atomically(path, &bytes)
}

/// Reads the generation settings stored in a PNG: the `showo-studio` JSON if present, else the
/// A1111 `parameters` text (with the PNG's own size when the text has none).
pub fn read_png_metadata(path: &Path) -> Result<GenerationParams> {
    let bytes = std::fs::read(path).map_err(|e| MediaError::io(path, "reading the PNG", e))?;
    read_png_metadata_from_bytes(&bytes, &path.display().to_string())
}

/// [`read_png_metadata`] on in-memory PNG bytes; `name` is what errors call them.
pub fn read_png_metadata_from_bytes(bytes: &[u8], name: &str) -> Result<GenerationParams> {
    let corrupt = |e: png::DecodingError| MediaError::CorruptImage {
        file: name.to_owned(),
        reason: format!("PNG: {e}"),
    };
    let mut reader = png::Decoder::new(Cursor::new(bytes))
        .read_info()
        .map_err(corrupt)?;
    let mut texts = collect_texts(reader.info());
    if texts.is_empty() {
        // Text chunks may also follow the image data; decoding the image reaches them.
        let mut buffer = vec![0; reader.output_buffer_size().unwrap_or(0)];
        reader.next_frame(&mut buffer).map_err(corrupt)?;
        reader.finish().map_err(corrupt)?;
        texts = collect_texts(reader.info());
    }
    let find = |key: &str| {
        texts
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };

    if let Some(json) = find(JSON_KEYWORD) {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| MediaError::BadMetadata {
                file: name.to_owned(),
                reason: format!("'{JSON_KEYWORD}' chunk is not JSON: {e}"),
            })?;
        let version = value.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
        if version == 0 || version > METADATA_VERSION as u64 {
            return Err(MediaError::BadMetadata {
                file: name.to_owned(),
                reason: format!(
                    "'{JSON_KEYWORD}' chunk has version {version}; this build reads versions 1 to {METADATA_VERSION}"
                ),
            });
        }
        let versioned: VersionedParams =
            serde_json::from_value(value).map_err(|e| MediaError::BadMetadata {
                file: name.to_owned(),
                reason: format!("'{JSON_KEYWORD}' chunk: {e}"),
            })?;
        return Ok(versioned.params);
    }
    if let Some(text) = find(A1111_KEYWORD) {
        let mut params = parse_a1111_parameters(text, name)?;
        if !text.contains("Size:") {
            (params.width, params.height) = (reader.info().width, reader.info().height);
        }
        return Ok(params);
    }
    Err(MediaError::MissingMetadata {
        file: name.to_owned(),
    })
}

fn collect_texts(info: &png::Info) -> Vec<(String, String)> {
    let mut texts: Vec<(String, String)> = info
        .uncompressed_latin1_text
        .iter()
        .map(|t| (t.keyword.clone(), t.text.clone()))
        .collect();
    for z in &info.compressed_latin1_text {
        if let Ok(text) = z.get_text() {
            texts.push((z.keyword.clone(), text));
        }
    }
    for i in &info.utf8_text {
        if let Ok(text) = i.get_text() {
            texts.push((i.keyword.clone(), text));
        }
    }
    texts
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn full_params() -> GenerationParams {
        GenerationParams {
            prompt: "a red circle on the left, über: \"bright\"\nsecond line".into(),
            negative_prompt: "blurry, low quality".into(),
            seed: u64::MAX - 7,
            steps: 37,
            guidance: 6.5,
            width: 448,
            height: 480,
            model_id: "showlab/show-o2-1.5B".into(),
            model_hash: "1a2b3c4d5e".into(),
            mode: GenerationMode::Extend,
            mask: Some(MaskInfo {
                mask_hash: "sha256:abc".into(),
                feather_px: 6.0,
                dilate_cells: 1,
                repaint_jumps: Some(2),
                strength: Some(0.5),
            }),
            extension: Some(Growth {
                left: 16,
                right: 0,
                top: 0,
                bottom: 48,
            }),
            time_shift: 3.0,
            eta: 0.75,
            app_version: "0.1.0".into(),
        }
    }

    #[test]
    fn infotext_has_the_a1111_layout() {
        let params = GenerationParams {
            prompt: "a cat".into(),
            negative_prompt: String::new(),
            seed: 42,
            steps: 50,
            guidance: 5.0,
            width: 432,
            height: 432,
            model_id: "show-o2-1.5B".into(),
            model_hash: "abc123".into(),
            ..GenerationParams::default()
        };
        let text = a1111_parameters(&params);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "a cat");
        assert_eq!(lines[1], "Negative prompt: ");
        assert!(
            lines[2].starts_with(
                "Steps: 50, Sampler: \"Euler (flow, shift 3)\", CFG scale: 5, Seed: 42, Size: 432x432, Model hash: abc123, Model: show-o2-1.5B, Mode: text-to-image"
            ),
            "{}",
            lines[2]
        );
        assert!(!lines[2].contains("Eta"), "{}", lines[2]);
        // Ancestral steps: A1111's "Euler a" and its "Eta" field.
        let text = a1111_parameters(&GenerationParams { eta: 1.0, ..params });
        assert!(
            text.contains("Sampler: \"Euler a (flow, shift 3)\"") && text.contains(", Eta: 1"),
            "{text}"
        );
    }

    #[test]
    fn infotext_round_trips_every_field() {
        let params = full_params();
        let text = a1111_parameters(&params);
        let parsed = parse_a1111_parameters(&text, "test").unwrap();
        assert_eq!(parsed, params);
    }

    #[test]
    fn parses_a_real_a1111_infotext() {
        let text = "masterpiece, 1girl\nwith a second line\nNegative prompt: lowres, bad anatomy\nSteps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234567890, Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Lora hashes: \"add_detail: 7c6bad76eb54\", Version: v1.6.0";
        let p = parse_a1111_parameters(text, "a1111.png").unwrap();
        assert_eq!(p.prompt, "masterpiece, 1girl\nwith a second line");
        assert_eq!(p.negative_prompt, "lowres, bad anatomy");
        assert_eq!((p.steps, p.guidance, p.seed), (20, 7.0, 1234567890));
        assert_eq!((p.width, p.height), (512, 768));
        assert_eq!(p.model_hash, "6ce0161689");
        assert_eq!(p.model_id, "v1-5-pruned-emaonly");
        assert_eq!(p.mode, GenerationMode::TextToImage);
        assert_eq!(p.app_version, "v1.6.0");
        // An unquoted value with a comma (a careless writer) loses its tail, not the next fields.
        let p = parse_a1111_parameters(
            "p\nSteps: 8, Sampler: Euler (flow, shift 3), CFG scale: 4.5, Seed: 3",
            "x",
        )
        .unwrap();
        assert_eq!((p.steps, p.guidance, p.seed), (8, 4.5, 3));
        // No negative prompt line at all, as A1111 writes when it is empty.
        let p = parse_a1111_parameters("just a prompt\nSteps: 4, Seed: 9", "x").unwrap();
        assert_eq!(
            (p.prompt.as_str(), p.negative_prompt.as_str()),
            ("just a prompt", "")
        );
        assert_eq!((p.steps, p.seed), (4, 9));
    }

    #[test]
    fn bad_infotext_is_named() {
        let err = parse_a1111_parameters("a prompt only", "pic.png")
            .unwrap_err()
            .to_string();
        assert!(err.contains("pic.png") && err.contains("Steps"), "{err}");
        let err = parse_a1111_parameters("p\nSteps: 5, Seed: -3", "pic.png")
            .unwrap_err()
            .to_string();
        assert!(err.contains("Seed: -3"), "{err}");
    }

    #[test]
    fn png_round_trip_restores_every_field() {
        let image = image::RgbImage::from_fn(8, 6, |x, y| image::Rgb([x as u8, y as u8, 3]));
        let params = full_params();
        let bytes = encode_png_with_metadata(&image, &params, "mem").unwrap();
        assert_eq!(read_png_metadata_from_bytes(&bytes, "mem").unwrap(), params);
        // The pixels are intact too.
        let decoded = image::load_from_memory(&bytes).unwrap().to_rgb8();
        assert_eq!(decoded, image);
    }
}
