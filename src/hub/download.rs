//! Fetching one file from a Hugging Face hub into the cache: a HEAD to learn the commit, etag and
//! size, then a GET that resumes a partial `.incomplete` blob with `Range: bytes=N-`, hashes while it
//! streams (sha256), retries a dropped connection from where it stopped, and only renames the blob
//! into place once size and hash check out. Blocking I/O (ureq), no async runtime.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::HubError;
use super::cache::{RepoCache, is_commit_hash};
use super::catalog::FileEntry;
use super::config::HubConfig;

const CHUNK: usize = 256 * 1024;

/// A blocking client for one hub endpoint and cache.
pub struct Hub {
    pub config: HubConfig,
    agent: ureq::Agent,
}

/// What the hub says about a file (from the `resolve` HEAD).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMetadata {
    /// `X-Repo-Commit`: the commit the revision resolved to.
    pub commit: String,
    /// `X-Linked-Etag` (LFS: the sha256) or `ETag` (git sha1), unquoted: the blob's name.
    pub etag: String,
    /// `X-Linked-Size` or `Content-Length`, when sent.
    pub size: Option<u64>,
    /// True when the etag is a content sha256 (LFS files), so it can be checked.
    pub etag_is_sha256: bool,
}

/// One file to fetch.
#[derive(Debug, Clone, Copy)]
pub struct FileRequest<'a> {
    pub repo: &'a str,
    pub revision: &'a str,
    pub file: &'a FileEntry,
}

/// How a file ended up in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// Already in the snapshot folder; no request was made.
    Cached(PathBuf),
    /// The blob was there (another revision or a Python download); only the link was added.
    Linked(PathBuf),
    /// Downloaded (`bytes` this run; a resumed file counts only the new part).
    Downloaded {
        path: PathBuf,
        bytes: u64,
        resumed_from: u64,
    },
}

impl Fetched {
    pub fn path(&self) -> &PathBuf {
        match self {
            Self::Cached(p) | Self::Linked(p) => p,
            Self::Downloaded { path, .. } => path,
        }
    }
}

/// Byte counts reported while a file streams: `total` is 0 when the server did not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    pub done: u64,
    pub total: u64,
}

impl Hub {
    pub fn new(config: HubConfig) -> Self {
        let mut builder = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .redirect_auth_headers(ureq::config::RedirectAuthHeaders::SameHost)
            .user_agent(concat!("showo-studio/", env!("CARGO_PKG_VERSION")))
            // Content must arrive byte-exact for the hash; ask for no compression.
            .accept_encoding("identity")
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .timeout_per_read(Some(Duration::from_secs(60)));
        if !config.proxy_from_env {
            builder = builder.proxy(None);
        }
        Self {
            agent: builder.build().new_agent(),
            config,
        }
    }

