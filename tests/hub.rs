//! The model manager against a local hub on 127.0.0.1 that serves the golden tiny model in hub
//! layout: pull, resume after a dropped connection, checksum mismatch, offline mode, reuse of a
//! cache written by the Python tools, disk-full reporting. Each test builds its own `HubConfig`
//! (no process environment is read or changed, so the tests run in parallel).

mod hub_server;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hub_server::{HubServer, MODEL_REPO, ServedRepo, VAE_REPO, etag_of, is_lfs, sha256_hex};
use showo::hub::manager::{self, Check, FileState, ModelStatus, PullEvent};
use showo::hub::{
    Catalog, Fetched, FileEntry, FileRequest, FixedDiskSpace, Hub, HubConfig, HubError,
};

const MODEL_ID: &str = "golden-tiny";

/// A catalog for the served repos; `extra_model_files` go into the model's `files` list.
fn catalog(extra_model_files: &str) -> Catalog {
    let text = format!(
        r#"
schema = 1

[[model]]
id = "{MODEL_ID}"
display_name = "Golden tiny"
description = "The golden parity model served in hub layout."
repo = "{MODEL_REPO}"
components = ["golden-vae"]
capabilities = ["text-to-image", "image-chat"]
native_resolutions = [64]
stored_dtype = "f32"
recommended_dtype = "f32"
files = [
    {{ path = "config.json" }},
    {{ path = "qwen2_config.json" }},
    {{ path = "siglip/config.json" }},
    {{ path = "model.safetensors" }},
    {extra_model_files}
]

[[component]]
id = "golden-vae"
description = "The golden tiny Wan VAE."
repo = "{VAE_REPO}"
files = [{{ path = "vae_config.json" }}, {{ path = "vae.safetensors" }}]
"#
    );
    Catalog::parse(&text, "test catalog").unwrap_or_else(|e| panic!("{e}"))
}

struct Fixture {
    server: HubServer,
    repos: Vec<ServedRepo>,
    cache: tempfile::TempDir,
}

impl Fixture {
    /// `None` only when the golden folder is absent outside CI (open_or_fail says why).
    fn new() -> Option<Self> {
        let repos = hub_server::golden_repos()?;
        Some(Self {
            server: HubServer::start(repos.clone()),
            repos,
            cache: tempfile::tempdir().unwrap(),
        })
    }

    fn config(&self) -> HubConfig {
        HubConfig::new(&self.server.endpoint, self.cache.path())
    }

    fn hub(&self) -> Hub {
        Hub::new(self.config())
    }

    fn served(&self, repo: &str, file: &str) -> &[u8] {
        &self.repos.iter().find(|r| r.id == repo).unwrap().files[file]
    }

    fn commit(&self, repo: &str) -> &str {
        &self.repos.iter().find(|r| r.id == repo).unwrap().commit
    }

    fn total_bytes(&self) -> u64 {
        self.repos
            .iter()
            .flat_map(|r| r.files.values())
            .map(|b| b.len() as u64)
            .sum()
    }
}

fn pull_all(
    hub: &Hub,
    catalog: &Catalog,
) -> Result<(manager::PullReport, Vec<PullEvent>), HubError> {
    let model = catalog.model(MODEL_ID)?;
    let plan = manager::plan(hub, catalog, model)?;
    let mut events = Vec::new();
    let report = manager::pull(hub, &plan, &mut |e| events.push(e), &AtomicBool::new(false))?;
    Ok((report, events))
}

