//! The inference thread: takes commands, runs one job at a time through the [`Backend`],
//! keeps one model resident, and survives a panicking job.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TryRecvError};

use super::backend::{Backend, JobContext};
use super::protocol::{
    Command, Event, Job, JobId, JobKind, JobOutput, LoadSettings, ModelInfo, ModelSource,
};
use super::queue::JobQueue;

/// Called after every event, so a GUI can wake up and repaint.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// The queue and the two channels. Split from [`Worker`] so that a running job can take in
/// commands (through its [`JobContext`]) while the backend is borrowed.
pub(crate) struct Control {
    commands: Receiver<Command>,
    events: Sender<Event>,
    waker: Waker,
    queue: JobQueue,
    shutting_down: bool,
}

impl Control {
    pub(super) fn emit(&self, event: Event) {
        // The studio may already be gone; then nobody is listening and that is fine.
        let _ = self.events.send(event);
        (self.waker)();
    }

    fn emit_queue(&self) {
        self.emit(Event::QueueChanged {
            pending: self.queue.ids(),
            paused: self.queue.is_paused(),
        });
    }

    /// Applies every command waiting in the channel. Returns true if one of them cancelled
    /// `running`.
    pub(super) fn take_commands(&mut self, running: Option<JobId>) -> bool {
        let mut cancel_running = false;
        loop {
            match self.commands.try_recv() {
                Ok(command) => cancel_running |= self.apply(command, running),
                Err(TryRecvError::Empty) => return cancel_running,
                // The studio dropped its handle: wind down as if it had asked to.
                Err(TryRecvError::Disconnected) => {
                    return cancel_running | self.apply(Command::Shutdown, running);
                }
            }
        }
    }

    /// Applies one command. Returns true if it cancels `running`.
    fn apply(&mut self, command: Command, running: Option<JobId>) -> bool {
        match command {
            Command::Submit(job) => {
                let id = job.id;
                let position = self.queue.push(job);
                self.emit(Event::Queued { job: id, position });
                self.emit_queue();
                false
            }
            Command::Cancel(id) => {
                if running == Some(id) {
                    return true;
                }
                if self.queue.remove(id).is_some() {
                    self.emit(Event::Cancelled { job: id });
                    self.emit_queue();
                }
                false
            }
            Command::CancelAll => {
                self.cancel_pending();
                running.is_some()
            }
            Command::Pause | Command::Resume => {
                self.queue.set_paused(command == Command::Pause);
                self.emit_queue();
                false
            }
            Command::Reorder { job, to } => {
                if self.queue.reorder(job, to) {
                    self.emit_queue();
                }
                false
            }
            Command::Shutdown => {
                self.shutting_down = true;
                self.cancel_pending();
                running.is_some()
            }
        }
    }

    fn cancel_pending(&mut self) {
        for job in self.queue.take_all() {
            self.emit(Event::Cancelled { job: job.id });
        }
        self.emit_queue();
    }
}

pub(super) struct Worker {
    backend: Box<dyn Backend>,
    control: Control,
    resident: Option<ModelInfo>,
}

impl Worker {
    pub(super) fn new(
        backend: Box<dyn Backend>,
        commands: Receiver<Command>,
        events: Sender<Event>,
        waker: Waker,
    ) -> Self {
        Worker {
            backend,
            control: Control {
                commands,
                events,
                waker,
                queue: JobQueue::new(),
                shutting_down: false,
            },
            resident: None,
        }
    }

    /// Serves until shutdown. A panic that escapes a job's own guard (it should not happen,
    /// but a crash here would leave the studio without an engine) restarts the loop.
    pub(super) fn run(mut self) {
        loop {
            match catch_unwind(AssertUnwindSafe(|| self.serve())) {
                Ok(()) => break,
                Err(panic) => self.recover_from_panic(None, &panic_message(panic.as_ref())),
            }
        }
        let _ = catch_unwind(AssertUnwindSafe(|| self.backend.unload()));
        self.control.emit(Event::Stopped);
    }

    fn serve(&mut self) {
        loop {
            self.control.take_commands(None);
            if self.control.shutting_down {
                return;
            }
            if let Some(job) = self.control.queue.pop_next() {
                self.control.emit_queue();
                self.run_job(job);
                continue;
            }
            // Idle: sleep until the studio says something.
            match self.control.commands.recv() {
                Ok(command) => {
                    self.control.apply(command, None);
                }
                Err(_) => return,
            }
        }
    }

    fn run_job(&mut self, job: Job) {
        self.control.emit(Event::Started { job: job.id });
        match &job.kind {
            JobKind::LoadModel(source, settings) => self.load_model(job.id, source, settings),
            kind => self.run_model_job(job.id, kind),
        }
    }

