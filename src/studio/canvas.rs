//! The canvas: layers composited into the current image, candidate results in a staging
//! strip, live previews of the flow steps in place, zoom/pan, fit/100%, and extension by
//! dragging the edges (snapped to the model grid, with a live size readout).
//!
//! Coordinates: "canvas pixels" put the document at (0, 0)–(W, H); a scene (an extended
//! candidate, say) may reach outside that. The view maps canvas pixels to screen points with
//! `zoom` (points per pixel) and `pan` (points the document centre is moved from the area
//! centre).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use egui::{
    Color32, CursorIcon, Key, PointerButton, Pos2, Rect, Response, Sense, Stroke, StrokeKind,
    TextureHandle, TextureOptions, Ui, Vec2, pos2, vec2,
};
use image::{GrayImage, RgbaImage};

use super::mask::MaskPainter;
use crate::engine::JobId;
use crate::media::{CanvasPlan, GenerationParams, Growth, plan_canvas_extension};

/// Screen distance (points) from an edge within which a press grabs it.
const HANDLE_REACH: f32 = 8.0;
/// Checkerboard cell size in points.
pub const CHECKER_POINTS: f32 = 8.0;
const MIN_ZOOM: f32 = 0.02;
const MAX_ZOOM: f32 = 64.0;
/// At most this many preview frames are kept per job for the trajectory GIF.
const MAX_TRAJECTORY: usize = 64;

static NEXT_IMAGE_VERSION: AtomicU64 = AtomicU64::new(1);

/// An image with an identity, so renderers upload it once and not every frame.
#[derive(Clone, Debug)]
pub struct VersionedImage {
    pub image: Arc<RgbaImage>,
    pub version: u64,
}

impl VersionedImage {
    pub fn new(image: RgbaImage) -> Self {
        VersionedImage {
            image: Arc::new(image),
            version: NEXT_IMAGE_VERSION.fetch_add(1, Ordering::Relaxed),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Layer {
    pub name: String,
    pub image: RgbaImage,
    pub visible: bool,
}

/// Where a candidate came from, which decides how accepting it changes the document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CandidateOrigin {
    Generate,
    Inpaint,
    /// The candidate is the document grown by this much.
    Extend(Growth),
}

#[derive(Clone, Debug)]
pub struct Candidate {
    pub image: VersionedImage,
    pub params: GenerationParams,
    pub origin: CandidateOrigin,
}

/// An accepted result, kept for the project file and the history GIF.
#[derive(Clone, Debug)]
pub struct HistoryEntry {
    pub label: String,
    pub params: Option<GenerationParams>,
    pub image: Arc<RgbaImage>,
}

/// The newest preview of a running job, shown in place of the image it will become.
#[derive(Clone, Debug)]
pub struct LivePreview {
    pub job: JobId,
    pub step: u32,
    pub total: u32,
    pub image: VersionedImage,
    /// Where the final image will sit, in canvas pixels.
    pub target: Rect,
}

/// What the document change after accepting a candidate means for the mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// Same size: the mask stays as it is (kept across retries).
    SameSize,
    /// The canvas grew: pad the mask by this much.
    Extended(Growth),
    /// A new document of this size: the mask starts empty.
    NewDocument { width: u32, height: u32 },
}

/// Which edges an extension drag moves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Sides {
    left: bool,
    right: bool,
    top: bool,
    bottom: bool,
}

impl Sides {
    fn any(self) -> bool {
        self.left || self.right || self.top || self.bottom
    }
}

#[derive(Clone, Copy, Debug)]
enum DragMode {
    Pan,
    Edge {
        sides: Sides,
        start: Pos2,
        start_growth: Growth,
    },
    Paint,
}

/// What the canvas asked the app to do this frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CanvasOutput {
    /// Run the extension job on the dragged area.
    pub extend: bool,
    pub accept: bool,
    pub keep_both: bool,
}

/// What one frame of the canvas draws, for either renderer.
#[derive(Clone, Debug)]
pub struct CanvasFrame {
    /// The widget's screen rect.
    pub area: Rect,
    /// Screen position of canvas pixel (0, 0).
    pub origin: Pos2,
    pub zoom: f32,
    /// The image shown and where it sits, in canvas pixels.
    pub scene: Option<(VersionedImage, Rect)>,
    /// Document size in canvas pixels (the mask covers exactly this).
    pub document: Option<Vec2>,
    pub mask: Option<MaskOverlay>,
    /// The snapped extended canvas, in canvas pixels, while an extension is pending.
    pub extension: Option<Rect>,
}