#[test]
fn pull_fills_the_hugging_face_cache_layout() {
    let Some(fx) = Fixture::new() else { return };
    let hub = fx.hub();
    let cat = catalog("");
    let model = cat.model(MODEL_ID).unwrap();
    assert_eq!(
        manager::status(&hub, &cat, model),
        ModelStatus::NotInstalled
    );

    let plan = manager::plan(&hub, &cat, model).unwrap();
    assert_eq!(
        plan.bytes_to_download(),
        (fx.total_bytes(), true),
        "HEAD gives every size before a byte is fetched"
    );
    assert!(
        fx.server.gets().is_empty(),
        "planning only sends HEAD requests"
    );

    let (report, events) = pull_all(&hub, &cat).unwrap();
    assert_eq!(report.downloaded_bytes, fx.total_bytes());
    assert_eq!(report.files.len(), 6);
    // Progress reached each file's size.
    let st_size = fx.served(MODEL_REPO, "model.safetensors").len() as u64;
    assert!(events.iter().any(
        |e| matches!(e, PullEvent::Progress { file, done, total, .. }
        if file == "model.safetensors" && *done == st_size && *total == st_size)
    ));

    for served in &fx.repos {
        let repo_dir = fx
            .cache
            .path()
            .join(format!("models--{}", served.id.replace('/', "--")));
        assert_eq!(
            std::fs::read_to_string(repo_dir.join("refs/main")).unwrap(),
            served.commit
        );
        for (file, bytes) in &served.files {
            let link = repo_dir.join("snapshots").join(&served.commit).join(file);
            assert!(
                link.symlink_metadata().unwrap().file_type().is_symlink(),
                "{file} is a symlink"
            );
            let target = std::fs::canonicalize(&link).unwrap();
            assert_eq!(
                target,
                std::fs::canonicalize(repo_dir.join("blobs").join(etag_of(file, bytes))).unwrap()
            );
            if is_lfs(file) {
                assert_eq!(
                    target.file_name().unwrap().to_str().unwrap(),
                    sha256_hex(bytes),
                    "LFS blob named by sha256"
                );
            }
            assert_eq!(&std::fs::read(&link).unwrap(), bytes, "{file} content");
        }
        assert!(
            !std::fs::read_dir(repo_dir.join("blobs")).unwrap().any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".incomplete"))
        );
    }
    assert_eq!(manager::status(&hub, &cat, model), ModelStatus::Installed);
    let installed = manager::installed(&hub, &cat, model).unwrap();
    assert_eq!(
        installed.dir,
        hub.repo_cache(MODEL_REPO)
            .snapshot_dir(fx.commit(MODEL_REPO))
    );
    assert!(
        installed
            .file(VAE_REPO, "vae.safetensors")
            .unwrap()
            .is_file()
    );

    // A second pull finds everything and makes no request at all.
    let before = fx.server.requests().len();
    let (report, _) = pull_all(&hub, &cat).unwrap();
    assert_eq!(report.downloaded_bytes, 0);
    assert!(
        report
            .files
            .iter()
            .all(|(_, _, f)| matches!(f, Fetched::Cached(_)))
    );
    assert_eq!(fx.server.requests().len(), before);

    // Every LFS file verifies against the sha256 its blob is named after.
    let checks = manager::verify(&hub, &cat, model, &mut |_| {}, &AtomicBool::new(false)).unwrap();
    let by_file = |f: &str| checks.iter().find(|c| c.file == f).unwrap().check.clone();
    assert_eq!(by_file("model.safetensors"), Check::Sha256Ok);
    assert_eq!(by_file("vae.safetensors"), Check::Sha256Ok);
    assert_eq!(by_file("config.json"), Check::NoHashKnown);
}

