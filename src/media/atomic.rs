//! Atomic file writes: write a temporary file in the destination's own directory, fsync it, then
//! rename it over the destination.
//!
//! The rename is atomic on the same filesystem (that is why the temporary file lives beside the
//! destination and not in `/tmp`), so readers see either the old file or the complete new one,
//! never a half-written PNG, even if the process crashes or the writer fails halfway.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{MediaError, Result};

/// Writes `path` atomically: `write` fills a buffered temporary file; only when it returns `Ok`
/// is the data flushed, fsynced and renamed over `path`. On any error the temporary file is
/// removed and the previous contents of `path` (if any) are untouched.
pub fn write_atomically<F>(path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut BufWriter<File>) -> Result<()>,
{
    let directory = parent_directory(path);
    let temp_path = temporary_path_beside(path);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp_path)
        .map_err(|e| MediaError::io(&temp_path, "creating a temporary file", e))?;

    let outcome = fill_and_sync(file, &temp_path, write).and_then(|()| {
        std::fs::rename(&temp_path, path)
            .map_err(|e| MediaError::io(path, "renaming into place", e))
    });
    if outcome.is_err() {
        // Best effort: the temporary file is ours and useless now; the original stays as it was.
        let _ = std::fs::remove_file(&temp_path);
        return outcome;
    }
    sync_directory(&directory);
    Ok(())
}

/// Writes `bytes` to `path` atomically.
pub fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, |w| {
        w.write_all(bytes)
            .map_err(|e| MediaError::io(path, "writing", e))
    })
}

fn fill_and_sync<F>(file: File, temp_path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut BufWriter<File>) -> Result<()>,
{
    let mut writer = BufWriter::new(file);
    write(&mut writer)?;
    let file = writer
        .into_inner()
        .map_err(|e| MediaError::io(temp_path, "flushing", e.into_error()))?;
    file.sync_all()
        .map_err(|e| MediaError::io(temp_path, "syncing to disk", e))
}

fn parent_directory(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `dir/.name.tmp-PID-N`: hidden, unique per process and call, and on the same filesystem.
fn temporary_path_beside(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".to_owned());
    parent_directory(path).join(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// Makes the rename itself durable. Directories cannot be opened for syncing on Windows, and a
/// failure here cannot un-write the file, so it is deliberately best effort.
fn sync_directory(directory: &Path) {
    #[cfg(unix)]
    if let Ok(dir) = File::open(directory) {
        let _ = dir.sync_all();
    }
    #[cfg(not(unix))]
    let _ = directory;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_new_file_and_replaces_existing_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        write_bytes_atomically(&path, b"first").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        write_bytes_atomically(&path, b"second version").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second version");
        // Nothing but the destination is left in the directory.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.bin")]);
    }

    #[test]
    fn failing_writer_leaves_old_file_intact_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keep.png");
        std::fs::write(&path, b"old contents").unwrap();
        let result = write_atomically(&path, |w| {
            w.write_all(b"half of the new fi").unwrap();
            Err(MediaError::Encode {
                file: path.display().to_string(),
                format: "PNG",
                reason: "simulated crash".into(),
            })
        });
        assert!(matches!(result, Err(MediaError::Encode { .. })));
        assert_eq!(std::fs::read(&path).unwrap(), b"old contents");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn missing_directory_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-such-dir").join("x.png");
        let err = write_bytes_atomically(&path, b"x").unwrap_err().to_string();
        assert!(err.contains("no-such-dir"), "{err}");
        assert!(err.contains("creating a temporary file"), "{err}");
    }
}