#[derive(Clone, Debug)]
pub struct MaskOverlay {
    pub mask: Arc<GrayImage>,
    pub version: u64,
    pub colour: Color32,
    pub opacity: f32,
}

impl CanvasFrame {
    pub fn to_screen(&self, canvas_px: Rect) -> Rect {
        Rect::from_min_max(
            self.origin + canvas_px.min.to_vec2() * self.zoom,
            self.origin + canvas_px.max.to_vec2() * self.zoom,
        )
    }
}

pub struct Canvas {
    layers: Vec<Layer>,
    pub active_layer: usize,
    composite: Option<VersionedImage>,
    pub staging: Vec<Candidate>,
    pub staged: usize,
    pub show_previews: bool,
    pub preview: Option<LivePreview>,
    /// Previews of the running job (then of the last finished one) plus its result.
    pub trajectory: Vec<Arc<RgbaImage>>,
    trajectory_job: Option<JobId>,
    pub history: Vec<HistoryEntry>,
    pub zoom: f32,
    pub pan: Vec2,
    fit_requested: bool,
    /// Growth asked for by dragging, before snapping.
    pub requested_growth: Growth,
    pub pixel_grid: u32,
    drag: Option<DragMode>,
    last_frame: Option<CanvasFrame>,
    textures: CpuTextures,
    /// Staging-strip thumbnails by image version.
    thumbnails: HashMap<u64, TextureHandle>,
}

impl Default for Canvas {
    fn default() -> Self {
        Canvas {
            layers: Vec::new(),
            active_layer: 0,
            composite: None,
            staging: Vec::new(),
            staged: 0,
            show_previews: true,
            preview: None,
            trajectory: Vec::new(),
            trajectory_job: None,
            history: Vec::new(),
            zoom: 1.0,
            pan: Vec2::ZERO,
            fit_requested: true,
            requested_growth: Growth::default(),
            pixel_grid: crate::media::PIXEL_GRID,
            drag: None,
            last_frame: None,
            textures: CpuTextures::default(),
            thumbnails: HashMap::new(),
        }
    }
}

impl Canvas {
    // ---- document -------------------------------------------------------------------------

    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Replaces the document with one layer.
    pub fn new_document(&mut self, name: &str, image: RgbaImage) {
        self.layers = vec![Layer {
            name: name.to_owned(),
            image,
            visible: true,
        }];
        self.active_layer = 0;
        self.requested_growth = Growth::default();
        self.fit_requested = true;
        self.recomposite();
    }

    /// Replaces all layers (reopening a project).
    pub fn set_layers(&mut self, layers: Vec<Layer>, active: usize) {
        self.active_layer = active.min(layers.len().saturating_sub(1));
        self.layers = layers;
        self.fit_requested = true;
        self.recomposite();
    }

    /// Adds a layer on top if it has the document's size; otherwise starts a new document.
    /// Returns true if a new document was started.
    pub fn add_image(&mut self, name: &str, image: RgbaImage) -> bool {
        if self.document_size() == Some(image.dimensions()) {
            self.layers.push(Layer {
                name: name.to_owned(),
                image,
                visible: true,
            });
            self.active_layer = self.layers.len() - 1;
            self.recomposite();
            false
        } else {
            self.new_document(name, image);
            true
        }
    }

    pub fn document_size(&self) -> Option<(u32, u32)> {
        self.layers.first().map(|l| l.image.dimensions())
    }

    /// The visible layers composited, i.e. the current image.
    pub fn composite(&self) -> Option<&RgbaImage> {
        self.composite.as_ref().map(|c| c.image.as_ref())
    }

    /// What the canvas shows: the staged candidate while one is up for review, else the
    /// composite. "Attach canvas" sends this, so a fresh result can be asked about before it
    /// is accepted.
    pub fn visible_image(&self) -> Option<&RgbaImage> {
        self.staged_candidate()
            .map(|c| c.image.image.as_ref())
            .or_else(|| self.composite())
    }

    /// Changes whenever the composite changes.
    pub fn composite_version(&self) -> u64 {
        self.composite.as_ref().map_or(0, |c| c.version)
    }

    pub fn composite_arc(&self) -> Option<Arc<RgbaImage>> {
        self.composite.as_ref().map(|c| c.image.clone())
    }

    pub fn set_layer_visible(&mut self, index: usize, visible: bool) {
        if let Some(layer) = self.layers.get_mut(index) {
            layer.visible = visible;
            self.recomposite();
        }
    }

