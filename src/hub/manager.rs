//! Model-level operations over the catalog and the cache: status, plan, pull, verify, remove,
//! paths. The CLI (`models list|pull|verify|rm|path`) and the GUI models panel call these; both
//! receive [`PullEvent`]s (owned, so the GUI can forward them over a channel).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::HubError;
use super::cache::is_commit_hash;
use super::catalog::{Catalog, FileEntry, ModelEntry, RepoFiles};
use super::download::{Fetched, FileRequest, Hub, Transfer, sha256_file};

/// Where one catalog file stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    /// In the snapshot folder.
    Cached(PathBuf),
    /// Not cached; `size` from the hub (or the catalog offline), `partial` bytes already downloaded.
    Missing { size: Option<u64>, partial: u64 },
    /// Not in this snapshot, but its blob is (another revision, or a Python download): only a link is needed.
    Linkable,
    /// An optional file the hub does not have.
    Absent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    pub repo: String,
    pub revision: String,
    pub entry: FileEntry,
    pub state: FileState,
}

/// What a pull would do: shown to the user (size and destination) before anything big starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullPlan {
    pub model_id: String,
    pub cache_root: PathBuf,
    pub files: Vec<PlannedFile>,
}

impl PullPlan {
    /// Bytes still to download, and whether every missing file's size was known.
    pub fn bytes_to_download(&self) -> (u64, bool) {
        let mut total = 0;
        let mut all_known = true;
        for f in &self.files {
            if let FileState::Missing { size, partial } = &f.state {
                match size {
                    Some(size) => total += size.saturating_sub(*partial),
                    None => all_known = false,
                }
            }
        }
        (total, all_known)
    }

    pub fn missing(&self) -> impl Iterator<Item = &PlannedFile> {
        self.files
            .iter()
            .filter(|f| matches!(f.state, FileState::Missing { .. } | FileState::Linkable))
    }

    pub fn is_complete(&self) -> bool {
        self.missing().next().is_none()
    }
}

/// Progress of a pull or a verify, for a CLI bar or GUI events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullEvent {
    FileStarted {
        repo: String,
        file: String,
        size: Option<u64>,
    },
    Progress {
        repo: String,
        file: String,
        done: u64,
        total: u64,
    },
    FileDone {
        repo: String,
        file: String,
        outcome: Fetched,
    },
    FileSkipped {
        repo: String,
        file: String,
        reason: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullReport {
    pub downloaded_bytes: u64,
    pub files: Vec<(String, String, Fetched)>,
}

/// Installation state of a catalog model, for `models list` and the GUI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelStatus {
    BuiltIn,
    Installed,
    Partial { missing: Vec<String> },
    NotInstalled,
}

/// Cache-only status (no network).
pub fn status(hub: &Hub, catalog: &Catalog, model: &ModelEntry) -> ModelStatus {
    if model.is_builtin() {
        return ModelStatus::BuiltIn;
    }
    let mut missing = Vec::new();
    let mut present = 0;
    for rf in catalog.repos_for(model) {
        for f in rf.files.iter().filter(|f| !f.optional) {
            if hub.cached(&rf.repo, &rf.revision, &f.path).is_some() {
                present += 1;
            } else {
                missing.push(format!("{}/{}", rf.repo, f.path));
            }
        }
    }
    match (missing.is_empty(), present) {
        (true, _) => ModelStatus::Installed,
        (false, 0) => ModelStatus::NotInstalled,
        (false, _) => ModelStatus::Partial { missing },
    }
}

/// Works out what a pull needs. Cached files cost no request; for the rest a HEAD gives the exact
/// size (offline: the catalog's size).
pub fn plan(hub: &Hub, catalog: &Catalog, model: &ModelEntry) -> Result<PullPlan, HubError> {
    let mut files = Vec::new();
    for RepoFiles {
        repo,
        revision,
        files: entries,
    } in catalog.repos_for(model)
    {
        let cache = hub.repo_cache(&repo);
        for entry in entries {
            let state = if let Some(path) = cache.find(&revision, &entry.path) {
                FileState::Cached(path)
            } else if hub.config.offline {
                FileState::Missing {
                    size: entry.size,
                    partial: 0,
                }
            } else {
                match hub.metadata(&repo, &revision, &entry.path)? {
                    None if entry.optional => FileState::Absent,
                    None => {
                        return Err(HubError::NotFound {
                            url: hub.file_url(&repo, &revision, &entry.path),
                        });
                    }
                    Some(meta) if cache.blob_path(&meta.etag).is_file() => FileState::Linkable,
                    Some(meta) => {
                        let partial = std::fs::metadata(cache.incomplete_path(&meta.etag))
                            .map(|m| m.len())
                            .unwrap_or(0);
                        FileState::Missing {
                            size: meta.size.or(entry.size),
                            partial,
                        }
                    }
                }
            };
            files.push(PlannedFile {
                repo: repo.clone(),
                revision: revision.clone(),
                entry,
                state,
            });
        }
    }
    Ok(PullPlan {
        model_id: model.id.clone(),
        cache_root: hub.config.cache.root.clone(),
        files,
    })
}

