//! Images, masks, video frames in and out; PNG metadata; GIF. No model knowledge.