    fn recomposite(&mut self) {
        let Some((w, h)) = self.document_size() else {
            self.composite = None;
            return;
        };
        let mut out = RgbaImage::new(w, h);
        for layer in self.layers.iter().filter(|l| l.visible) {
            image::imageops::overlay(&mut out, &layer.image, 0, 0);
        }
        self.composite = Some(VersionedImage::new(out));
    }

    // ---- previews -------------------------------------------------------------------------

    /// Shows a preview of `job` in place of its target (canvas pixels).
    pub fn set_preview(&mut self, job: JobId, step: u32, image: RgbaImage, target: Rect) {
        let total = self
            .preview
            .as_ref()
            .filter(|p| p.job == job)
            .map_or(0, |p| p.total);
        if self.trajectory_job != Some(job) {
            self.trajectory.clear();
            self.trajectory_job = Some(job);
        }
        let image = VersionedImage::new(image);
        if self.trajectory.len() >= MAX_TRAJECTORY {
            // Keep every other frame so the GIF still spans the whole run.
            let mut keep = false;
            self.trajectory.retain(|_| {
                keep = !keep;
                keep
            });
        }
        self.trajectory.push(image.image.clone());
        self.preview = Some(LivePreview {
            job,
            step,
            total,
            image,
            target,
        });
    }

    pub fn set_progress(&mut self, job: JobId, step: u32, total: u32) {
        if let Some(p) = self.preview.as_mut().filter(|p| p.job == job) {
            p.step = step;
            p.total = total;
        }
    }

    /// Drops the preview of `job` (finished, failed or cancelled).
    pub fn end_preview(&mut self, job: JobId) {
        if self.preview.as_ref().is_some_and(|p| p.job == job) {
            self.preview = None;
        }
    }

    // ---- staging --------------------------------------------------------------------------

    /// Puts results in the staging strip and shows the first of them.
    pub fn stage(
        &mut self,
        job: JobId,
        images: Vec<RgbaImage>,
        params: GenerationParams,
        origin: CandidateOrigin,
    ) {
        self.end_preview(job);
        if self.trajectory_job == Some(job)
            && let Some(first) = images.first()
        {
            self.trajectory.push(Arc::new(first.clone()));
        }
        let first_new = self.staging.len();
        for (i, image) in images.into_iter().enumerate() {
            let mut params = params.clone();
            params.seed = params.seed.wrapping_add(i as u64);
            self.staging.push(Candidate {
                image: VersionedImage::new(image),
                params,
                origin,
            });
        }
        self.staged = first_new.min(self.staging.len().saturating_sub(1));
        self.fit_requested = true;
    }

    pub fn staged_candidate(&self) -> Option<&Candidate> {
        self.staging.get(self.staged)
    }

    pub fn next_candidate(&mut self) {
        if !self.staging.is_empty() {
            self.staged = (self.staged + 1) % self.staging.len();
        }
    }

    pub fn previous_candidate(&mut self) {
        if !self.staging.is_empty() {
            self.staged = (self.staged + self.staging.len() - 1) % self.staging.len();
        }
    }

    pub fn discard_candidate(&mut self) {
        if self.staged < self.staging.len() {
            self.staging.remove(self.staged);
            self.staged = self.staged.min(self.staging.len().saturating_sub(1));
            self.fit_requested = true;
        }
    }

    /// Makes the staged candidate the current image (replacing the active layer, growing
    /// the canvas for an extension). Returns what that means for the mask.
    pub fn accept_candidate(&mut self) -> Option<Accepted> {
        self.take_candidate(false)
    }

    /// Keeps the current image and adds the candidate as a new layer above it.
    pub fn keep_both(&mut self) -> Option<Accepted> {
        self.take_candidate(true)
    }

    fn take_candidate(&mut self, as_new_layer: bool) -> Option<Accepted> {
        if self.staged >= self.staging.len() {
            return None;
        }
        let candidate = self.staging.remove(self.staged);
        self.staged = self.staged.min(self.staging.len().saturating_sub(1));
        let image = candidate.image.image.as_ref().clone();
        let label = match candidate.origin {
            CandidateOrigin::Generate => "Generated",
            CandidateOrigin::Inpaint => "Inpainted",
            CandidateOrigin::Extend(_) => "Extended",
        };
        self.history.push(HistoryEntry {
            label: format!("{label}: {}", candidate.params.prompt),
            params: Some(candidate.params.clone()),
            image: candidate.image.image.clone(),
        });
        let accepted = match (candidate.origin, self.document_size()) {
            (CandidateOrigin::Extend(growth), Some(_)) => {
                for layer in &mut self.layers {
                    layer.image = pad(&layer.image, growth);
                }
                self.requested_growth = Growth::default();
                self.fit_requested = true;
                Accepted::Extended(growth)
            }
            (_, Some(size)) if size == image.dimensions() => Accepted::SameSize,
            _ => {
                let (width, height) = image.dimensions();
                self.new_document(label, image);
                return Some(Accepted::NewDocument { width, height });
            }
        };
        if as_new_layer {
            self.layers.push(Layer {
                name: label.to_owned(),
                image,
                visible: true,
            });
            self.active_layer = self.layers.len() - 1;
        } else if let Some(layer) = self.layers.get_mut(self.active_layer) {
            layer.image = image;
        }
        self.recomposite();
        Some(accepted)
    }