    /// Fails with `InsufficientDisk` (naming `what()`) unless `dir`'s file system has `needed`
    /// bytes free.
    pub fn ensure_free(
        &self,
        dir: &std::path::Path,
        needed: u64,
        what: impl FnOnce() -> String,
    ) -> Result<(), HubError> {
        let free = self
            .config
            .disk
            .available(dir)
            .map_err(|source| HubError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        if free < needed {
            return Err(HubError::InsufficientDisk {
                dir: dir.to_path_buf(),
                file: what(),
                needed,
                free,
            });
        }
        Ok(())
    }

    /// `{endpoint}/{repo}/resolve/{revision}/{file}`, as huggingface_hub builds it.
    pub fn file_url(&self, repo: &str, revision: &str, file: &str) -> String {
        format!(
            "{}/{}/resolve/{}/{}",
            self.config.endpoint,
            repo,
            encode(revision, false),
            encode(file, true)
        )
    }

    pub fn repo_cache(&self, repo: &str) -> RepoCache {
        self.config.cache.repo(repo)
    }

    /// The cached path of a file, without any network access.
    pub fn cached(&self, repo: &str, revision: &str, file: &str) -> Option<PathBuf> {
        self.repo_cache(repo).find(revision, file)
    }

    /// HEAD on the resolve URL. `Ok(None)` when the file does not exist (404).
    pub fn metadata(
        &self,
        repo: &str,
        revision: &str,
        file: &str,
    ) -> Result<Option<FileMetadata>, HubError> {
        let mut url = self.file_url(repo, revision, file);
        self.check_scheme(&url)?;
        // Follow relative redirects (renamed repos) ourselves; an absolute one goes to the CDN and
        // the headers we want are already on the redirect response.
        for _ in 0..5 {
            let response = self
                .with_auth(self.agent.head(&url))
                .config()
                .max_redirects(0)
                .build()
                .call()
                .map_err(|e| network_error(&url, e))?;
            let status = response.status().as_u16();
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            if status == 404 {
                return Ok(None);
            }
            if (300..400).contains(&status)
                && let Some(location) = header("location")
                && location.starts_with('/')
            {
                url = format!("{}{}", origin(&url), location);
                continue;
            }
            if !(200..400).contains(&status) {
                return Err(status_error(&url, status, self.config.token.is_some()));
            }
            let commit = header("x-repo-commit").ok_or_else(|| HubError::MissingHeader {
                url: url.clone(),
                header: "X-Repo-Commit",
            })?;
            let linked_etag = header("x-linked-etag");
            let etag_is_lfs = linked_etag.is_some();
            let etag = linked_etag
                .or_else(|| header("etag"))
                .map(|e| unquote_etag(&e))
                .ok_or_else(|| HubError::MissingHeader {
                    url: url.clone(),
                    header: "ETag",
                })?;
            let size = header("x-linked-size")
                .or_else(|| (status == 200).then(|| header("content-length")).flatten())
                .and_then(|s| s.trim().parse().ok());
            let etag_is_sha256 =
                etag_is_lfs && etag.len() == 64 && etag.bytes().all(|b| b.is_ascii_hexdigit());
            if !is_commit_hash(&commit) || etag.is_empty() || etag.contains(['/', '\\']) {
                return Err(HubError::MissingHeader {
                    url,
                    header: "X-Repo-Commit / ETag (malformed)",
                });
            }
            return Ok(Some(FileMetadata {
                commit: commit.to_ascii_lowercase(),
                etag,
                size,
                etag_is_sha256,
            }));
        }
        Err(HubError::Network {
            url,
            message: "more than 5 redirects within the hub".into(),
        })
    }

    /// Brings one file into the cache (or finds it there) and returns where it is.
    ///
    /// `progress` sees byte counts while the file streams; setting `cancel` stops at the next chunk
    /// and keeps the partial file so the next call resumes it.
    pub fn fetch(
        &self,
        request: FileRequest<'_>,
        progress: &mut dyn FnMut(Transfer),
        cancel: &AtomicBool,
    ) -> Result<Fetched, HubError> {
        let FileRequest {
            repo,
            revision,
            file,
        } = request;
        let cache = self.repo_cache(repo);
        if let Some(path) = cache.find(revision, &file.path) {
            return Ok(Fetched::Cached(path));
        }
        if self.config.offline {
            return Err(HubError::Offline {
                repo: repo.to_string(),
                file: file.path.clone(),
                revision: revision.to_string(),
                cache_dir: cache.dir.clone(),
            });
        }
        let url = self.file_url(repo, revision, &file.path);
        let meta = self
            .metadata(repo, revision, &file.path)?
            .ok_or_else(|| HubError::NotFound { url: url.clone() })?;

        if cache.blob_path(&meta.etag).is_file() {
            let path = cache.link_snapshot(&meta.commit, &file.path, &meta.etag)?;
            cache.write_ref(revision, &meta.commit)?;
            return Ok(Fetched::Linked(path));
        }

        let blobs = cache.dir.join("blobs");
        fs::create_dir_all(&blobs).map_err(|source| HubError::Io {
            path: blobs.clone(),
            source,
        })?;
        let _lock = lock_blob(&cache, &meta.etag, &file.path)?;

        let expected_size = meta.size.or(file.size);
        let (resumed_from, bytes) =
            self.download_blob(&url, &cache, &meta, file, expected_size, progress, cancel)?;
        let path = cache.link_snapshot(&meta.commit, &file.path, &meta.etag)?;
        cache.write_ref(revision, &meta.commit)?;
        Ok(Fetched::Downloaded {
            path,
            bytes,
            resumed_from,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn download_blob(
        &self,
        url: &str,
        cache: &RepoCache,
        meta: &FileMetadata,
        file: &FileEntry,
        expected_size: Option<u64>,
        progress: &mut dyn FnMut(Transfer),
        cancel: &AtomicBool,
    ) -> Result<(u64, u64), HubError> {
        let partial_path = cache.incomplete_path(&meta.etag);
        let io_at = |source| HubError::Io {
            path: partial_path.clone(),
            source,
        };
        let mut partial = fs::metadata(&partial_path).map(|m| m.len()).unwrap_or(0);
        if expected_size.is_some_and(|size| partial > size) {
            fs::remove_file(&partial_path).map_err(io_at)?;
            partial = 0;
        }
        let resumed_from = partial;

        if let Some(size) = expected_size {
            self.ensure_free(&cache.dir.join("blobs"), size - partial, || {
                file.path.clone()
            })?;
        }

        // The hash must cover the bytes already on disk from an earlier attempt.
        let mut hasher = Sha256::new();
        if partial > 0 {
            let mut existing = File::open(&partial_path).map_err(io_at)?;
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = existing.read(&mut buf).map_err(io_at)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
        }
        let mut out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&partial_path)
            .map_err(io_at)?;
        let total = expected_size.unwrap_or(0);
        progress(Transfer {
            done: partial,
            total,
        });

        let mut attempt = 0;
        let mut buf = vec![0u8; CHUNK];
        loop {
            attempt += 1;
            if expected_size == Some(partial) {
                break;
            }
            let mut request = self.with_auth(self.agent.get(url));
            if partial > 0 {
                request = request.header("Range", format!("bytes={partial}-"));
            }
            let response = match request.call() {
                Ok(r) => r,
                Err(e) if attempt < self.config.max_attempts && is_transient(&e) => continue,
                Err(e) => return Err(network_error(url, e)),
            };
            let status = response.status().as_u16();
            match status {
                206 => {}
                200 if partial > 0 => {
                    // The server ignored the Range: start the file again.
                    out.set_len(0).map_err(io_at)?;
                    partial = 0;
                    hasher = Sha256::new();
                }
                200 => {}
                416 => {
                    // Nothing left to send for this range: a stale partial longer than the file.
                    out.set_len(0).map_err(io_at)?;
                    partial = 0;
                    hasher = Sha256::new();
                    if attempt < self.config.max_attempts {
                        continue;
                    }
                    return Err(status_error(url, status, self.config.token.is_some()));
                }
                _ => return Err(status_error(url, status, self.config.token.is_some())),
            }
            let mut body = response.into_body().into_reader();
            let stream_result: Result<(), io::Error> = loop {
                if cancel.load(Ordering::Relaxed) {
                    out.flush().map_err(io_at)?;
                    return Err(HubError::Cancelled {
                        file: file.path.clone(),
                        partial_bytes: partial,
                    });
                }
                let n = match body.read(&mut buf) {
                    Ok(0) => break Ok(()),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => break Err(e),
                };
                out.write_all(&buf[..n])
                    .map_err(|source| write_error(&partial_path, &file.path, source))?;
                hasher.update(&buf[..n]);
                partial += n as u64;
                progress(Transfer {
                    done: partial,
                    total,
                });
            };
            match stream_result {
                Ok(()) if expected_size.is_none_or(|size| partial >= size) => break,
                // The body ended early or the connection dropped: resume from what we have.
                _ if attempt < self.config.max_attempts => continue,
                Ok(()) => {
                    return Err(HubError::Network {
                        url: url.to_string(),
                        message: format!(
                            "the connection closed after {partial} of {total} bytes ({} attempts); run the pull again to resume",
                            attempt
                        ),
                    });
                }
                Err(e) => {
                    return Err(HubError::Network {
                        url: url.to_string(),
                        message: format!(
                            "{e} after {partial} bytes ({attempt} attempts); run the pull again to resume"
                        ),
                    });
                }
            }
        }
        out.sync_all()
            .map_err(|source| write_error(&partial_path, &file.path, source))?;
        drop(out);

        let discard = || {
            let _ = fs::remove_file(&partial_path);
        };
        if let Some(size) = expected_size
            && partial != size
        {
            discard();
            return Err(HubError::SizeMismatch {
                url: url.to_string(),
                file: file.path.clone(),
                expected: size,
                got: partial,
            });
        }
        let got = hex(&hasher.finalize());
        let expected = file
            .sha256
            .clone()
            .or_else(|| meta.etag_is_sha256.then(|| meta.etag.to_ascii_lowercase()));
        if let Some(expected) = expected
            && expected != got
        {
            discard();
            return Err(HubError::ChecksumMismatch {
                url: url.to_string(),
                file: file.path.clone(),
                expected,
                got,
            });
        }
        if let Some(prefix) = &file.sha256_prefix
            && !got.starts_with(prefix.as_str())
        {
            discard();
            return Err(HubError::ChecksumMismatch {
                url: url.to_string(),
                file: file.path.clone(),
                expected: format!("{prefix}…"),
                got,
            });
        }
        let blob = cache.blob_path(&meta.etag);
        fs::rename(&partial_path, &blob).map_err(|source| HubError::Io { path: blob, source })?;
        Ok((resumed_from, partial - resumed_from))
    }

    fn with_auth<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.config.token {
            Some(token) => request.header("Authorization", format!("Bearer {token}")),
            None => request,
        }
    }

    fn check_scheme(&self, url: &str) -> Result<(), HubError> {
        if url.starts_with("https://") && !cfg!(feature = "hub-tls") {
            return Err(HubError::TlsDisabled {
                url: url.to_string(),
            });
        }
        Ok(())
    }
}

/// SHA-256 of a file, streamed, with progress (for `models verify`).
pub fn sha256_file(
    path: &std::path::Path,
    progress: &mut dyn FnMut(Transfer),
    cancel: &AtomicBool,
) -> Result<String, HubError> {
    let io_at = |source| HubError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io_at)?;
    let total = file.metadata().map_err(io_at)?.len();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut done = 0;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(HubError::Cancelled {
                file: path.display().to_string(),
                partial_bytes: done,
            });
        }
        let n = file.read(&mut buf).map_err(io_at)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        done += n as u64;
        progress(Transfer { done, total });
    }
    Ok(hex(&hasher.finalize()))
}