/// Downloads everything the plan lists as missing. Checks the free space for the whole plan first.
pub fn pull(
    hub: &Hub,
    plan: &PullPlan,
    events: &mut dyn FnMut(PullEvent),
    cancel: &AtomicBool,
) -> Result<PullReport, HubError> {
    let (needed, _) = plan.bytes_to_download();
    if needed > 0 && !hub.config.offline {
        hub.ensure_free(&plan.cache_root, needed, || {
            format!("{} ({} files)", plan.model_id, plan.missing().count())
        })?;
    }
    let mut report = PullReport::default();
    for planned in &plan.files {
        let (repo, file) = (planned.repo.clone(), planned.entry.path.clone());
        let size = match &planned.state {
            FileState::Absent => {
                events(PullEvent::FileSkipped {
                    repo,
                    file,
                    reason: "optional file not on the hub".into(),
                });
                continue;
            }
            FileState::Cached(path) => {
                let outcome = Fetched::Cached(path.clone());
                events(PullEvent::FileDone {
                    repo: repo.clone(),
                    file: file.clone(),
                    outcome: outcome.clone(),
                });
                report.files.push((repo, file, outcome));
                continue;
            }
            FileState::Missing { size, .. } => *size,
            FileState::Linkable => Some(0),
        };
        events(PullEvent::FileStarted {
            repo: repo.clone(),
            file: file.clone(),
            size,
        });
        let request = FileRequest {
            repo: &planned.repo,
            revision: &planned.revision,
            file: &planned.entry,
        };
        let mut on_progress = |t: Transfer| {
            events(PullEvent::Progress {
                repo: repo.clone(),
                file: file.clone(),
                done: t.done,
                total: t.total,
            })
        };
        let outcome = match hub.fetch(request, &mut on_progress, cancel) {
            Ok(outcome) => outcome,
            Err(HubError::NotFound { .. }) if planned.entry.optional => {
                events(PullEvent::FileSkipped {
                    repo,
                    file,
                    reason: "optional file not on the hub".into(),
                });
                continue;
            }
            Err(e) => return Err(e),
        };
        if let Fetched::Downloaded { bytes, .. } = &outcome {
            report.downloaded_bytes += bytes;
        }
        events(PullEvent::FileDone {
            repo: repo.clone(),
            file: file.clone(),
            outcome: outcome.clone(),
        });
        report.files.push((repo, file, outcome));
    }
    Ok(report)
}

/// What a background pull sends: its events, then exactly one `Finished`.
#[derive(Debug)]
pub enum PullMessage {
    Event(PullEvent),
    Finished(Result<PullReport, HubError>),
}

/// A pull running on its own thread (for the GUI): read `messages`, set `cancel` to stop.
pub struct PullHandle {
    pub messages: crossbeam_channel::Receiver<PullMessage>,
    pub cancel: Arc<AtomicBool>,
    pub thread: std::thread::JoinHandle<()>,
}

/// Starts `pull` on a background thread so the caller never blocks on the network.
pub fn spawn_pull(hub: Arc<Hub>, plan: PullPlan) -> PullHandle {
    spawn_plan_and_pull(hub, move |_| Ok(plan))
}

/// Like [`spawn_pull`], with the plan also made on the background thread (planning sends HEAD
/// requests); a planning error arrives as the `Finished` message.
pub fn spawn_plan_and_pull(
    hub: Arc<Hub>,
    make_plan: impl FnOnce(&Hub) -> Result<PullPlan, HubError> + Send + 'static,
) -> PullHandle {
    let (tx, rx) = crossbeam_channel::unbounded();
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let thread = std::thread::spawn(move || {
        let result = make_plan(&hub).and_then(|plan| {
            pull(
                &hub,
                &plan,
                &mut |e| drop(tx.send(PullMessage::Event(e))),
                &flag,
            )
        });
        let _ = tx.send(PullMessage::Finished(result));
    });
    PullHandle {
        messages: rx,
        cancel,
        thread,
    }
}

