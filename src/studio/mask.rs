//! The mask painter: brush and eraser with soft edges, invert, clear, show/hide, colour and
//! opacity, unlimited undo/redo, PNG save/load.
//!
//! The mask is canvas-sized, 255 = regenerate, 0 = keep (the convention of `media::mask`).
//! Undo keeps the list of edits (strokes are stored as their points, not as pixels) and
//! rebuilds the mask by replaying from the nearest checkpoint; a full snapshot every
//! [`CHECKPOINT_EVERY`] edits keeps that fast however long the history grows.

use std::path::Path;
use std::sync::Arc;

use egui::{Color32, Ui};
use image::{GrayImage, Luma};

use crate::media::Growth;

/// A snapshot of the mask every this many edits bounds the replay work of an undo.
const CHECKPOINT_EVERY: usize = 16;

/// Brush size limits, in canvas pixels (diameter).
const MIN_BRUSH: f32 = 1.0;
const MAX_BRUSH: f32 = 1024.0;
/// `[` and `]` change the brush size by this factor.
const BRUSH_STEP: f32 = 1.25;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MaskTool {
    Brush,
    Eraser,
}

/// One stroke, as the pointer path in canvas pixels plus the brush it was painted with.
#[derive(Debug, Clone, PartialEq)]
pub struct BrushStroke {
    pub tool: MaskTool,
    /// Radius in canvas pixels.
    pub radius: f32,
    /// 1.0 = hard edge; lower values fade the outer part of the radius.
    pub hardness: f32,
    pub points: Vec<[f32; 2]>,
}

/// An undoable change to the mask.
#[derive(Debug, Clone, PartialEq)]
pub enum MaskEdit {
    Stroke(BrushStroke),
    Invert,
    Clear,
    /// A loaded mask (or any other wholesale replacement).
    Replace(Arc<GrayImage>),
}

/// Something went wrong loading or saving a mask; the message names the file.
#[derive(Debug, thiserror::Error)]
pub enum MaskError {
    #[error("{0}")]
    Media(#[from] crate::media::MediaError),
    #[error(
        "mask {file} is {width}x{height} but the canvas is {canvas_width}x{canvas_height}; expected a mask of the canvas size"
    )]
    WrongSize {
        file: String,
        width: u32,
        height: u32,
        canvas_width: u32,
        canvas_height: u32,
    },
    #[error("there is no canvas to {0} a mask for; open or generate an image first")]
    NoCanvas(&'static str),
    #[error("encoding the mask PNG {file} failed: {reason}")]
    Encode { file: String, reason: String },
}

pub struct MaskPainter {
    mask: Option<Arc<GrayImage>>,
    base: Option<Arc<GrayImage>>,
    edits: Vec<MaskEdit>,
    redo: Vec<MaskEdit>,
    /// (number of edits applied, mask after them), ascending.
    checkpoints: Vec<(usize, Arc<GrayImage>)>,
    stroke: Option<BrushStroke>,
    version: u64,
    nonempty: Option<bool>,

    pub tool: MaskTool,
    /// Brush diameter in canvas pixels.
    pub brush_size: f32,
    pub hardness: f32,
    /// Soft edge of the inpainting blend, in pixels (sent with inpaint jobs).
    pub feather_px: f32,
    /// Harmonising (RePaint) jumps per step for inpaint and extend jobs; `None` = the model's.
    pub repaint_jumps: Option<usize>,
    /// Denoising strength for inpaint and extend jobs, in (0, 1]; `None` = the model's.
    pub strength: Option<f32>,
    pub visible: bool,
    pub colour: Color32,
    pub opacity: f32,
    /// Whether primary drags on the canvas paint (otherwise they pan).
    pub painting: bool,
}

/// Most harmonising passes the panel offers (5 passes already make a job 6x slower).
pub const MAX_REPAINT_JUMPS: usize = 5;

/// Least denoising strength the panel offers (below it a job changes almost nothing).
pub const MIN_STRENGTH: f32 = 0.05;

