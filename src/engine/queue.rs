//! The engine's pending jobs: first in, first out, with pause, reorder and cancellation.
//! Plain data, no threads: the worker owns one and mutates it as commands arrive.

use std::collections::VecDeque;

use super::protocol::{Job, JobId};

#[derive(Debug, Default)]
pub struct JobQueue {
    pending: VecDeque<Job>,
    paused: bool,
}

impl JobQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a job and returns its position (0 = next to run).
    pub fn push(&mut self, job: Job) -> usize {
        self.pending.push_back(job);
        self.pending.len() - 1
    }

    /// The next job to run, unless the queue is paused or empty.
    pub fn pop_next(&mut self) -> Option<Job> {
        if self.paused {
            None
        } else {
            self.pending.pop_front()
        }
    }

    /// Removes a pending job; `None` if it is not pending (running, finished or unknown).
    pub fn remove(&mut self, id: JobId) -> Option<Job> {
        let index = self.position(id)?;
        self.pending.remove(index)
    }

    /// Removes every pending job, in run order.
    pub fn take_all(&mut self) -> Vec<Job> {
        self.pending.drain(..).collect()
    }

    /// Moves a pending job to `to` (clamped to the end). Returns false if it is not pending.
    pub fn reorder(&mut self, id: JobId, to: usize) -> bool {
        let Some(job) = self.remove(id) else {
            return false;
        };
        let to = to.min(self.pending.len());
        self.pending.insert(to, job);
        true
    }

    pub fn position(&self, id: JobId) -> Option<usize> {
        self.pending.iter().position(|job| job.id == id)
    }

    /// Pending job ids in run order.
    pub fn ids(&self) -> Vec<JobId> {
        self.pending.iter().map(|job| job.id).collect()
    }

    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::protocol::{JobKind, ModelSource};

    fn job(id: u64) -> Job {
        Job {
            id: JobId(id),
            kind: JobKind::LoadModel(ModelSource::BuiltIn, Default::default()),
        }
    }

    fn queue_of(ids: &[u64]) -> JobQueue {
        let mut queue = JobQueue::new();
        for &id in ids {
            queue.push(job(id));
        }
        queue
    }

    #[test]
    fn runs_in_submission_order() {
        let mut queue = queue_of(&[1, 2, 3]);
        let order: Vec<u64> = std::iter::from_fn(|| queue.pop_next().map(|j| j.id.0)).collect();
        assert_eq!(order, vec![1, 2, 3]);
    }

    #[test]
    fn pause_holds_jobs_until_resume() {
        let mut queue = queue_of(&[1, 2]);
        queue.set_paused(true);
        assert!(queue.pop_next().is_none());
        assert_eq!(queue.len(), 2);
        queue.set_paused(false);
        assert_eq!(queue.pop_next().map(|j| j.id), Some(JobId(1)));
    }

    #[test]
    fn reorder_moves_and_clamps() {
        let mut queue = queue_of(&[1, 2, 3]);
        assert!(queue.reorder(JobId(3), 0));
        assert_eq!(queue.ids(), vec![JobId(3), JobId(1), JobId(2)]);
        assert!(queue.reorder(JobId(3), 99));
        assert_eq!(queue.ids(), vec![JobId(1), JobId(2), JobId(3)]);
        assert!(!queue.reorder(JobId(7), 0));
    }

    #[test]
    fn remove_and_take_all() {
        let mut queue = queue_of(&[1, 2, 3]);
        assert_eq!(queue.remove(JobId(2)).map(|j| j.id), Some(JobId(2)));
        assert!(queue.remove(JobId(2)).is_none());
        let rest: Vec<JobId> = queue.take_all().into_iter().map(|j| j.id).collect();
        assert_eq!(rest, vec![JobId(1), JobId(3)]);
        assert!(queue.is_empty());
    }
}