/// The result of checking one cached file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The full sha256 matched (from the catalog or the LFS etag the blob is named after).
    Sha256Ok,
    /// Only a known prefix of the sha256 could be compared, and it matched.
    PrefixOk,
    /// No hash is known for this file (a small git-tracked file): size checked where known.
    NoHashKnown,
    Missing,
    Corrupt {
        expected: String,
        got: String,
    },
    WrongSize {
        expected: u64,
        got: u64,
    },
}

impl Check {
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Sha256Ok | Self::PrefixOk | Self::NoHashKnown)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCheck {
    pub repo: String,
    pub file: String,
    pub path: Option<PathBuf>,
    pub check: Check,
}

/// Re-hashes every cached file of a model (and its components) against what is known.
pub fn verify(
    hub: &Hub,
    catalog: &Catalog,
    model: &ModelEntry,
    events: &mut dyn FnMut(PullEvent),
    cancel: &AtomicBool,
) -> Result<Vec<FileCheck>, HubError> {
    let mut results = Vec::new();
    for RepoFiles {
        repo,
        revision,
        files,
    } in catalog.repos_for(model)
    {
        for entry in files {
            let Some(path) = hub.cached(&repo, &revision, &entry.path) else {
                if !entry.optional {
                    results.push(FileCheck {
                        repo: repo.clone(),
                        file: entry.path.clone(),
                        path: None,
                        check: Check::Missing,
                    });
                }
                continue;
            };
            let len = std::fs::metadata(&path)
                .map_err(|source| HubError::Io {
                    path: path.clone(),
                    source,
                })?
                .len();
            // The blob name is the LFS sha256 for large files: a hash we can check even without the catalog.
            let blob_name = std::fs::canonicalize(&path)
                .ok()
                .and_then(|p| Some(p.file_name()?.to_str()?.to_string()));
            let etag_sha = blob_name.filter(|n| {
                n.len() == 64 && !is_commit_hash(n) && n.bytes().all(|b| b.is_ascii_hexdigit())
            });
            let expected = entry.sha256.clone().or(etag_sha);
            let check = if let Some(size) = entry.size.filter(|s| *s != len) {
                Check::WrongSize {
                    expected: size,
                    got: len,
                }
            } else if expected.is_none() && entry.sha256_prefix.is_none() {
                Check::NoHashKnown
            } else {
                let (r, f) = (repo.clone(), entry.path.clone());
                events(PullEvent::FileStarted {
                    repo: r.clone(),
                    file: f.clone(),
                    size: Some(len),
                });
                let mut on_progress = |t: Transfer| {
                    events(PullEvent::Progress {
                        repo: r.clone(),
                        file: f.clone(),
                        done: t.done,
                        total: t.total,
                    })
                };
                let got = sha256_file(&path, &mut on_progress, cancel)?;
                match (&expected, &entry.sha256_prefix) {
                    (Some(want), _) if *want != got => Check::Corrupt {
                        expected: want.clone(),
                        got,
                    },
                    (_, Some(prefix)) if !got.starts_with(prefix.as_str()) => Check::Corrupt {
                        expected: format!("{prefix}…"),
                        got,
                    },
                    (Some(_), _) => Check::Sha256Ok,
                    (None, _) => Check::PrefixOk,
                }
            };
            results.push(FileCheck {
                repo: repo.clone(),
                file: entry.path.clone(),
                path: Some(path),
                check,
            });
        }
    }
    Ok(results)
}

/// Removes a model's repo from the cache; with `components`, also the components that no other
/// installed model uses. Returns the bytes freed.
pub fn remove(
    hub: &Hub,
    catalog: &Catalog,
    model: &ModelEntry,
    components: bool,
) -> Result<u64, HubError> {
    let Some(repo) = &model.repo else {
        return Ok(0);
    };
    let mut freed = hub.repo_cache(repo).remove()?;
    if components {
        for id in &model.components {
            let still_used = catalog.models.iter().any(|other| {
                other.id != model.id
                    && other.components.contains(id)
                    && other
                        .repo
                        .as_ref()
                        .is_some_and(|r| hub.repo_cache(r).exists())
            });
            if let (false, Some(component)) = (still_used, catalog.component(id)) {
                freed += hub.repo_cache(&component.repo).remove()?;
            }
        }
    }
    Ok(freed)
}

/// Where a fully installed model's files are: what the loader opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledModel {
    pub id: String,
    /// The snapshot folder of the model's own repo (or the built-in model's folder).
    pub dir: PathBuf,
    /// Every non-optional file present, as (repo, path in repo, path on disk).
    pub files: Vec<(String, String, PathBuf)>,
}

impl InstalledModel {
    /// The local path of `file` from `repo`.
    pub fn file(&self, repo: &str, file: &str) -> Option<&PathBuf> {
        self.files
            .iter()
            .find(|(r, f, _)| r == repo && f == file)
            .map(|(_, _, p)| p)
    }
}