    // ---- extension ------------------------------------------------------------------------

    /// The snapped plan for the dragged growth, if any growth is pending.
    pub fn extension_plan(&self) -> Option<CanvasPlan> {
        let (w, h) = self.document_size()?;
        let g = self.requested_growth;
        if g == Growth::default() {
            return None;
        }
        plan_canvas_extension(w, h, g, self.pixel_grid.max(1)).ok()
    }

    pub fn reset_extension(&mut self) {
        self.requested_growth = Growth::default();
    }

    // ---- view -----------------------------------------------------------------------------

    pub fn request_fit(&mut self) {
        self.fit_requested = true;
    }

    /// One image pixel per physical screen pixel.
    pub fn actual_size(&mut self, pixels_per_point: f32) {
        self.zoom = 1.0 / pixels_per_point;
        self.pan = Vec2::ZERO;
        self.fit_requested = false;
    }

    /// The last drawn frame (screen rects), e.g. for tests that drag an edge.
    pub fn last_frame(&self) -> Option<&CanvasFrame> {
        self.last_frame.as_ref()
    }

    /// Screen rect of the document in the last frame.
    pub fn document_screen_rect(&self) -> Option<Rect> {
        let frame = self.last_frame.as_ref()?;
        let size = frame.document?;
        Some(frame.to_screen(Rect::from_min_size(Pos2::ZERO, size)))
    }

    /// The image the canvas shows now and where (canvas pixels): the live preview while a
    /// job runs (if previews are on), else the staged candidate, else the current image.
    pub fn shown(&self) -> Option<(VersionedImage, Rect)> {
        if self.show_previews
            && let Some(p) = &self.preview
        {
            return Some((p.image.clone(), p.target));
        }
        if let Some(c) = self.staged_candidate() {
            let (w, h) = c.image.image.dimensions();
            let min = match c.origin {
                CandidateOrigin::Extend(g) => pos2(-(g.left as f32), -(g.top as f32)),
                _ => Pos2::ZERO,
            };
            return Some((
                c.image.clone(),
                Rect::from_min_size(min, vec2(w as f32, h as f32)),
            ));
        }
        let c = self.composite.as_ref()?;
        let (w, h) = c.image.dimensions();
        Some((
            c.clone(),
            Rect::from_min_size(Pos2::ZERO, vec2(w as f32, h as f32)),
        ))
    }

    /// Canvas-pixel bounds of everything worth fitting into view.
    fn bounds(&self) -> Option<Rect> {
        let mut rect = self.shown().map(|(_, r)| r);
        if let Some((w, h)) = self.document_size() {
            let doc = Rect::from_min_size(Pos2::ZERO, vec2(w as f32, h as f32));
            rect = Some(rect.map_or(doc, |r| r.union(doc)));
        }
        if let Some(plan) = self.extension_plan() {
            let g = plan.growth;
            let extended = Rect::from_min_size(
                pos2(-(g.left as f32), -(g.top as f32)),
                vec2(plan.canvas_width as f32, plan.canvas_height as f32),
            );
            rect = Some(rect.map_or(extended, |r| r.union(extended)));
        }
        rect
    }

    // ---- ui -------------------------------------------------------------------------------

