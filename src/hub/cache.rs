//! The Hugging Face cache layout, shared with the Python tools (`huggingface_hub`), so files that
//! either side downloaded are found and reused by the other:
//!
//! ```text
//! $HF_HUB_CACHE/models--{org}--{name}/
//!     blobs/<etag>                  file contents; the etag is the sha256 for LFS files, the git sha1 otherwise
//!     blobs/<etag>.incomplete       a partial download, resumed with an HTTP Range request
//!     snapshots/<commit>/<path>     relative symlink to ../../blobs/<etag>
//!     refs/<revision>               the commit a branch name resolved to (e.g. refs/main)
//! $HF_HUB_CACHE/.locks/models--{org}--{name}/<etag>.lock
//! ```

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::HubError;

/// The hub cache root (`$HF_HUB_CACHE`, `$HF_HOME/hub` or `~/.cache/huggingface/hub`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubCache {
    pub root: PathBuf,
}

/// One model repo inside the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoCache {
    pub repo_id: String,
    /// `<root>/models--{org}--{name}`
    pub dir: PathBuf,
    lock_dir: PathBuf,
}

/// A full commit hash (what `snapshots/` folders are named after).
pub fn is_commit_hash(revision: &str) -> bool {
    revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `org/name` → `models--org--name`, as `huggingface_hub` names the folder.
pub fn repo_folder_name(repo_id: &str) -> String {
    format!("models--{}", repo_id.replace('/', "--"))
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> HubError + '_ {
    move |source| HubError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl HubCache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn repo(&self, repo_id: &str) -> RepoCache {
        let folder = repo_folder_name(repo_id);
        RepoCache {
            repo_id: repo_id.to_string(),
            dir: self.root.join(&folder),
            lock_dir: self.root.join(".locks").join(folder),
        }
    }
}

impl RepoCache {
    pub fn blob_path(&self, etag: &str) -> PathBuf {
        self.dir.join("blobs").join(etag)
    }

    /// Where a download in progress accumulates (kept on failure so the next attempt resumes).
    pub fn incomplete_path(&self, etag: &str) -> PathBuf {
        self.dir.join("blobs").join(format!("{etag}.incomplete"))
    }

    pub fn lock_path(&self, etag: &str) -> PathBuf {
        self.lock_dir.join(format!("{etag}.lock"))
    }

    pub fn snapshot_dir(&self, commit: &str) -> PathBuf {
        self.dir.join("snapshots").join(commit)
    }

    pub fn snapshot_path(&self, commit: &str, file: &str) -> PathBuf {
        let mut path = self.snapshot_dir(commit);
        path.extend(file.split('/'));
        path
    }

    fn ref_path(&self, revision: &str) -> PathBuf {
        let mut path = self.dir.join("refs");
        path.extend(revision.split('/'));
        path
    }

    /// The commit `revision` points at: itself when it is a commit hash, else what `refs/` says.
    pub fn resolve_revision(&self, revision: &str) -> Option<String> {
        if is_commit_hash(revision) {
            return Some(revision.to_ascii_lowercase());
        }
        let text = fs::read_to_string(self.ref_path(revision)).ok()?;
        let commit = text.trim();
        is_commit_hash(commit).then(|| commit.to_ascii_lowercase())
    }

    /// Records that `revision` (a branch or tag name) resolved to `commit`.
    pub fn write_ref(&self, revision: &str, commit: &str) -> Result<(), HubError> {
        if is_commit_hash(revision) {
            return Ok(());
        }
        let path = self.ref_path(revision);
        if fs::read_to_string(&path).is_ok_and(|old| old.trim() == commit) {
            return Ok(());
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        // huggingface_hub writes the bare hash, no newline.
        fs::write(&path, commit).map_err(io_err(&path))
    }

    /// The cached copy of `file` at `revision`, if it is there and its blob exists
    /// (a dangling snapshot link does not count).
    pub fn find(&self, revision: &str, file: &str) -> Option<PathBuf> {
        let commit = self.resolve_revision(revision)?;
        let path = self.snapshot_path(&commit, file);
        path.is_file().then_some(path)
    }

    /// Makes `snapshots/<commit>/<file>` point at `blobs/<etag>` (relative symlink, as huggingface_hub does).
    pub fn link_snapshot(&self, commit: &str, file: &str, etag: &str) -> Result<PathBuf, HubError> {
        let link = self.snapshot_path(commit, file);
        let parent = link.parent().expect("snapshot path has a parent");
        fs::create_dir_all(parent).map_err(io_err(parent))?;
        match fs::symlink_metadata(&link) {
            Ok(_) => fs::remove_file(&link).map_err(io_err(&link))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(HubError::Io {
                    path: link,
                    source: e,
                });
            }
        }
        let blob = self.blob_path(etag);
        // From snapshots/<commit>/<a>/<b> the blob is ../../(../ per folder in the path)blobs/<etag>.
        let depth = file.split('/').count() - 1;
        let mut target = PathBuf::from("../..");
        for _ in 0..depth {
            target.push("..");
        }
        target.push("blobs");
        target.push(etag);
        make_link(&target, &blob, &link)?;
        Ok(link)
    }

    /// The size of every blob in the repo (what removing it frees).
    pub fn size_on_disk(&self) -> u64 {
        fs::read_dir(self.dir.join("blobs"))
            .map(|rd| {
                rd.filter_map(|e| e.ok()?.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    pub fn exists(&self) -> bool {
        self.dir.is_dir()
    }

    /// Deletes the whole repo folder (blobs, snapshots, refs) and its locks.
    pub fn remove(&self) -> Result<u64, HubError> {
        let freed = self.size_on_disk();
        if self.dir.exists() {
            fs::remove_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        }
        if self.lock_dir.exists() {
            fs::remove_dir_all(&self.lock_dir).map_err(io_err(&self.lock_dir))?;
        }
        Ok(freed)
    }
}

#[cfg(unix)]
fn make_link(relative_target: &Path, _blob: &Path, link: &Path) -> Result<(), HubError> {
    std::os::unix::fs::symlink(relative_target, link).map_err(io_err(link))
}

/// Windows without developer mode cannot symlink; huggingface_hub then keeps a real file in the
/// snapshot. A hard link gives the same without doubling the disk use, a copy is the last resort.
#[cfg(not(unix))]
fn make_link(relative_target: &Path, blob: &Path, link: &Path) -> Result<(), HubError> {
    #[cfg(windows)]
    if std::os::windows::fs::symlink_file(relative_target, link).is_ok() {
        return Ok(());
    }
    let _ = relative_target;
    if fs::hard_link(blob, link).is_ok() {
        return Ok(());
    }
    fs::copy(blob, link).map(|_| ()).map_err(io_err(link))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_huggingface_hub() {
        let cache = HubCache::new("/c");
        let repo = cache.repo("showlab/show-o2-1.5B");
        assert_eq!(repo.dir, Path::new("/c/models--showlab--show-o2-1.5B"));
        assert_eq!(
            repo.blob_path("abc"),
            Path::new("/c/models--showlab--show-o2-1.5B/blobs/abc")
        );
        assert_eq!(
            repo.incomplete_path("abc"),
            Path::new("/c/models--showlab--show-o2-1.5B/blobs/abc.incomplete")
        );
        assert_eq!(
            repo.snapshot_path("c0ffee", "vae/config.json"),
            Path::new("/c/models--showlab--show-o2-1.5B/snapshots/c0ffee/vae/config.json")
        );
        assert_eq!(
            repo.lock_path("abc"),
            Path::new("/c/.locks/models--showlab--show-o2-1.5B/abc.lock")
        );
    }

    #[test]
    fn refs_snapshots_and_nested_links_resolve() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = HubCache::new(tmp.path()).repo("org/name");
        let commit = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(repo.resolve_revision("main"), None);
        assert_eq!(repo.resolve_revision(commit).as_deref(), Some(commit));
        repo.write_ref("main", commit).unwrap();
        assert_eq!(
            fs::read_to_string(repo.dir.join("refs/main")).unwrap(),
            commit
        );
        assert_eq!(repo.resolve_revision("main").as_deref(), Some(commit));

        fs::create_dir_all(repo.dir.join("blobs")).unwrap();
        fs::write(repo.blob_path("e1"), b"hello").unwrap();
        assert_eq!(repo.find("main", "sub/dir/f.txt"), None);
        let link = repo.link_snapshot(commit, "sub/dir/f.txt", "e1").unwrap();
        assert_eq!(fs::read(&link).unwrap(), b"hello");
        #[cfg(unix)]
        assert_eq!(
            fs::read_link(&link).unwrap(),
            Path::new("../../../../blobs/e1")
        );
        assert_eq!(repo.find("main", "sub/dir/f.txt"), Some(link.clone()));
        // Relinking replaces the old link; a dangling one is "not cached".
        repo.link_snapshot(commit, "sub/dir/f.txt", "e2").unwrap();
        assert_eq!(repo.find("main", "sub/dir/f.txt"), None);
        assert_eq!(repo.size_on_disk(), 5);
        assert_eq!(repo.remove().unwrap(), 5);
        assert!(!repo.exists());
    }
}
