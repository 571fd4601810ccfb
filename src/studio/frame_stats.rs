//! How long each frame's ui took to build, for the status bar and the frame-time report.

use std::collections::VecDeque;

/// Per-frame time spent building the ui, for the status bar and the frame-time report.
#[derive(Default, Clone, Debug)]
pub struct FrameStats {
    samples: VecDeque<f32>,
}

impl FrameStats {
    const KEEP: usize = 600;

    pub fn record(&mut self, ms: f32) {
        if self.samples.len() == Self::KEEP {
            self.samples.pop_front();
        }
        self.samples.push_back(ms);
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The `q` quantile (0..=1) in milliseconds.
    pub fn quantile(&self, q: f32) -> f32 {
        if self.samples.is_empty() {
            return 0.0;
        }
        let mut sorted: Vec<f32> = self.samples.iter().copied().collect();
        sorted.sort_by(f32::total_cmp);
        let i = ((sorted.len() - 1) as f32 * q.clamp(0.0, 1.0)).round() as usize;
        sorted[i]
    }

    pub fn clear(&mut self) {
        self.samples.clear();
    }
}