    /// The toolbar, the staging strip, the extension readout and the canvas itself.
    pub fn ui(&mut self, ui: &mut Ui, mask: &mut MaskPainter, gpu: bool) -> CanvasOutput {
        let mut out = CanvasOutput::default();
        ui.horizontal(|ui| {
            if ui.button("Fit").clicked() {
                self.fit_requested = true;
            }
            if ui.button("100%").clicked() {
                self.actual_size(ui.ctx().pixels_per_point());
            }
            ui.label(format!(
                "{:.0}%",
                self.zoom * ui.ctx().pixels_per_point() * 100.0
            ));
            ui.separator();
            ui.checkbox(&mut self.show_previews, "Live previews")
                .on_hover_text("Show every flow step on the canvas while generating");
            if let Some(p) = &self.preview {
                ui.label(format!("Step {} of {}", p.step, p.total));
            }
        });
        if !self.staging.is_empty() {
            ui.horizontal(|ui| {
                if ui.button("Previous").clicked() {
                    self.previous_candidate();
                }
                ui.label(format!(
                    "Candidate {} of {}",
                    self.staged + 1,
                    self.staging.len()
                ));
                if ui.button("Next").clicked() {
                    self.next_candidate();
                }
                ui.separator();
                out.accept = ui.button("Accept").clicked();
                if ui.button("Discard").clicked() {
                    self.discard_candidate();
                }
                out.keep_both = ui.button("Keep both").clicked();
            });
            self.staging_thumbnails(ui);
        }
        // Always present, so the canvas below never jumps while an edge is dragged.
        ui.horizontal(|ui| match self.extension_plan() {
            Some(plan) => {
                let g = plan.growth;
                ui.label(format!(
                    "Extend to {}×{} px (left {}, right {}, top {}, bottom {})",
                    plan.canvas_width, plan.canvas_height, g.left, g.right, g.top, g.bottom
                ));
                out.extend |= ui.button("Extend").on_hover_text("Enter").clicked();
                if ui.button("Reset extension").clicked() {
                    self.reset_extension();
                }
            }
            None => {
                ui.weak("Drag an edge or corner of the image outward to extend it");
            }
        });
        let size = ui.available_size().max(vec2(64.0, 64.0));
        let (area, _) = ui.allocate_exact_size(size, Sense::hover());
        // A fixed id: a drag must survive rows appearing above the canvas.
        let response = ui
            .interact(area, ui.scope_id().with("canvas"), Sense::click_and_drag())
            .accessible_name("Canvas");

        if self.fit_requested
            && let Some(bounds) = self.bounds()
        {
            self.fit(area, bounds);
            self.fit_requested = false;
        }
        let doc_size = self.document_size().map(|(w, h)| vec2(w as f32, h as f32));
        // The view centres the document, or the shown image while there is no document yet.
        let anchor = doc_size
            .or_else(|| self.shown().map(|(_, r)| r.max.to_vec2()))
            .unwrap_or(Vec2::ZERO);
        let origin = area.center() + self.pan - anchor * self.zoom / 2.0;
        self.handle_zoom(ui, &response, area, origin, anchor);
        let origin = area.center() + self.pan - anchor * self.zoom / 2.0;
        self.handle_drag(ui, &response, origin, doc_size, mask);
        if self.extension_plan().is_some()
            && ui.input(|i| i.key_pressed(Key::Enter))
            && ui.ctx().memory(|m| m.focused().is_none())
        {
            out.extend = true;
        }

        let origin = area.center() + self.pan - anchor * self.zoom / 2.0;
        let extension = self.extension_plan().map(|plan| {
            Rect::from_min_size(
                pos2(-(plan.growth.left as f32), -(plan.growth.top as f32)),
                vec2(plan.canvas_width as f32, plan.canvas_height as f32),
            )
        });
        let mask_overlay = match (mask.mask_arc(), doc_size) {
            (Some(m), Some(_)) if mask.visible && !self.preview_hides_mask() => Some(MaskOverlay {
                mask: m,
                version: mask.version(),
                colour: mask.colour,
                opacity: mask.opacity,
            }),
            _ => None,
        };
        let frame = CanvasFrame {
            area,
            origin,
            zoom: self.zoom,
            scene: self.shown(),
            document: doc_size,
            mask: mask_overlay,
            extension,
        };
        if gpu {
            super::canvas_gpu::paint(ui, &frame);
        } else {
            self.textures.paint(ui, &frame);
        }
        paint_decorations(ui, &frame, self.extension_plan());
        if frame.scene.is_none() {
            ui.painter().text(
                area.center(),
                egui::Align2::CENTER_CENTER,
                "Open an image (or drop one here), or type a prompt and press Generate",
                egui::FontId::proportional(16.0),
                ui.visuals().weak_text_color(),
            );
        }
        self.last_frame = Some(frame);
        out
    }

