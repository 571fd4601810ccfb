//! Checkpoint loading: safetensors (mmap), PyTorch `.bin` (safe pickle subset), shards.