    fn load_model(&mut self, id: JobId, source: &ModelSource, settings: &LoadSettings) {
        if let Some(info) = &self.resident {
            if info.source == *source && info.settings == *settings {
                let info = info.clone();
                self.control.emit(Event::ModelLoaded(info.clone()));
                self.control.emit(Event::Done {
                    job: id,
                    output: JobOutput::Model(Box::new(info)),
                });
                return;
            }
            // One model at a time: free the old one before the new one needs the memory.
            self.backend.unload();
            self.resident = None;
            self.control.emit(Event::ModelUnloaded);
        }
        self.control.emit(Event::ModelLoading {
            job: id,
            progress: 0.0,
        });
        let backend = &mut self.backend;
        let control = &mut self.control;
        let mut cancelled = false;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            backend.load(source, settings, &mut |progress| {
                control.emit(Event::ModelLoading { job: id, progress });
                cancelled |= control.take_commands(Some(id));
            })
        }));
        match outcome {
            Err(panic) => self.recover_from_panic(Some(id), &panic_message(panic.as_ref())),
            Ok(Ok(_)) if cancelled => {
                self.backend.unload();
                self.control.emit(Event::Cancelled { job: id });
            }
            Ok(Ok(info)) => {
                self.resident = Some(info.clone());
                self.control.emit(Event::ModelLoaded(info.clone()));
                self.control.emit(Event::Done {
                    job: id,
                    output: JobOutput::Model(Box::new(info)),
                });
            }
            Ok(Err(error)) => self.control.emit(Event::Failed { job: id, error }),
        }
    }

    fn run_model_job(&mut self, id: JobId, kind: &JobKind) {
        if let Err(error) = self.check_capability(kind) {
            self.control.emit(Event::Failed { job: id, error });
            return;
        }
        let backend = &mut self.backend;
        let mut ctx = JobContext::new(id, &mut self.control);
        let outcome = catch_unwind(AssertUnwindSafe(|| backend.run(kind, &mut ctx)));
        let cancelled = ctx.was_cancelled();
        match outcome {
            Err(panic) => self.recover_from_panic(Some(id), &panic_message(panic.as_ref())),
            Ok(_) if cancelled => self.control.emit(Event::Cancelled { job: id }),
            Ok(Ok(output)) => self.control.emit(Event::Done { job: id, output }),
            Ok(Err(error)) => self.control.emit(Event::Failed { job: id, error }),
        }
    }

    /// Refuses jobs the resident model cannot do, with a message that says what to change.
    fn check_capability(&self, kind: &JobKind) -> Result<(), String> {
        let Some(model) = &self.resident else {
            return Err(
                "no model is loaded; load the built-in model or a model folder in the Models panel"
                    .to_owned(),
            );
        };
        let refuse = |what: &str| Err(format!("the loaded model ({}) cannot {what}", model.name));
        match kind {
            JobKind::Generate(_) | JobKind::Inpaint(_) | JobKind::Extend(_)
                if !model.image_generation =>
            {
                refuse("generate images")
            }
            JobKind::DescribeMask(_) if !model.image_chat => refuse("describe images"),
            JobKind::Chat(request) => {
                use super::protocol::Attachment;
                let attachments = request.messages.iter().flat_map(|m| &m.attachments);
                for attachment in attachments {
                    match attachment {
                        Attachment::Video { .. } if !model.video_chat => {
                            return refuse("answer questions about videos");
                        }
                        Attachment::Image(_) | Attachment::MaskedRegion { .. }
                            if !model.image_chat =>
                        {
                            return refuse("answer questions about images");
                        }
                        _ => {}
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// After a panic the backend's state may be half-updated (caches, partially loaded
    /// weights), so it is unloaded and the resident model is loaded afresh.
    fn recover_from_panic(&mut self, job: Option<JobId>, message: &str) {
        if let Some(job) = job {
            self.control.emit(Event::Failed {
                job,
                error: format!("the model backend crashed: {message}"),
            });
        }
        self.control.emit(Event::EngineCrashed {
            job,
            message: message.to_owned(),
        });
        let _ = catch_unwind(AssertUnwindSafe(|| self.backend.unload()));
        if let Some(previous) = self.resident.take() {
            self.control.emit(Event::ModelUnloaded);
            let backend = &mut self.backend;
            let reloaded = catch_unwind(AssertUnwindSafe(|| {
                backend.load(&previous.source, &previous.settings, &mut |_| {})
            }));
            if let Ok(Ok(info)) = reloaded {
                self.resident = Some(info.clone());
                self.control.emit(Event::ModelLoaded(info));
            }
        }
        self.control.emit(Event::EngineRestarted);
    }
}

/// The text of a panic payload (`panic!("...")` gives a `&str` or a `String`).
fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "unknown panic".to_owned()
    }
}