    /// The candidates as a row of small pictures; clicking one shows it.
    fn staging_thumbnails(&mut self, ui: &mut Ui) {
        const HEIGHT: f32 = 48.0;
        let versions: Vec<u64> = self.staging.iter().map(|c| c.image.version).collect();
        self.thumbnails.retain(|v, _| versions.contains(v));
        let mut clicked = None;
        egui::ScrollArea::horizontal()
            .id_salt("staging strip")
            .max_height(HEIGHT + 8.0)
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    for (i, candidate) in self.staging.iter().enumerate() {
                        let image = &candidate.image;
                        let texture = self.thumbnails.entry(image.version).or_insert_with(|| {
                            let (w, h) = image.image.dimensions();
                            let tw =
                                ((w as f32 * 2.0 * HEIGHT / h.max(1) as f32) as u32).clamp(1, w);
                            let th = ((2.0 * HEIGHT) as u32).min(h);
                            let small = image::imageops::thumbnail(image.image.as_ref(), tw, th);
                            ui.ctx().load_texture(
                                format!("staging-{}", image.version),
                                to_color_image(&small),
                                TextureOptions::LINEAR,
                            )
                        });
                        let size = texture.size_vec2() * (HEIGHT / texture.size_vec2().y);
                        let response = ui
                            .add(egui::Image::new((texture.id(), size)).sense(Sense::click()))
                            .accessible_name(format!("Candidate {}", i + 1));
                        if i == self.staged {
                            ui.painter().rect_stroke(
                                response.rect,
                                2.0,
                                Stroke::new(2.0, ui.visuals().selection.stroke.color),
                                StrokeKind::Outside,
                            );
                        }
                        if response.clicked() {
                            clicked = Some(i);
                        }
                    }
                });
            });
        if let Some(i) = clicked {
            self.staged = i;
        }
    }

    /// Whether a live preview of a different size covers the document (then a mask overlay
    /// would sit on the wrong pixels).
    fn preview_hides_mask(&self) -> bool {
        match (&self.preview, self.document_size()) {
            (Some(p), Some((w, h))) if self.show_previews => {
                p.target != Rect::from_min_size(Pos2::ZERO, vec2(w as f32, h as f32))
            }
            _ => false,
        }
    }

    fn fit(&mut self, area: Rect, bounds: Rect) {
        let margin = 0.95;
        let zoom = (area.width() / bounds.width()).min(area.height() / bounds.height()) * margin;
        self.zoom = zoom.clamp(MIN_ZOOM, MAX_ZOOM);
        let doc = self
            .document_size()
            .map_or(bounds.max.to_vec2(), |(w, h)| vec2(w as f32, h as f32));
        // Centre the bounds: move the document centre by the offset of the bounds centre.
        let doc_centre = doc / 2.0;
        self.pan = (doc_centre - bounds.center().to_vec2()) * self.zoom;
    }

    fn handle_zoom(
        &mut self,
        ui: &Ui,
        response: &Response,
        area: Rect,
        origin: Pos2,
        anchor: Vec2,
    ) {
        let Some(pointer) = response.hover_pos() else {
            return;
        };
        let (scroll, pinch) = ui.input(|i| (i.smooth_scroll_delta.y, i.zoom_delta()));
        let factor = pinch * (scroll * 0.0015).exp();
        if (factor - 1.0).abs() < 1e-4 {
            return;
        }
        let new_zoom = (self.zoom * factor).clamp(MIN_ZOOM, MAX_ZOOM);
        // Keep the canvas pixel under the pointer where it is.
        let under = (pointer - origin) / self.zoom;
        let new_origin = pointer - under * new_zoom;
        self.pan = new_origin + anchor * new_zoom / 2.0 - area.center();
        self.zoom = new_zoom;
    }

    fn handle_drag(
        &mut self,
        ui: &Ui,
        response: &Response,
        origin: Pos2,
        doc: Option<Vec2>,
        mask: &mut MaskPainter,
    ) {
        let to_canvas = |p: Pos2| -> [f32; 2] {
            let c = (p - origin) / self.zoom;
            [c.x, c.y]
        };
        let space = ui.input(|i| i.key_down(Key::Space));
        let pointer = response.interact_pointer_pos().or(response.hover_pos());

        // Cursor feedback over the edges.
        if self.drag.is_none()
            && let (Some(p), Some(doc)) = (response.hover_pos(), doc)
        {
            let sides = self.sides_at(p, origin, doc);
            if let Some(icon) = resize_icon(sides) {
                ui.ctx().set_cursor_icon(icon);
            }
        }

        if response.drag_started() {
            let press = ui.input(|i| i.pointer.press_origin()).or(pointer);
            self.drag = Some(match (press, doc) {
                _ if response.drag_started_by(PointerButton::Middle) || space => DragMode::Pan,
                (Some(p), Some(doc)) if self.sides_at(p, origin, doc).any() => DragMode::Edge {
                    sides: self.sides_at(p, origin, doc),
                    start: p,
                    start_growth: self.requested_growth,
                },
                (Some(p), Some(_)) if mask.painting => {
                    mask.begin_stroke(to_canvas(p));
                    DragMode::Paint
                }
                _ => DragMode::Pan,
            });
        }
        match self.drag {
            Some(DragMode::Pan) => self.pan += response.drag_delta(),
            Some(DragMode::Paint) => {
                if let Some(p) = pointer {
                    mask.extend_stroke(to_canvas(p));
                }
            }
            Some(DragMode::Edge {
                sides,
                start,
                start_growth,
            }) => {
                if let Some(p) = pointer {
                    let d = (p - start) / self.zoom;
                    let grow = |base: u32, by: f32| (base as f32 + by).round().max(0.0) as u32;
                    let mut g = start_growth;
                    if sides.left {
                        g.left = grow(start_growth.left, -d.x);
                    }
                    if sides.right {
                        g.right = grow(start_growth.right, d.x);
                    }
                    if sides.top {
                        g.top = grow(start_growth.top, -d.y);
                    }
                    if sides.bottom {
                        g.bottom = grow(start_growth.bottom, d.y);
                    }
                    self.requested_growth = g;
                }
            }
            None => {}
        }
        if response.drag_stopped() {
            if matches!(self.drag, Some(DragMode::Paint)) {
                mask.end_stroke();
            }
            self.drag = None;
        }
        // A click without a drag paints one dab.
        if response.clicked()
            && mask.painting
            && !space
            && let Some(p) = response.interact_pointer_pos()
        {
            mask.begin_stroke(to_canvas(p));
            mask.end_stroke();
        }
    }

    /// Which edges of the (possibly already extended) document a press at `p` grabs.
    fn sides_at(&self, p: Pos2, origin: Pos2, doc: Vec2) -> Sides {
        let g = self.requested_growth;
        let outer = Rect::from_min_max(
            origin + vec2(-(g.left as f32), -(g.top as f32)) * self.zoom,
            origin + (doc + vec2(g.right as f32, g.bottom as f32)) * self.zoom,
        );
        let reach = HANDLE_REACH;
        let within_y = p.y >= outer.top() - reach && p.y <= outer.bottom() + reach;
        let within_x = p.x >= outer.left() - reach && p.x <= outer.right() + reach;
        Sides {
            left: within_y && (p.x - outer.left()).abs() <= reach,
            right: within_y && (p.x - outer.right()).abs() <= reach,
            top: within_x && (p.y - outer.top()).abs() <= reach,
            bottom: within_x && (p.y - outer.bottom()).abs() <= reach,
        }
    }
}