#[test]
fn a_dropped_connection_resumes_with_a_range_request() {
    let Some(fx) = Fixture::new() else { return };
    let file = "model.safetensors";
    let size = fx.served(MODEL_REPO, file).len() as u64;
    fx.server.drop_connection_once(MODEL_REPO, file);
    let (report, _) = pull_all(&fx.hub(), &catalog("")).unwrap();

    let outcome = &report.files.iter().find(|(_, f, _)| f == file).unwrap().2;
    let Fetched::Downloaded {
        path,
        bytes,
        resumed_from,
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(*resumed_from, 0, "the pull started from nothing");
    assert_eq!(*bytes, size);
    assert_eq!(&std::fs::read(path).unwrap(), fx.served(MODEL_REPO, file));

    let cdn = format!("/cdn/{}", sha256_hex(fx.served(MODEL_REPO, file)));
    let gets: Vec<_> = fx
        .server
        .gets()
        .into_iter()
        .filter(|r| r.path == cdn)
        .collect();
    assert_eq!(gets.len(), 2, "one cut-off GET, one resumed GET: {gets:?}");
    assert_eq!(gets[0].range, None);
    let resumed_at: u64 = gets[1]
        .range
        .as_deref()
        .unwrap()
        .trim_start_matches("bytes=")
        .trim_end_matches('-')
        .parse()
        .unwrap();
    assert_eq!(
        resumed_at,
        size / 2,
        "resumed exactly where the connection dropped"
    );
    // Every byte crossed the wire once: no restart from zero.
    assert_eq!(fx.server.body_bytes_sent(), fx.total_bytes());
}

#[test]
fn a_cancelled_pull_keeps_the_partial_file_and_the_next_pull_resumes_it() {
    let Some(fx) = Fixture::new() else { return };
    let hub = fx.hub();
    let file = "vae.safetensors";
    let bytes = fx.served(VAE_REPO, file);
    let entry = FileEntry {
        path: file.into(),
        size: None,
        sha256: None,
        sha256_prefix: None,
        optional: false,
    };
    let request = FileRequest {
        repo: VAE_REPO,
        revision: "main",
        file: &entry,
    };

    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let err = hub
        .fetch(
            request,
            &mut |t| {
                if t.done > t.total / 3 {
                    flag.store(true, Ordering::Relaxed)
                }
            },
            &cancel,
        )
        .unwrap_err();
    let HubError::Cancelled { partial_bytes, .. } = err else {
        panic!("{err}")
    };
    assert!(partial_bytes > 0 && partial_bytes < bytes.len() as u64);
    let incomplete = hub.repo_cache(VAE_REPO).incomplete_path(&sha256_hex(bytes));
    assert_eq!(std::fs::metadata(&incomplete).unwrap().len(), partial_bytes);
    assert_eq!(hub.cached(VAE_REPO, "main", file), None);

    let fetched = hub
        .fetch(request, &mut |_| {}, &AtomicBool::new(false))
        .unwrap();
    let Fetched::Downloaded {
        path,
        bytes: new_bytes,
        resumed_from,
    } = fetched
    else {
        panic!("{fetched:?}")
    };
    assert_eq!(resumed_from, partial_bytes);
    assert_eq!(new_bytes, bytes.len() as u64 - partial_bytes);
    assert_eq!(std::fs::read(path).unwrap(), bytes);
    assert!(!incomplete.exists());
    let last = fx.server.gets().pop().unwrap();
    assert_eq!(last.range, Some(format!("bytes={partial_bytes}-")));
}

#[test]
fn a_checksum_mismatch_is_detected_and_the_bad_file_discarded() {
    let Some(fx) = Fixture::new() else { return };
    let hub = fx.hub();
    let file = "model.safetensors";
    let good_sha = sha256_hex(fx.served(MODEL_REPO, file));
    fx.server.serve_corrupted(MODEL_REPO, file);

    let err = pull_all(&hub, &catalog("")).unwrap_err();
    let HubError::ChecksumMismatch {
        url,
        file: f,
        expected,
        got,
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(f, file);
    assert_eq!(expected, &good_sha, "checked against the LFS etag");
    assert_ne!(got, &good_sha);
    assert!(url.ends_with("/resolve/main/model.safetensors"), "{url}");
    let msg = err.to_string();
    assert!(
        msg.contains(file)
            && msg.contains(&good_sha)
            && msg.contains(got)
            && msg.contains("deleted"),
        "{msg}"
    );

    let cache = hub.repo_cache(MODEL_REPO);
    assert!(
        !cache.incomplete_path(&good_sha).exists(),
        "partial download removed"
    );
    assert!(
        !cache.blob_path(&good_sha).exists(),
        "no blob under the good name"
    );
    assert_eq!(hub.cached(MODEL_REPO, "main", file), None);

    // A small (non-LFS) file is checked against the catalog's sha256 when it has one.
    let wrong = "0".repeat(64);
    let text = format!("{{ path = \"flow_head_config.json\", sha256 = \"{wrong}\" }},");
    let mut repos = fx.repos.clone();
    repos[0].files.insert(
        "flow_head_config.json".into(),
        b"{\"hidden_size\": 128}".to_vec(),
    );
    let server = HubServer::start(repos);
    let cache2 = tempfile::tempdir().unwrap();
    let hub2 = Hub::new(HubConfig::new(&server.endpoint, cache2.path()));
    let err = pull_all(&hub2, &catalog(&text)).unwrap_err();
    assert!(
        matches!(&err, HubError::ChecksumMismatch { file, expected, .. } if file == "flow_head_config.json" && *expected == wrong),
        "{err}"
    );
}

#[test]
fn offline_mode_serves_the_cache_and_fails_clearly_without_it() {
    let Some(fx) = Fixture::new() else { return };
    let cat = catalog("");
    let model = cat.model(MODEL_ID).unwrap();

    // Empty cache, offline: a clear error, no request.
    let offline = Hub::new(HubConfig {
        offline: true,
        ..fx.config()
    });
    let plan = manager::plan(&offline, &cat, model).unwrap();
    assert!(!plan.is_complete());
    let err = manager::pull(&offline, &plan, &mut |_| {}, &AtomicBool::new(false)).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, HubError::Offline { .. }), "{msg}");
    assert!(
        msg.contains("HF_HUB_OFFLINE") && msg.contains(MODEL_REPO) && msg.contains("config.json"),
        "{msg}"
    );
    assert!(
        msg.contains(&fx.cache.path().display().to_string()),
        "names the cache: {msg}"
    );
    assert!(fx.server.requests().is_empty());

    // Online pull, then offline: everything comes from the cache, still no request.
    pull_all(&fx.hub(), &cat).unwrap();
    let count = fx.server.requests().len();
    let (report, _) = pull_all(&offline, &cat).unwrap();
    assert_eq!(report.files.len(), 6);
    assert!(
        report
            .files
            .iter()
            .all(|(_, _, f)| matches!(f, Fetched::Cached(_)))
    );
    let installed = manager::installed(&offline, &cat, model).unwrap();
    assert_eq!(
        std::fs::read(installed.file(MODEL_REPO, "model.safetensors").unwrap()).unwrap(),
        fx.served(MODEL_REPO, "model.safetensors")
    );
    assert_eq!(fx.server.requests().len(), count);
}

