//! The inference engine: one background thread that owns the model and a job queue. The
//! studio talks to it only through channels (jobs and commands down, [`Event`]s up) and
//! never waits on it.
//!
//! The model work itself is behind [`Backend`]; the engine adds the queue (pause, reorder,
//! cancel one or all), one job at a time, cancellation polled between steps, one resident
//! model (unloaded on switch), and crash recovery: a panicking job is reported as
//! [`Event::Failed`], the model is reloaded, and the thread keeps serving.

mod backend;
mod pipeline_backend;
mod protocol;
mod queue;
pub mod testing;
mod worker;

pub use backend::{Backend, JobContext, Unavailable};
pub use pipeline_backend::PipelineBackend;
pub use protocol::{
    Attachment, ChatMessage, ChatOptions, ChatRequest, Command, DescribeMaskRequest, Event,
    ExtendRequest, GenerateRequest, ImageSettings, InpaintRequest, Job, JobId, JobKind, JobOutput,
    LoadSettings, ModelInfo, ModelSource, PreviewSettings, Role, ThreadId, VideoFrame,
};
pub use queue::JobQueue;
pub use worker::Waker;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, unbounded};

/// The studio's handle on the engine thread.
pub struct Engine {
    commands: Sender<Command>,
    events: Receiver<Event>,
    next_id: AtomicU64,
    thread: Option<JoinHandle<()>>,
}

impl Engine {
    /// Starts the engine thread around `backend`. No model is loaded until a
    /// [`JobKind::LoadModel`] job runs.
    pub fn spawn(backend: Box<dyn Backend>) -> Self {
        Self::spawn_with_waker(backend, Arc::new(|| {}))
    }

    /// Like [`Self::spawn`]; `waker` runs after every event (a GUI passes its repaint request).
    pub fn spawn_with_waker(backend: Box<dyn Backend>, waker: Waker) -> Self {
        let (command_tx, command_rx) = unbounded();
        let (event_tx, event_rx) = unbounded();
        let worker = worker::Worker::new(backend, command_rx, event_tx, waker);
        let thread = std::thread::Builder::new()
            .name("showo-engine".to_owned())
            .spawn(move || worker.run())
            .expect("the OS refused to start the engine thread");
        Engine {
            commands: command_tx,
            events: event_rx,
            next_id: AtomicU64::new(1),
            thread: Some(thread),
        }
    }

    /// Queues a job and returns its id; its events carry the same id.
    pub fn submit(&self, kind: JobKind) -> JobId {
        let id = JobId(self.next_id.fetch_add(1, Ordering::Relaxed));
        self.send(Command::Submit(Job { id, kind }));
        id
    }

    /// Sends a command. Returns false if the engine thread has ended.
    pub fn send(&self, command: Command) -> bool {
        self.commands.send(command).is_ok()
    }

    pub fn cancel(&self, job: JobId) {
        self.send(Command::Cancel(job));
    }

    pub fn cancel_all(&self) {
        self.send(Command::CancelAll);
    }

    pub fn pause(&self) {
        self.send(Command::Pause);
    }

    pub fn resume(&self) {
        self.send(Command::Resume);
    }

    pub fn reorder(&self, job: JobId, to: usize) {
        self.send(Command::Reorder { job, to });
    }

    /// The next event, if one is waiting. Never blocks.
    pub fn try_recv(&self) -> Option<Event> {
        self.events.try_recv().ok()
    }

    /// The event channel, for callers that want to block or select on it (tests, the CLI).
    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }

    /// Whether the engine thread is still running.
    pub fn is_alive(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Asks the thread to stop (cancelling everything) and waits up to `timeout` for it.
    /// Returns true if it stopped in time.
    pub fn shutdown(mut self, timeout: Duration) -> bool {
        self.send(Command::Shutdown);
        let deadline = Instant::now() + timeout;
        let Some(thread) = self.thread.take() else {
            return true;
        };
        while !thread.is_finished() {
            if Instant::now() >= deadline {
                // Leave it detached: a backend stuck inside one long step must not hang us.
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        thread.join().is_ok()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Do not join: closing the window must not wait for a long model step to finish.
        let _ = self.commands.send(Command::Shutdown);
    }
}