fn resize_icon(s: Sides) -> Option<CursorIcon> {
    Some(match (s.left, s.right, s.top, s.bottom) {
        (true, _, true, _) | (_, true, _, true) => CursorIcon::ResizeNwSe,
        (true, _, _, true) | (_, true, true, _) => CursorIcon::ResizeNeSw,
        (true, _, _, _) | (_, true, _, _) => CursorIcon::ResizeHorizontal,
        (_, _, true, _) | (_, _, _, true) => CursorIcon::ResizeVertical,
        _ => return None,
    })
}

/// Grows an image by `g` with transparent pixels.
pub fn pad(image: &RgbaImage, g: Growth) -> RgbaImage {
    let (w, h) = image.dimensions();
    let mut out = RgbaImage::new(w + g.left + g.right, h + g.top + g.bottom);
    image::imageops::replace(&mut out, image, g.left.into(), g.top.into());
    out
}

/// Outline of the document, the extension readout, on top of either renderer.
fn paint_decorations(ui: &Ui, frame: &CanvasFrame, plan: Option<CanvasPlan>) {
    let painter = ui.painter_at(frame.area);
    if let Some(doc) = frame.document {
        let rect = frame.to_screen(Rect::from_min_size(Pos2::ZERO, doc));
        painter.rect_stroke(
            rect,
            0.0,
            Stroke::new(1.0, Color32::from_gray(90)),
            StrokeKind::Outside,
        );
    }
    if let (Some(ext), Some(plan)) = (frame.extension, plan) {
        let rect = frame.to_screen(ext);
        painter.rect_stroke(
            rect,
            0.0,
            Stroke::new(2.0, Color32::from_rgb(80, 180, 255)),
            StrokeKind::Outside,
        );
        let text = format!("{} × {} px", plan.canvas_width, plan.canvas_height);
        let anchor = rect.right_bottom() + vec2(-6.0, -6.0);
        let galley = painter.layout_no_wrap(text, egui::FontId::monospace(14.0), Color32::WHITE);
        let bg = egui::Align2::RIGHT_BOTTOM
            .anchor_size(anchor, galley.size())
            .expand(4.0);
        painter.rect_filled(bg, 3.0, Color32::from_black_alpha(180));
        painter.galley(bg.min + vec2(4.0, 4.0), galley, Color32::WHITE);
    }
}