impl Default for MaskPainter {
    fn default() -> Self {
        MaskPainter {
            mask: None,
            base: None,
            edits: Vec::new(),
            redo: Vec::new(),
            checkpoints: Vec::new(),
            stroke: None,
            version: 0,
            nonempty: None,
            tool: MaskTool::Brush,
            brush_size: 32.0,
            hardness: 0.8,
            feather_px: 8.0,
            repaint_jumps: None,
            strength: None,
            visible: true,
            colour: Color32::from_rgb(255, 40, 120),
            opacity: 0.5,
            painting: false,
        }
    }
}

/// What the mask section of the tool panel asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskAction {
    Save,
    Load,
    Describe,
}

impl MaskPainter {
    /// Starts over with an empty mask of the canvas size (a new document).
    pub fn reset(&mut self, width: u32, height: u32) {
        self.set_base(GrayImage::new(width, height));
    }

    /// Starts over with `mask` as the un-undoable base (a reopened project).
    pub fn set_base(&mut self, mask: GrayImage) {
        let mask = Arc::new(mask);
        self.base = Some(mask.clone());
        self.mask = Some(mask);
        self.edits.clear();
        self.redo.clear();
        self.checkpoints.clear();
        self.stroke = None;
        self.changed();
    }

    /// Follows a canvas extension: the kept area keeps its mask, the new area starts unmasked.
    /// The history restarts here because older edits were made on the smaller canvas.
    pub fn pad(&mut self, growth: Growth) {
        let Some(mask) = &self.mask else { return };
        let (w, h) = mask.dimensions();
        let mut padded = GrayImage::new(
            w + growth.left + growth.right,
            h + growth.top + growth.bottom,
        );
        image::imageops::replace(
            &mut padded,
            mask.as_ref(),
            growth.left.into(),
            growth.top.into(),
        );
        self.set_base(padded);
    }

    pub fn mask(&self) -> Option<&GrayImage> {
        self.mask.as_deref()
    }

    /// A shared handle for the renderer (no copy).
    pub fn mask_arc(&self) -> Option<Arc<GrayImage>> {
        self.mask.clone()
    }

    /// Changes whenever the mask pixels change.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// True if any pixel is marked for regeneration.
    pub fn has_content(&mut self) -> bool {
        if self.nonempty.is_none() {
            self.nonempty = Some(self.mask.as_ref().is_some_and(|m| m.iter().any(|&v| v > 0)));
        }
        self.nonempty.unwrap_or(false)
    }