#[cfg(unix)]
/// Writes a cache the way huggingface_hub does: blobs, relative snapshot symlinks, refs/main.
fn populate_like_python(cache_root: &Path, repo: &ServedRepo, with_snapshots: bool) {
    let dir = cache_root.join(format!("models--{}", repo.id.replace('/', "--")));
    std::fs::create_dir_all(dir.join("blobs")).unwrap();
    for (file, bytes) in &repo.files {
        let etag = etag_of(file, bytes);
        std::fs::write(dir.join("blobs").join(&etag), bytes).unwrap();
        if with_snapshots {
            let link = dir.join("snapshots").join(&repo.commit).join(file);
            std::fs::create_dir_all(link.parent().unwrap()).unwrap();
            let up = "../".repeat(file.matches('/').count() + 2);
            std::os::unix::fs::symlink(format!("{up}blobs/{etag}"), &link).unwrap();
        }
    }
    if with_snapshots {
        std::fs::create_dir_all(dir.join("refs")).unwrap();
        std::fs::write(dir.join("refs/main"), &repo.commit).unwrap();
    }
}

#[cfg(unix)]
#[test]
fn a_cache_populated_by_python_tools_is_reused_without_any_request() {
    let Some(fx) = Fixture::new() else { return };
    for repo in &fx.repos {
        populate_like_python(fx.cache.path(), repo, true);
    }
    let hub = fx.hub();
    let cat = catalog("");
    let model = cat.model(MODEL_ID).unwrap();
    assert_eq!(manager::status(&hub, &cat, model), ModelStatus::Installed);
    let plan = manager::plan(&hub, &cat, model).unwrap();
    assert!(plan.is_complete());
    assert!(
        plan.files
            .iter()
            .all(|f| matches!(f.state, FileState::Cached(_)))
    );
    let (report, _) = pull_all(&hub, &cat).unwrap();
    assert_eq!(report.downloaded_bytes, 0);
    assert!(
        fx.server.requests().is_empty(),
        "no HTTP request: {:?}",
        fx.server.requests()
    );
    let checks = manager::verify(&hub, &cat, model, &mut |_| {}, &AtomicBool::new(false)).unwrap();
    assert!(checks.iter().all(|c| c.check.is_ok()), "{checks:?}");
}