/// The egui-texture renderer, used when no wgpu device is available (e.g. a glow backend
/// or a test without a GPU). The wgpu path in `canvas_gpu` draws the same picture in one
/// shader pass.
#[derive(Default)]
struct CpuTextures {
    checker: Option<TextureHandle>,
    scene: Option<(u64, TextureHandle)>,
    mask: Option<((u64, Color32, u32), TextureHandle)>,
}

impl CpuTextures {
    fn paint(&mut self, ui: &Ui, frame: &CanvasFrame) {
        let ctx = ui.ctx();
        let painter = ui.painter_at(frame.area);
        let uv = Rect::from_min_max(Pos2::ZERO, pos2(1.0, 1.0));
        if let Some((image, rect)) = &frame.scene {
            let screen = frame.to_screen(*rect);
            let checker = self.checker.get_or_insert_with(|| {
                let light = Color32::from_gray(204);
                let dark = Color32::from_gray(153);
                let pixels = vec![light, dark, dark, light];
                ctx.load_texture(
                    "canvas-checker",
                    egui::ColorImage::new([2, 2], pixels),
                    TextureOptions::NEAREST_REPEAT,
                )
            });
            let cells = screen.size() / (2.0 * CHECKER_POINTS);
            painter.image(
                checker.id(),
                screen,
                Rect::from_min_max(Pos2::ZERO, pos2(cells.x, cells.y)),
                Color32::WHITE,
            );
            if self.scene.as_ref().is_none_or(|(v, _)| *v != image.version) {
                let color = to_color_image(&image.image);
                let options = if frame.zoom >= 2.0 {
                    TextureOptions::NEAREST
                } else {
                    TextureOptions::LINEAR
                };
                self.scene = Some((
                    image.version,
                    ctx.load_texture("canvas-scene", color, options),
                ));
            }
            if let Some((_, texture)) = &self.scene {
                painter.image(texture.id(), screen, uv, Color32::WHITE);
            }
        }
        if let (Some(m), Some(doc)) = (&frame.mask, frame.document) {
            let key = (m.version, m.colour, (m.opacity * 255.0) as u32);
            if self.mask.as_ref().is_none_or(|(k, _)| *k != key) {
                let overlay = mask_overlay_image(&m.mask, m.colour, m.opacity);
                self.mask = Some((
                    key,
                    ctx.load_texture("canvas-mask", overlay, TextureOptions::NEAREST),
                ));
            }
            if let Some((_, texture)) = &self.mask {
                let screen = frame.to_screen(Rect::from_min_size(Pos2::ZERO, doc));
                painter.image(texture.id(), screen, uv, Color32::WHITE);
            }
        }
        if let (Some(ext), Some(doc)) = (frame.extension, frame.document) {
            let outer = frame.to_screen(ext);
            let inner = frame.to_screen(Rect::from_min_size(Pos2::ZERO, doc));
            let tint = Color32::from_rgba_unmultiplied(80, 180, 255, 60);
            // The new area is the outer rect minus the document: four bands.
            for band in [
                Rect::from_min_max(outer.min, pos2(outer.max.x, inner.min.y)),
                Rect::from_min_max(pos2(outer.min.x, inner.max.y), outer.max),
                Rect::from_min_max(
                    pos2(outer.min.x, inner.min.y),
                    pos2(inner.min.x, inner.max.y),
                ),
                Rect::from_min_max(
                    pos2(inner.max.x, inner.min.y),
                    pos2(outer.max.x, inner.max.y),
                ),
            ] {
                if band.is_positive() {
                    painter.rect_filled(band, 0.0, tint);
                }
            }
        }
    }
}

pub fn to_color_image(image: &RgbaImage) -> egui::ColorImage {
    let (w, h) = image.dimensions();
    egui::ColorImage::from_rgba_unmultiplied([w as usize, h as usize], image.as_raw())
}

/// The mask as a coloured, translucent overlay (CPU path).
fn mask_overlay_image(mask: &GrayImage, colour: Color32, opacity: f32) -> egui::ColorImage {
    let (w, h) = mask.dimensions();
    let pixels = mask
        .as_raw()
        .iter()
        .map(|&m| {
            let a = (m as f32 / 255.0 * opacity * 255.0).round() as u8;
            Color32::from_rgba_unmultiplied(colour.r(), colour.g(), colour.b(), a)
        })
        .collect();
    egui::ColorImage::new([w as usize, h as usize], pixels)
}