/// Paths of an installed model, or an error naming what is missing. The built-in model is
/// wherever `crate::assets` finds it (package, app bundle or source tree), not at its
/// catalog `local_path`, which only names the folder in the source tree.
pub fn installed(
    hub: &Hub,
    catalog: &Catalog,
    model: &ModelEntry,
) -> Result<InstalledModel, HubError> {
    if model.is_builtin() {
        let dir = crate::assets::builtin_model_dir().ok_or_else(|| HubError::BuiltinMissing {
            id: model.id.clone(),
            looked: crate::assets::builtin_model_candidates()
                .iter()
                .map(|d| d.display().to_string())
                .collect(),
        })?;
        return Ok(InstalledModel {
            id: model.id.clone(),
            dir,
            files: Vec::new(),
        });
    }
    let mut files = Vec::new();
    let mut missing = Vec::new();
    for rf in catalog.repos_for(model) {
        for f in &rf.files {
            match hub.cached(&rf.repo, &rf.revision, &f.path) {
                Some(p) => files.push((rf.repo.clone(), f.path.clone(), p)),
                None if f.optional => {}
                None => missing.push(format!("{}/{}", rf.repo, f.path)),
            }
        }
    }
    if !missing.is_empty() {
        return Err(HubError::NotInstalled {
            id: model.id.clone(),
            missing,
        });
    }
    let repo = model
        .repo
        .as_deref()
        .expect("validated: a hub model has a repo");
    let dir = files
        .iter()
        .find(|(r, _, _)| r == repo)
        .and_then(|(_, f, p)| snapshot_root(p, f))
        .expect("a hub model has at least one file");
    Ok(InstalledModel {
        id: model.id.clone(),
        dir,
        files,
    })
}

/// `snapshots/<commit>/a/b.json` minus `a/b.json`.
fn snapshot_root(path: &std::path::Path, file: &str) -> Option<PathBuf> {
    let mut dir = path.to_path_buf();
    for _ in 0..file.split('/').count() {
        dir = dir.parent()?.to_path_buf();
    }
    Some(dir)
}

/// A folder the pipeline can load a downloaded model from: the model repo's files and its
/// components' (tokenizer, VAE) side by side, as symbolic links into the Hugging Face cache
/// (nothing is copied). Made under `links_root/<id>`, refreshed on every call. A component
/// file whose name the model repo already uses (the base LLM's `config.json`) is left out:
/// the loader knows the released Qwen2.5 configs by id. The built-in model's folder is
/// returned as it is.
pub fn load_folder(
    hub: &Hub,
    catalog: &Catalog,
    model: &ModelEntry,
    links_root: &std::path::Path,
) -> Result<PathBuf, HubError> {
    let found = installed(hub, catalog, model)?;
    if model.is_builtin() {
        return Ok(found.dir);
    }
    let dir = links_root.join(&model.id);
    let io = |path: &std::path::Path, e: std::io::Error| HubError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| io(&dir, e))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
    let own_repo = model.repo.as_deref();
    // The model's own files first, so they win every name.
    let mut files = found.files.clone();
    files.sort_by_key(|(repo, _, _)| Some(repo.as_str()) != own_repo);
    for (_, name, target) in &files {
        let link = dir.join(name);
        if link.symlink_metadata().is_ok() {
            continue;
        }
        if let Some(parent) = link.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        let target = target.canonicalize().map_err(|e| io(target, e))?;
        symlink(&target, &link).map_err(|e| io(&link, e))?;
    }
    Ok(dir)
}

#[cfg(unix)]
fn symlink(target: &std::path::Path, link: &std::path::Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

/// Windows needs developer mode for symbolic links; a copy always works there.
#[cfg(not(unix))]
fn symlink(target: &std::path::Path, link: &std::path::Path) -> std::io::Result<()> {
    std::fs::copy(target, link).map(|_| ())
}

/// The load folder of catalog model `id` for this user: the Hugging Face cache and settings
/// from the environment, links under `super::model_links_root()`. What `--model <id>` and the
/// studio's "Load <id>" open.
pub fn folder_for_id(catalog: &Catalog, id: &str) -> Result<PathBuf, HubError> {
    let model = catalog.model(id)?;
    let hub = Hub::new(super::HubConfig::from_env());
    if model.is_builtin() {
        return Ok(installed(&hub, catalog, model)?.dir);
    }
    let links = super::model_links_root().ok_or(HubError::NoCacheFolder)?;
    load_folder(&hub, catalog, model, &links)
}