#[cfg(unix)]
#[test]
fn blobs_already_in_the_cache_are_linked_not_downloaded() {
    let Some(fx) = Fixture::new() else { return };
    // Blobs only (e.g. downloaded at another commit): a HEAD per file, no GET.
    for repo in &fx.repos {
        populate_like_python(fx.cache.path(), repo, false);
    }
    let hub = fx.hub();
    let (report, _) = pull_all(&hub, &catalog("")).unwrap();
    assert_eq!(report.downloaded_bytes, 0);
    assert!(
        report
            .files
            .iter()
            .all(|(_, _, f)| matches!(f, Fetched::Linked(_))),
        "{:?}",
        report.files
    );
    assert!(fx.server.gets().is_empty(), "{:?}", fx.server.gets());
    assert!(
        hub.cached(MODEL_REPO, "main", "siglip/config.json")
            .is_some()
    );
}

#[test]
fn a_full_disk_is_reported_with_bytes_needed_and_free() {
    let Some(fx) = Fixture::new() else { return };
    let free = 1_000_000;
    let hub = Hub::new(HubConfig {
        disk: Arc::new(FixedDiskSpace(free)),
        ..fx.config()
    });
    let cat = catalog("");

    let err = pull_all(&hub, &cat).unwrap_err();
    let HubError::InsufficientDisk {
        needed,
        free: reported,
        ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!((*needed, *reported), (fx.total_bytes(), free));
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("{} bytes) needed", fx.total_bytes()))
            && msg.contains("1000000 bytes) free"),
        "{msg}"
    );
    assert!(msg.contains(MODEL_ID), "names what was being pulled: {msg}");
    assert!(fx.server.gets().is_empty(), "nothing was downloaded");

    // The per-file check in `fetch` names the file.
    let entry = FileEntry {
        path: "model.safetensors".into(),
        size: None,
        sha256: None,
        sha256_prefix: None,
        optional: false,
    };
    let err = hub
        .fetch(
            FileRequest {
                repo: MODEL_REPO,
                revision: "main",
                file: &entry,
            },
            &mut |_| {},
            &AtomicBool::new(false),
        )
        .unwrap_err();
    let msg = err.to_string();
    let size = fx.served(MODEL_REPO, "model.safetensors").len();
    assert!(
        msg.contains("model.safetensors") && msg.contains(&format!("({size} bytes) needed")),
        "{msg}"
    );
    assert!(fx.server.gets().is_empty());
}

#[test]
fn the_token_is_sent_as_a_bearer_header() {
    let Some(fx) = Fixture::new() else { return };
    fx.server.require_token("hf_test_token");
    let cat = catalog("");
    let err = pull_all(&fx.hub(), &cat).unwrap_err();
    assert!(matches!(err, HubError::Http { status: 401, .. }), "{err}");
    assert!(err.to_string().contains("HF_TOKEN"), "{err}");

    let hub = Hub::new(HubConfig {
        token: Some("hf_test_token".into()),
        ..fx.config()
    });
    pull_all(&hub, &cat).unwrap();
    let resolves: Vec<_> = fx
        .server
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/resolve/"))
        .collect();
    assert!(
        resolves
            .iter()
            .any(|r| r.authorization.as_deref() == Some("Bearer hf_test_token"))
    );
    // The token never leaves the hub's own URLs for the CDN redirect target.
    let cdn: Vec<_> = fx
        .server
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/cdn/"))
        .collect();
    assert!(
        !cdn.is_empty() && cdn.iter().all(|r| r.authorization.is_none()),
        "{cdn:?}"
    );
}

#[test]
fn optional_files_may_be_absent_but_required_ones_may_not() {
    let Some(fx) = Fixture::new() else { return };
    let hub = fx.hub();
    let (_, events) = pull_all(
        &hub,
        &catalog("{ path = \"model.bin.index.json\", optional = true },"),
    )
    .unwrap();
    assert!(events.iter().any(
        |e| matches!(e, PullEvent::FileSkipped { file, .. } if file == "model.bin.index.json")
    ));

    let err = pull_all(&hub, &catalog("{ path = \"missing.bin\" },")).unwrap_err();
    assert!(
        matches!(&err, HubError::NotFound { url } if url.ends_with("/resolve/main/missing.bin")),
        "{err}"
    );
}

