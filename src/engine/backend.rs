//! The seam between the engine and the model work. The pipelines implement [`Backend`]; the
//! engine owns the thread, the queue, cancellation and crash recovery around it.

use image::RgbaImage;

use super::protocol::{Event, JobId, JobKind, JobOutput, LoadSettings, ModelInfo, ModelSource};
use super::worker::Control;

/// Runs model work on the engine thread. Errors are user-facing strings that name the file,
/// tensor or setting that is wrong and what was expected.
pub trait Backend: Send {
    /// Loads `source` and makes it the resident model. `progress` takes 0.0..=1.0.
    fn load(
        &mut self,
        source: &ModelSource,
        settings: &LoadSettings,
        progress: &mut dyn FnMut(f32),
    ) -> Result<ModelInfo, String>;

    /// Runs one job (never [`JobKind::LoadModel`], which the engine routes to [`Self::load`]).
    /// Poll [`JobContext::cancelled`] between steps and return early when it says so; what is
    /// returned after a cancellation is discarded.
    fn run(&mut self, job: &JobKind, ctx: &mut JobContext) -> Result<JobOutput, String>;

    /// Drops the resident model and frees its memory. Called before loading a different model
    /// and after a panic, when the model's state may be half-updated.
    fn unload(&mut self) {}
}

/// What a running job can do besides computing: report progress, show previews, stream text,
/// and learn that it was cancelled. Every call also lets the engine take in new commands, so
/// the queue stays responsive while a job runs.
pub struct JobContext<'a> {
    job: JobId,
    last_step: u32,
    cancel_requested: bool,
    control: &'a mut Control,
}

impl<'a> JobContext<'a> {
    pub(super) fn new(job: JobId, control: &'a mut Control) -> Self {
        JobContext {
            job,
            last_step: 0,
            cancel_requested: false,
            control,
        }
    }

    pub fn job(&self) -> JobId {
        self.job
    }

    /// True once the job was cancelled (directly, by "cancel all" or by shutdown).
    pub fn cancelled(&mut self) -> bool {
        if self.control.take_commands(Some(self.job)) {
            self.cancel_requested = true;
        }
        self.cancel_requested
    }

    /// Reports that `step` of `total` is done.
    pub fn step(&mut self, step: u32, total: u32) {
        self.last_step = step;
        self.control.emit(Event::Progress {
            job: self.job,
            step,
            total,
        });
        self.cancelled();
    }

    /// A live preview of the result as of the last reported step.
    pub fn preview(&mut self, image: RgbaImage) {
        self.control.emit(Event::Preview {
            job: self.job,
            step: self.last_step,
            image,
        });
    }

    /// A piece of a streamed answer.
    pub fn token(&mut self, text: &str) {
        self.control.emit(Event::Token {
            job: self.job,
            text: text.to_owned(),
        });
        self.cancelled();
    }

    pub(super) fn was_cancelled(&self) -> bool {
        self.cancel_requested
    }
}

/// The backend of a build that has no model code wired in: loading fails with an explanation,
/// so the studio opens with "no model loaded" instead of pretending to have one.
#[derive(Debug, Default)]
pub struct Unavailable;

impl Backend for Unavailable {
    fn load(
        &mut self,
        source: &ModelSource,
        _settings: &LoadSettings,
        _progress: &mut dyn FnMut(f32),
    ) -> Result<ModelInfo, String> {
        Err(format!(
            "cannot load the {source}: this build of showo-studio has no Show-o2 backend wired \
             into the studio yet; use the command-line tools"
        ))
    }

    fn run(&mut self, _job: &JobKind, _ctx: &mut JobContext) -> Result<JobOutput, String> {
        Err("no model backend is available in this build".to_owned())
    }
}