    pub fn can_undo(&self) -> bool {
        !self.edits.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    pub fn undo_depth(&self) -> usize {
        self.edits.len()
    }

    // ---- painting -------------------------------------------------------------------------

    pub fn begin_stroke(&mut self, at: [f32; 2]) {
        if self.mask.is_none() {
            return;
        }
        let stroke = BrushStroke {
            tool: self.tool,
            radius: self.brush_size / 2.0,
            hardness: self.hardness,
            points: vec![at],
        };
        if let Some(mask) = self.mask.as_mut() {
            stamp(Arc::make_mut(mask), &stroke, at);
        }
        self.stroke = Some(stroke);
        self.changed();
    }

    pub fn extend_stroke(&mut self, to: [f32; 2]) {
        let (Some(stroke), Some(mask)) = (self.stroke.as_mut(), self.mask.as_mut()) else {
            return;
        };
        let from = *stroke.points.last().unwrap_or(&to);
        if from == to {
            return;
        }
        stroke.points.push(to);
        stamp_segment(Arc::make_mut(mask), stroke, from, to);
        self.changed();
    }

    /// Ends the stroke in progress and records it for undo.
    pub fn end_stroke(&mut self) {
        if let Some(stroke) = self.stroke.take() {
            // The pixels are already painted; only record the edit.
            self.record(MaskEdit::Stroke(stroke));
        }
    }

    pub fn is_stroking(&self) -> bool {
        self.stroke.is_some()
    }

    pub fn invert(&mut self) {
        self.edit(MaskEdit::Invert);
    }

    pub fn clear(&mut self) {
        self.edit(MaskEdit::Clear);
    }

    pub fn undo(&mut self) {
        self.end_stroke();
        let Some(edit) = self.edits.pop() else { return };
        self.redo.push(edit);
        self.rebuild();
    }

    pub fn redo(&mut self) {
        self.end_stroke();
        let Some(edit) = self.redo.pop() else { return };
        if let Some(mask) = self.mask.as_mut() {
            apply(Arc::make_mut(mask), &edit);
        }
        self.push_edit(edit);
        self.changed();
    }

    pub fn grow_brush(&mut self) {
        self.brush_size = (self.brush_size * BRUSH_STEP).min(MAX_BRUSH);
    }

    pub fn shrink_brush(&mut self) {
        self.brush_size = (self.brush_size / BRUSH_STEP).max(MIN_BRUSH);
    }

    // ---- files ----------------------------------------------------------------------------

    /// Writes the mask as an 8-bit greyscale PNG (white = regenerate), atomically.
    pub fn save_png(&self, path: &Path) -> Result<(), MaskError> {
        let mask = self.mask.as_ref().ok_or(MaskError::NoCanvas("save"))?;
        let bytes = encode_gray_png(mask).map_err(|reason| MaskError::Encode {
            file: path.display().to_string(),
            reason,
        })?;
        crate::media::write_bytes_atomically(path, &bytes)?;
        Ok(())
    }

    /// Loads a mask PNG as an undoable edit; it must have the canvas size.
    pub fn load_png(&mut self, path: &Path) -> Result<(), MaskError> {
        let current = self.mask.as_ref().ok_or(MaskError::NoCanvas("load"))?;
        let loaded = crate::media::load_mask(path)?;
        if loaded.dimensions() != current.dimensions() {
            return Err(MaskError::WrongSize {
                file: path.display().to_string(),
                width: loaded.width(),
                height: loaded.height(),
                canvas_width: current.width(),
                canvas_height: current.height(),
            });
        }
        self.edit(MaskEdit::Replace(Arc::new(loaded)));
        Ok(())
    }

    // ---- ui -------------------------------------------------------------------------------

    /// Harmonising passes for inpaint and extend: the model's own number, or a chosen one.
    fn repaint_ui(&mut self, ui: &mut Ui) {
        model_or_chosen(
            ui,
            &mut self.repaint_jumps,
            (
                "Auto harmonise",
                "Use the model's own number of harmonising passes",
            ),
            2,
            |jumps| egui::Slider::new(jumps, 0..=MAX_REPAINT_JUMPS).text("Harmonise passes"),
            "Each pass re-noises a denoising step and redoes it, so the new area agrees with \
            the kept image (fewer seams, truer colours); a job takes 1 + passes times as long",
        );
    }

    /// Denoising strength for inpaint and extend: the model's own, or a chosen one.
    fn strength_ui(&mut self, ui: &mut Ui) {
        model_or_chosen(
            ui,
            &mut self.strength,
            (
                "Auto strength",
                "Use the model's own denoising strength for inpaint and extend",
            ),
            0.75,
            |strength| egui::Slider::new(strength, MIN_STRENGTH..=1.0).text("Strength"),
            "How far the area under the mask (or the repeated edge, when extending) is taken \
            back towards noise before it is redrawn: 1 redraws it from scratch, lower keeps \
            more of its colours and layout",
        );
    }

    /// The mask section of the tool panel.
    pub fn ui(&mut self, ui: &mut Ui) -> Option<MaskAction> {
        let mut action = None;
        let has_mask = self.mask.is_some();
        ui.add_enabled_ui(has_mask, |ui| {
            ui.checkbox(&mut self.painting, "Paint mask")
                .on_hover_text("Primary drags on the canvas paint the mask instead of panning");
            ui.horizontal(|ui| {
                ui.selectable_value(&mut self.tool, MaskTool::Brush, "Brush");
                ui.selectable_value(&mut self.tool, MaskTool::Eraser, "Eraser");
            });
            ui.add(
                egui::Slider::new(&mut self.brush_size, MIN_BRUSH..=MAX_BRUSH)
                    .logarithmic(true)
                    .text("Brush size"),
            )
            .on_hover_text("[ and ] change the size");
            ui.add(egui::Slider::new(&mut self.hardness, 0.0..=1.0).text("Hardness"));
            ui.add(egui::Slider::new(&mut self.feather_px, 0.0..=64.0).text("Feather"))
                .on_hover_text(
                    "Soft edge, in pixels, where the inpainted area meets the kept image",
                );
            self.repaint_ui(ui);
            self.strength_ui(ui);
            ui.horizontal(|ui| {
                if ui.button("Undo mask").on_hover_text("Ctrl+Z").clicked() {
                    self.undo();
                }
                if ui
                    .button("Redo mask")
                    .on_hover_text("Ctrl+Shift+Z")
                    .clicked()
                {
                    self.redo();
                }
            });
            ui.horizontal(|ui| {
                if ui.button("Invert mask").clicked() {
                    self.invert();
                }
                if ui.button("Clear mask").clicked() {
                    self.clear();
                }
            });
            ui.horizontal(|ui| {
                ui.checkbox(&mut self.visible, "Show mask");
                let label = ui.label("Mask colour");
                ui.color_edit_button_srgba(&mut self.colour)
                    .labelled_by(label.id);
            });
            ui.add(egui::Slider::new(&mut self.opacity, 0.0..=1.0).text("Mask opacity"));
            ui.horizontal(|ui| {
                if ui.button("Save mask").clicked() {
                    action = Some(MaskAction::Save);
                }
                if ui.button("Load mask").clicked() {
                    action = Some(MaskAction::Load);
                }
            });
            if ui
                .button("Describe the mask")
                .on_hover_text("Let the model draft an inpainting prompt from what it sees there")
                .clicked()
            {
                action = Some(MaskAction::Describe);
            }
        });
        action
    }

    // ---- internals ------------------------------------------------------------------------

    fn edit(&mut self, edit: MaskEdit) {
        self.end_stroke();
        let Some(mask) = self.mask.as_mut() else {
            return;
        };
        apply(Arc::make_mut(mask), &edit);
        self.record(edit);
        self.changed();
    }

    /// Records an already applied edit; a new edit forgets the redo branch.
    fn record(&mut self, edit: MaskEdit) {
        self.redo.clear();
        self.push_edit(edit);
    }

    fn push_edit(&mut self, edit: MaskEdit) {
        self.edits.push(edit);
        if self.edits.len().is_multiple_of(CHECKPOINT_EVERY)
            && let Some(mask) = &self.mask
        {
            self.checkpoints.push((self.edits.len(), mask.clone()));
        }
    }

    /// Recomputes the mask from the nearest checkpoint (or the base) and the edits after it.
    fn rebuild(&mut self) {
        let applied = self.edits.len();
        self.checkpoints.retain(|(n, _)| *n <= applied);
        let (start, from) = match self.checkpoints.last() {
            Some((n, mask)) => (*n, mask.clone()),
            None => match &self.base {
                Some(base) => (0, base.clone()),
                None => return,
            },
        };
        let mut mask = from.as_ref().clone();
        for edit in &self.edits[start..] {
            apply(&mut mask, edit);
        }
        self.mask = Some(Arc::new(mask));
        self.changed();
    }

    fn changed(&mut self) {
        self.version += 1;
        self.nonempty = None;
    }
}

fn apply(mask: &mut GrayImage, edit: &MaskEdit) {
    match edit {
        MaskEdit::Stroke(stroke) => {
            let Some(&first) = stroke.points.first() else {
                return;
            };
            stamp(mask, stroke, first);
            for pair in stroke.points.windows(2) {
                stamp_segment(mask, stroke, pair[0], pair[1]);
            }
        }
        MaskEdit::Invert => mask.iter_mut().for_each(|v| *v = 255 - *v),
        MaskEdit::Clear => mask.iter_mut().for_each(|v| *v = 0),
        MaskEdit::Replace(new) => {
            if new.dimensions() == mask.dimensions() {
                mask.copy_from_slice(new.as_raw());
            }
        }
    }
}

/// Stamps along `from → to` (excluding `from`, which the previous stamp covered), spaced a
/// quarter radius apart so the stroke has no gaps.
fn stamp_segment(mask: &mut GrayImage, stroke: &BrushStroke, from: [f32; 2], to: [f32; 2]) {
    let (dx, dy) = (to[0] - from[0], to[1] - from[1]);
    let length = (dx * dx + dy * dy).sqrt();
    let spacing = (stroke.radius * 0.25).max(0.5);
    let count = (length / spacing).ceil().max(1.0) as usize;
    for i in 1..=count {
        let t = i as f32 / count as f32;
        stamp(mask, stroke, [from[0] + dx * t, from[1] + dy * t]);
    }
}

/// One round dab. Coverage is 1 inside `hardness × radius` and falls smoothly to 0 at the
/// radius; the brush raises pixels to the coverage, the eraser lowers them.
fn stamp(mask: &mut GrayImage, stroke: &BrushStroke, at: [f32; 2]) {
    let radius = stroke.radius.max(0.5);
    let (w, h) = mask.dimensions();
    let x0 = (at[0] - radius).floor().max(0.0) as u32;
    let y0 = (at[1] - radius).floor().max(0.0) as u32;
    let x1 = ((at[0] + radius).ceil().max(0.0) as u32).min(w);
    let y1 = ((at[1] + radius).ceil().max(0.0) as u32).min(h);
    let hard = stroke.hardness.clamp(0.0, 1.0);
    for y in y0..y1 {
        for x in x0..x1 {
            // Distance from the pixel centre.
            let (px, py) = (x as f32 + 0.5 - at[0], y as f32 + 0.5 - at[1]);
            let d = (px * px + py * py).sqrt() / radius;
            let coverage = if d <= hard {
                1.0
            } else if d >= 1.0 {
                0.0
            } else {
                let t = 1.0 - (d - hard) / (1.0 - hard);
                t * t * (3.0 - 2.0 * t)
            };
            if coverage <= 0.0 {
                continue;
            }
            let value = (coverage * 255.0).round() as u8;
            let Luma([old]) = *mask.get_pixel(x, y);
            let new = match stroke.tool {
                MaskTool::Brush => old.max(value),
                MaskTool::Eraser => old.min(255 - value),
            };
            mask.put_pixel(x, y, Luma([new]));
        }
    }
}

fn encode_gray_png(mask: &GrayImage) -> Result<Vec<u8>, String> {
    use image::ImageEncoder;
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(
            mask.as_raw(),
            mask.width(),
            mask.height(),
            image::ExtendedColorType::L8,
        )
        .map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// A job setting that is either the model's own (`None`, "Auto" ticked) or chosen on a slider;
/// unticking "Auto" starts the slider at `first`.
fn model_or_chosen<T>(
    ui: &mut Ui,
    value: &mut Option<T>,
    (auto_label, auto_help): (&str, &str),
    first: T,
    slider: impl FnOnce(&mut T) -> egui::Slider<'_>,
    help: &str,
) {
    let mut auto = value.is_none();
    if ui
        .checkbox(&mut auto, auto_label)
        .on_hover_text(auto_help)
        .changed()
    {
        *value = if auto { None } else { Some(first) };
    }
    if let Some(chosen) = value {
        ui.add(slider(chosen)).on_hover_text(help);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn painter() -> MaskPainter {
        let mut p = MaskPainter::default();
        p.reset(64, 64);
        p.brush_size = 8.0;
        p.hardness = 1.0;
        p
    }

    fn drag(p: &mut MaskPainter, from: [f32; 2], to: [f32; 2]) {
        p.begin_stroke(from);
        p.extend_stroke(to);
        p.end_stroke();
    }

    fn at(p: &MaskPainter, x: u32, y: u32) -> u8 {
        p.mask().unwrap().get_pixel(x, y).0[0]
    }

    #[test]
    fn a_stroke_covers_its_path_and_nothing_far_away() {
        let mut p = painter();
        drag(&mut p, [8.0, 32.0], [56.0, 32.0]);
        for x in 8..56 {
            assert_eq!(at(&p, x, 32), 255, "gap at x={x}");
        }
        assert_eq!(at(&p, 32, 10), 0);
        assert!(p.has_content());
    }

    #[test]
    fn soft_brush_fades_towards_the_rim() {
        let mut p = painter();
        p.brush_size = 20.0;
        p.hardness = 0.0;
        p.begin_stroke([32.0, 32.0]);
        p.end_stroke();
        let centre = at(&p, 32, 32);
        let rim = at(&p, 40, 32);
        assert!(
            centre > 200 && rim > 0 && rim < centre,
            "centre {centre}, rim {rim}"
        );
    }

    #[test]
    fn undo_and_redo_walk_the_history_exactly() {
        let mut p = painter();
        let empty = p.mask().unwrap().clone();
        drag(&mut p, [8.0, 8.0], [56.0, 8.0]);
        let one = p.mask().unwrap().clone();
        p.tool = MaskTool::Eraser;
        drag(&mut p, [32.0, 0.0], [32.0, 63.0]);
        let two = p.mask().unwrap().clone();
        assert_ne!(one, two);
        p.undo();
        assert_eq!(p.mask().unwrap(), &one);
        p.undo();
        assert_eq!(p.mask().unwrap(), &empty);
        p.redo();
        assert_eq!(p.mask().unwrap(), &one);
        p.redo();
        assert_eq!(p.mask().unwrap(), &two);
        assert!(!p.can_redo());
    }

    #[test]
    fn long_histories_undo_through_checkpoints() {
        let mut p = painter();
        let mut states = vec![p.mask().unwrap().clone()];
        for i in 0..40 {
            let y = (i % 60) as f32 + 2.0;
            drag(&mut p, [2.0, y], [60.0, y]);
            if i % 7 == 3 {
                p.invert();
                states.push(p.mask().unwrap().clone());
            }
            states.push(p.mask().unwrap().clone());
        }
        // Walk back to the very start through every checkpoint.
        while p.can_undo() {
            p.undo();
        }
        assert_eq!(p.mask().unwrap(), &states[0]);
        while p.can_redo() {
            p.redo();
        }
        assert_eq!(p.mask().unwrap(), states.last().unwrap());
    }

    #[test]
    fn a_new_edit_forgets_the_redo_branch() {
        let mut p = painter();
        drag(&mut p, [8.0, 8.0], [20.0, 8.0]);
        p.undo();
        p.invert();
        assert!(!p.can_redo());
        assert_eq!(at(&p, 10, 8), 255);
        assert_eq!(at(&p, 40, 40), 255);
    }

    #[test]
    fn invert_clear_and_pad() {
        let mut p = painter();
        p.invert();
        assert_eq!(at(&p, 0, 0), 255);
        p.pad(Growth {
            left: 16,
            right: 0,
            top: 0,
            bottom: 0,
        });
        assert_eq!(p.mask().unwrap().dimensions(), (80, 64));
        assert_eq!(at(&p, 0, 0), 0);
        assert_eq!(at(&p, 16, 0), 255);
        p.clear();
        assert!(!p.has_content());
    }

    #[test]
    fn brush_size_keys_scale_within_limits() {
        let mut p = painter();
        p.brush_size = 10.0;
        p.grow_brush();
        assert!((p.brush_size - 12.5).abs() < 1e-4);
        for _ in 0..100 {
            p.shrink_brush();
        }
        assert_eq!(p.brush_size, MIN_BRUSH);
    }

    #[test]
    fn png_round_trip_and_size_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mask.png");
        let mut p = painter();
        drag(&mut p, [8.0, 8.0], [40.0, 40.0]);
        p.save_png(&path).unwrap();
        let saved = p.mask().unwrap().clone();
        p.clear();
        p.load_png(&path).unwrap();
        assert_eq!(p.mask().unwrap(), &saved);
        p.undo();
        assert!(!p.has_content(), "loading is undoable");

        let mut other = MaskPainter::default();
        other.reset(10, 10);
        let err = other.load_png(&path).unwrap_err().to_string();
        assert!(err.contains("64x64") && err.contains("10x10"), "{err}");
    }
}