#[test]
fn verify_finds_a_corrupted_blob_and_rm_removes_the_model() {
    let Some(fx) = Fixture::new() else { return };
    let hub = fx.hub();
    let cat = catalog("");
    let model = cat.model(MODEL_ID).unwrap();
    pull_all(&hub, &cat).unwrap();
    let path = hub.cached(MODEL_REPO, "main", "model.safetensors").unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&path, &bytes).unwrap(); // writes through the symlink into the blob
    let checks = manager::verify(&hub, &cat, model, &mut |_| {}, &AtomicBool::new(false)).unwrap();
    let bad = checks
        .iter()
        .find(|c| c.file == "model.safetensors")
        .unwrap();
    assert!(
        matches!(&bad.check, Check::Corrupt { expected, .. } if *expected == sha256_hex(fx.served(MODEL_REPO, "model.safetensors")))
    );

    let freed = manager::remove(&hub, &cat, model, true).unwrap();
    assert_eq!(freed, fx.total_bytes());
    assert_eq!(
        manager::status(&hub, &cat, model),
        ModelStatus::NotInstalled
    );
    assert!(!hub.repo_cache(MODEL_REPO).exists() && !hub.repo_cache(VAE_REPO).exists());
}

/// The CLI end to end (child processes get the HF_* variables; this process's env is untouched).
#[test]
fn cli_pull_asks_first_then_downloads_and_prints_paths() {
    let Some(fx) = Fixture::new() else { return };
    let dir = tempfile::tempdir().unwrap();
    let catalog_path = dir.path().join("models.toml");
    // The test catalog as a file: the same text `catalog("")` parses.
    let text = format!(
        "schema = 1\n[[model]]\nid = \"{MODEL_ID}\"\ndisplay_name = \"Golden tiny\"\ndescription = \"d\"\n\
         repo = \"{MODEL_REPO}\"\ncomponents = [\"golden-vae\"]\ncapabilities = [\"image-chat\"]\n\
         native_resolutions = [64]\nstored_dtype = \"f32\"\nrecommended_dtype = \"f32\"\n\
         files = [{{ path = \"config.json\" }}, {{ path = \"model.safetensors\" }}]\n\
         [[component]]\nid = \"golden-vae\"\ndescription = \"v\"\nrepo = \"{VAE_REPO}\"\n\
         files = [{{ path = \"vae.safetensors\" }}]\n"
    );
    std::fs::write(&catalog_path, text).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_showo-studio"))
            .arg("models")
            .args(args)
            .arg("--catalog")
            .arg(&catalog_path)
            .env("HF_ENDPOINT", &fx.server.endpoint)
            .env("HF_HUB_CACHE", fx.cache.path())
            .env_remove("HF_HUB_OFFLINE")
            .env_remove("HF_TOKEN")
            .env("HF_HOME", dir.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };

    let refused = run(&["pull", MODEL_ID]);
    let out = text(&refused);
    assert!(!refused.status.success(), "{out}");
    assert!(
        out.contains("--yes") && out.contains(&fx.cache.path().display().to_string()),
        "size and destination first: {out}"
    );
    assert!(
        out.contains("model.safetensors") && out.contains("total:"),
        "{out}"
    );
    assert!(
        fx.server.gets().is_empty(),
        "nothing downloaded before confirmation"
    );

    let pulled = run(&["pull", MODEL_ID, "--yes"]);
    assert!(pulled.status.success(), "{}", text(&pulled));
    let path = run(&["path", MODEL_ID, "model.safetensors"]);
    let printed = String::from_utf8_lossy(&path.stdout).trim().to_string();
    assert_eq!(
        std::fs::read(&printed).unwrap(),
        fx.served(MODEL_REPO, "model.safetensors"),
        "{printed}"
    );
    let verified = run(&["verify", MODEL_ID]);
    let out = text(&verified);
    assert!(
        verified.status.success() && out.contains("model.safetensors: ok (sha256)"),
        "{out}"
    );
    let listed = text(&run(&["list"]));
    assert!(
        listed.contains(&format!("{MODEL_ID}  [installed]")),
        "{listed}"
    );
    let removed = run(&["rm", MODEL_ID, "--yes"]);
    assert!(removed.status.success(), "{}", text(&removed));
    assert!(
        text(&run(&["list"])).contains("[partial"),
        "the VAE component stays unless --with-components"
    );
}

