//! A tiny threaded HTTP/1.1 server that behaves like the Hugging Face hub for the model manager's
//! tests: `resolve` URLs with `X-Repo-Commit`, `ETag` / `X-Linked-Etag` / `X-Linked-Size`, LFS files
//! redirected to a "CDN" on another host name, HEAD and Range requests, a bearer-token check, and fault modes
//! (drop the connection mid-file once, serve corrupted bytes). Every request is logged.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

pub const MODEL_REPO: &str = "showo-test/show-o2-golden-tiny";
pub const VAE_REPO: &str = "showo-test/wan-vae-golden-tiny";

/// One repo: a commit and its files.
#[derive(Debug, Clone)]
pub struct ServedRepo {
    pub id: String,
    pub commit: String,
    pub files: BTreeMap<String, Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct Faults {
    /// Paths ("repo/file") whose next GET is cut off halfway.
    drop_once: HashSet<String>,
    /// Paths served with one byte flipped (headers still describe the good file).
    corrupt: HashSet<String>,
    /// Paths streamed slowly (10 ms per 64 KiB), so a client can act mid-file.
    slow: HashSet<String>,
}

struct State {
    /// The "CDN" that LFS files redirect to: the same server under another host name
    /// (`localhost`), so a client must treat it as a different host (no Authorization header).
    cdn_base: String,
    repos: HashMap<String, ServedRepo>,
    /// sha256 → (repo, file), for the CDN path.
    by_sha: HashMap<String, (String, String)>,
    /// (repo, file) → etag, computed once.
    etags: HashMap<(String, String), String>,
    log: Mutex<Vec<LoggedRequest>>,
    faults: Mutex<Faults>,
    required_token: Mutex<Option<String>>,
    body_bytes_sent: AtomicU64,
}

pub struct HubServer {
    pub endpoint: String,
    addr: SocketAddr,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Large binary files go through git LFS on the hub (etag = sha256, served from a CDN).
pub fn is_lfs(file: &str) -> bool {
    [".safetensors", ".bin", ".pth"]
        .iter()
        .any(|ext| file.ends_with(ext))
}

/// The etag the hub gives a file: the sha256 for LFS files; for small git files the hub sends the
/// git blob sha1, for which this server uses an equally opaque 40-hex stand-in.
pub fn etag_of(file: &str, bytes: &[u8]) -> String {
    let sha = sha256_hex(bytes);
    if is_lfs(file) {
        sha
    } else {
        sha256_hex(format!("blob {}\0{sha}", bytes.len()).as_bytes())[..40].to_string()
    }
}

impl ServedRepo {
    pub fn from_dir(id: &str, commit: &str, dir: &Path, names: &[(&str, &str)]) -> Self {
        let files = names
            .iter()
            .map(|(on_disk, in_repo)| {
                let bytes = std::fs::read(dir.join(on_disk))
                    .unwrap_or_else(|e| panic!("{}: {e}", dir.join(on_disk).display()));
                (in_repo.to_string(), bytes)
            })
            .collect();
        Self {
            id: id.to_string(),
            commit: commit.to_string(),
            files,
        }
    }
}

/// The golden tiny model as two hub repos (model + VAE), or `None` (with a message) when the
/// golden folder is absent outside CI.
pub fn golden_repos() -> Option<Vec<ServedRepo>> {
    let set = showo::golden::open_or_fail()?;
    Some(vec![
        ServedRepo::from_dir(
            MODEL_REPO,
            "1111111111111111111111111111111111111111",
            &set.model_dir(),
            &[
                ("config.json", "config.json"),
                ("qwen2_config.json", "qwen2_config.json"),
                ("siglip_config.json", "siglip/config.json"),
                ("model.safetensors", "model.safetensors"),
            ],
        ),
        ServedRepo::from_dir(
            VAE_REPO,
            "2222222222222222222222222222222222222222",
            &set.vae_dir(),
            &[
                ("vae_config.json", "vae_config.json"),
                ("vae.safetensors", "vae.safetensors"),
            ],
        ),
    ])
}

impl HubServer {
    pub fn start(repos: Vec<ServedRepo>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let mut by_sha = HashMap::new();
        let mut etags = HashMap::new();
        for r in &repos {
            for (f, bytes) in &r.files {
                by_sha.insert(sha256_hex(bytes), (r.id.clone(), f.clone()));
                etags.insert((r.id.clone(), f.clone()), etag_of(f, bytes));
            }
        }
        let state = Arc::new(State {
            cdn_base: format!("http://localhost:{}", addr.port()),
            repos: repos.into_iter().map(|r| (r.id.clone(), r)).collect(),
            by_sha,
            etags,
            log: Mutex::new(Vec::new()),
            faults: Mutex::new(Faults::default()),
            required_token: Mutex::new(None),
            body_bytes_sent: AtomicU64::new(0),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        let state = state.clone();
                        std::thread::spawn(move || {
                            let _ = serve_connection(&state, stream);
                        });
                    }
                }
            })
        };
        Self {
            endpoint: base,
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    pub fn repo(&self, id: &str) -> &ServedRepo {
        &self.state.repos[id]
    }

    pub fn drop_connection_once(&self, repo: &str, file: &str) {
        self.state
            .faults
            .lock()
            .unwrap()
            .drop_once
            .insert(format!("{repo}/{file}"));
    }

    pub fn serve_corrupted(&self, repo: &str, file: &str) {
        self.state
            .faults
            .lock()
            .unwrap()
            .corrupt
            .insert(format!("{repo}/{file}"));
    }

    pub fn serve_slowly(&self, repo: &str, file: &str) {
        self.state
            .faults
            .lock()
            .unwrap()
            .slow
            .insert(format!("{repo}/{file}"));
    }

    pub fn require_token(&self, token: &str) {
        *self.state.required_token.lock().unwrap() = Some(token.to_string());
    }

    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state.log.lock().unwrap().clone()
    }