/// A lock file per blob, so the GUI and the CLI never write the same `.incomplete` at once.
fn lock_blob(cache: &RepoCache, etag: &str, file: &str) -> Result<File, HubError> {
    use fs2::FileExt;
    let path = cache.lock_path(etag);
    let parent = path.parent().expect("lock path has a parent");
    fs::create_dir_all(parent).map_err(|source| HubError::Io {
        path: parent.to_path_buf(),
        source,
    })?;
    let lock = File::create(&path).map_err(|source| HubError::Io {
        path: path.clone(),
        source,
    })?;
    lock.try_lock_exclusive().map_err(|_| HubError::Busy {
        file: file.to_string(),
        lock: path,
    })?;
    Ok(lock)
}

fn write_error(path: &std::path::Path, file: &str, source: io::Error) -> HubError {
    if source.kind() == io::ErrorKind::StorageFull {
        HubError::DiskFull {
            path: path.to_path_buf(),
            file: file.to_string(),
        }
    } else {
        HubError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

fn is_transient(e: &ureq::Error) -> bool {
    matches!(
        e,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::Protocol(_)
    )
}

fn network_error(url: &str, e: ureq::Error) -> HubError {
    HubError::Network {
        url: url.to_string(),
        message: e.to_string(),
    }
}

fn status_error(url: &str, status: u16, have_token: bool) -> HubError {
    let message = match status {
        401 | 403 if !have_token => {
            "access denied: the repo may be gated or private; set HF_TOKEN".to_string()
        }
        401 | 403 => {
            "access denied with the given HF_TOKEN (gated repo not accepted, or a wrong token)"
                .to_string()
        }
        404 => "not found".to_string(),
        429 => "rate limited by the hub; try again later".to_string(),
        s if s >= 500 => "the hub had a server error; try again later".to_string(),
        _ => "unexpected response".to_string(),
    };
    HubError::Http {
        url: url.to_string(),
        status,
        message,
    }
}

/// `W/"abc"` → `abc`.
fn unquote_etag(etag: &str) -> String {
    etag.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .to_string()
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

/// Percent-encodes everything but unreserved characters (and `/` when `keep_slash`).
fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_built_like_huggingface_hub() {
        let hub = Hub::new(HubConfig::new("https://huggingface.co/", "/tmp/none"));
        assert_eq!(
            hub.file_url("showlab/show-o2-1.5B", "main", "pytorch_model.bin"),
            "https://huggingface.co/showlab/show-o2-1.5B/resolve/main/pytorch_model.bin"
        );
        assert_eq!(
            hub.file_url("o/n", "refs/pr/1", "sub dir/a+b.json"),
            "https://huggingface.co/o/n/resolve/refs%2Fpr%2F1/sub%20dir/a%2Bb.json"
        );
    }

    #[test]
    fn etags_and_origins() {
        assert_eq!(unquote_etag("W/\"abc\""), "abc");
        assert_eq!(unquote_etag("\"abc\""), "abc");
        assert_eq!(origin("http://127.0.0.1:8080/a/b"), "http://127.0.0.1:8080");
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }

    #[test]
    fn sha256_of_a_known_string() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("abc");
        fs::write(&path, b"abc").unwrap();
        let got = sha256_file(&path, &mut |_| {}, &AtomicBool::new(false)).unwrap();
        assert_eq!(
            got,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