/// The GUI's way: the pull runs on its own thread and reports over a channel; cancel stops it.
#[test]
fn a_background_pull_reports_over_a_channel_and_can_be_cancelled() {
    use showo::hub::manager::PullMessage;
    let Some(fx) = Fixture::new() else { return };
    let hub = Arc::new(fx.hub());
    let cat = catalog("");
    let plan = manager::plan(&hub, &cat, cat.model(MODEL_ID).unwrap()).unwrap();

    // Cancel as soon as the (slowly served) weights start streaming.
    fx.server.serve_slowly(MODEL_REPO, "model.safetensors");
    let handle = manager::spawn_pull(hub.clone(), plan.clone());
    let mut cancelled = None;
    for message in handle.messages.iter() {
        match message {
            PullMessage::Event(PullEvent::Progress { file, done, .. })
                if file == "model.safetensors" && done > 0 =>
            {
                handle.cancel.store(true, Ordering::Relaxed)
            }
            PullMessage::Event(_) => {}
            PullMessage::Finished(result) => cancelled = Some(result),
        }
    }
    handle.thread.join().unwrap();
    let Some(Err(HubError::Cancelled {
        file,
        partial_bytes,
    })) = cancelled
    else {
        panic!("{cancelled:?}")
    };
    assert_eq!(file, "model.safetensors");
    assert!(
        partial_bytes < fx.served(MODEL_REPO, &file).len() as u64,
        "stopped mid-file"
    );

    // Again, to the end.
    let handle = manager::spawn_pull(hub, plan);
    let mut progress = 0;
    let mut finished = None;
    for message in handle.messages.iter() {
        match message {
            PullMessage::Event(PullEvent::Progress { .. }) => progress += 1,
            PullMessage::Event(_) => {}
            PullMessage::Finished(result) => finished = Some(result),
        }
    }
    let report = finished.unwrap().unwrap();
    assert!(progress > 0);
    assert_eq!(report.files.len(), 6);
}

/// A downloaded model becomes one loadable folder: its repo's files and its components' side by
/// side as links into the cache (no copies), which the checkpoint loader and config reader open.
#[test]
fn downloaded_model_is_linked_into_a_loadable_folder() {
    let Some(fx) = Fixture::new() else { return };
    let hub = fx.hub();
    let cat = catalog("");
    let model = cat.model(MODEL_ID).unwrap();
    let links = tempfile::tempdir().unwrap();
    let err = manager::load_folder(&hub, &cat, model, links.path()).unwrap_err();
    assert!(
        err.to_string().contains("not fully installed") && err.to_string().contains("models pull"),
        "{err}"
    );
    pull_all(&hub, &cat).unwrap();
    for _ in 0..2 {
        // Twice: a second call refreshes the links in place.
        let dir = manager::load_folder(&hub, &cat, model, links.path()).unwrap();
        assert_eq!(dir, links.path().join(MODEL_ID));
        for name in [
            "config.json",
            "qwen2_config.json",
            "siglip/config.json",
            "model.safetensors",
            "vae_config.json",
            "vae.safetensors",
        ] {
            let link = dir.join(name);
            let meta = link
                .symlink_metadata()
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                meta.file_type().is_symlink(),
                "{name} is a link, not a copy"
            );
            let target = std::fs::read_link(&link).unwrap();
            assert!(
                target.starts_with(fx.cache.path().canonicalize().unwrap()),
                "{name} -> {}",
                target.display()
            );
        }
        // (This fixture serves the SigLIP config under another name than config.json says,
        // so read the linked config rather than resolving the whole model config.)
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap())
                .unwrap();
        assert!(config.get("clip_latent_dim").is_some());
        let store = showo::model::weights::WeightStore::open(&dir).unwrap();
        assert!(store.len() > 10);
    }
}