    pub fn gets(&self) -> Vec<LoggedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "GET")
            .collect()
    }

    /// Body bytes written to clients so far (to show a resume did not start over).
    pub fn body_bytes_sent(&self) -> u64 {
        self.state.body_bytes_sent.load(Ordering::SeqCst)
    }
}

impl Drop for HubServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wake the accept loop
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Cut the connection after this many body bytes.
    cut_after: Option<usize>,
    slow: bool,
}

impl Response {
    fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            cut_after: None,
            slow: false,
        }
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

fn serve_connection(state: &State, stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(());
    }
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    state.log.lock().unwrap().push(LoggedRequest {
        method: method.clone(),
        path: path.clone(),
        range: headers.get("range").cloned(),
        authorization: headers.get("authorization").cloned(),
    });
    if let Some(len) = headers
        .get("content-length")
        .and_then(|l| l.parse::<u64>().ok())
    {
        std::io::copy(&mut (&mut reader).take(len), &mut std::io::sink())?;
    }
    let response = route(state, &method, &path, &headers);
    write_response(state, stream, &method, response)
}

fn route(state: &State, method: &str, path: &str, headers: &HashMap<String, String>) -> Response {
    if method != "GET" && method != "HEAD" {
        return Response::new(405);
    }
    let path = percent_decode(path);
    if let Some(sha) = path.strip_prefix("/cdn/") {
        return match state.by_sha.get(sha) {
            Some((repo, file)) => file_body(state, repo, file, headers),
            None => Response::new(404),
        };
    }
    if let Some(token) = state.required_token.lock().unwrap().clone()
        && headers.get("authorization") != Some(&format!("Bearer {token}"))
    {
        return Response::new(401).header("X-Error-Code", "GatedRepo");
    }
    // /{org}/{name}/resolve/{revision}/{file...}
    let segments: Vec<&str> = path.trim_start_matches('/').splitn(5, '/').collect();
    let [org, name, "resolve", revision, file] = segments[..] else {
        return Response::new(404).header("X-Error-Code", "RepoNotFound");
    };
    let repo_id = format!("{org}/{name}");
    let Some(repo) = state.repos.get(&repo_id) else {
        return Response::new(404).header("X-Error-Code", "RepoNotFound");
    };
    if revision != "main" && revision != repo.commit {
        return Response::new(404).header("X-Error-Code", "RevisionNotFound");
    }
    let Some(bytes) = repo.files.get(file) else {
        return Response::new(404).header("X-Error-Code", "EntryNotFound");
    };
    let etag = state.etags[&(repo_id.clone(), file.to_string())].clone();
    if is_lfs(file) {
        Response::new(302)
            .header("Location", format!("{}/cdn/{etag}", state.cdn_base))
            .header("X-Repo-Commit", repo.commit.clone())
            .header("X-Linked-Etag", format!("\"{etag}\""))
            .header("X-Linked-Size", bytes.len().to_string())
            .header("ETag", format!("\"{}\"", &etag[..40]))
    } else {
        file_body(state, &repo_id, file, headers)
            .header("X-Repo-Commit", repo.commit.clone())
            .header("ETag", format!("\"{etag}\""))
    }
}

/// The file's bytes (or a Range of them), with the configured faults applied.
fn file_body(state: &State, repo: &str, file: &str, headers: &HashMap<String, String>) -> Response {
    let key = format!("{repo}/{file}");
    let mut bytes = state.repos[repo].files[file].clone();
    let mut faults = state.faults.lock().unwrap();
    if faults.corrupt.contains(&key) {
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
    }
    let total = bytes.len();
    let start = headers
        .get("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split('-').next())
        .and_then(|s| s.parse::<usize>().ok());
    let mut response = match start {
        Some(start) if start >= total => {
            return Response::new(416).header("Content-Range", format!("bytes */{total}"));
        }
        Some(start) => {
            let mut r = Response::new(206).header(
                "Content-Range",
                format!("bytes {start}-{}/{total}", total - 1),
            );
            r.body = bytes[start..].to_vec();
            r
        }
        None => {
            let mut r = Response::new(200);
            r.body = bytes;
            r
        }
    };
    response.slow = faults.slow.contains(&key);
    if faults.drop_once.remove(&key) {
        response.cut_after = Some(response.body.len() / 2);
    }
    response.header("Accept-Ranges", "bytes")
}

fn write_response(
    state: &State,
    mut stream: TcpStream,
    method: &str,
    response: Response,
) -> std::io::Result<()> {
    let reason = match response.status {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        401 => "Unauthorized",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        _ => "Other",
    };
    let mut head = format!("HTTP/1.1 {} {reason}\r\n", response.status);
    for (k, v) in &response.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        response.body.len()
    ));
    stream.write_all(head.as_bytes())?;
    if method == "GET" {
        let body = match response.cut_after {
            Some(n) => &response.body[..n],
            None => &response.body[..],
        };
        // Write in pieces so a client sees a stream, as from a real server.
        for piece in body.chunks(64 * 1024) {
            if response.slow {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            stream.write_all(piece)?;
            state
                .body_bytes_sent
                .fetch_add(piece.len() as u64, Ordering::SeqCst);
        }
    }
    stream.flush()?;
    stream.shutdown(Shutdown::Both)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
