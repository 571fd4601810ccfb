//! Where the hub is and where files go: built from the same environment variables the Python
//! tools read (`HF_HOME`, `HF_HUB_CACHE`, `HF_ENDPOINT`, `HF_TOKEN`, `HF_HUB_OFFLINE`), or
//! constructed directly (tests, the GUI's settings) so nothing has to mutate the process env.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::cache::HubCache;

pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Base URL, no trailing slash (`HF_ENDPOINT`, default `https://huggingface.co`).
    pub endpoint: String,
    pub cache: HubCache,
    /// Sent as `Authorization: Bearer …` to the endpoint's host only (`HF_TOKEN` or the token file).
    pub token: Option<String>,
    /// Never touch the network; serve from the cache or fail (`HF_HUB_OFFLINE=1`).
    pub offline: bool,
    /// How free space is measured before a download (a seam for tests and disk-full simulation).
    pub disk: Arc<dyn DiskSpace>,
    /// Attempts per file when the connection drops; each retry resumes with a Range request.
    pub max_attempts: u32,
    /// Use `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` from the environment.
    pub proxy_from_env: bool,
}

/// Free space on the file system holding a directory.
pub trait DiskSpace: Send + Sync + fmt::Debug {
    fn available(&self, dir: &Path) -> io::Result<u64>;
}

/// The real file system (statvfs / GetDiskFreeSpaceEx).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemDiskSpace;

impl DiskSpace for SystemDiskSpace {
    fn available(&self, dir: &Path) -> io::Result<u64> {
        // The cache folder may not exist yet: ask about its nearest existing ancestor.
        let existing = dir.ancestors().find(|p| p.exists()).unwrap_or(dir);
        fs2::available_space(existing)
    }
}

/// A fixed amount of free space: simulates a nearly full disk.
#[derive(Debug, Clone, Copy)]
pub struct FixedDiskSpace(pub u64);

impl DiskSpace for FixedDiskSpace {
    fn available(&self, _dir: &Path) -> io::Result<u64> {
        Ok(self.0)
    }
}

impl HubConfig {
    /// From the process environment, with huggingface_hub's defaults and precedence.
    pub fn from_env() -> Self {
        Self::from_vars(
            |name| std::env::var(name).ok().filter(|v| !v.is_empty()),
            std::env::home_dir(),
        )
    }

    /// From any variable lookup (testable without touching the process environment).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>, home: Option<PathBuf>) -> Self {
        let expand = |value: String| -> PathBuf {
            match (value.strip_prefix("~/"), &home) {
                (Some(rest), Some(home)) => home.join(rest),
                _ => PathBuf::from(value),
            }
        };
        let home_cache = || {
            home.clone()
                .unwrap_or_else(|| PathBuf::from("."))
                .join(".cache")
        };
        let hf_home = var("HF_HOME").map(&expand).unwrap_or_else(|| {
            var("XDG_CACHE_HOME")
                .map(&expand)
                .unwrap_or_else(home_cache)
                .join("huggingface")
        });
        let cache_root = var("HF_HUB_CACHE")
            .or_else(|| var("HUGGINGFACE_HUB_CACHE"))
            .map(&expand)
            .unwrap_or_else(|| hf_home.join("hub"));
        let token = var("HF_TOKEN")
            .or_else(|| var("HUGGING_FACE_HUB_TOKEN"))
            .or_else(|| {
                let path = var("HF_TOKEN_PATH")
                    .map(&expand)
                    .unwrap_or_else(|| hf_home.join("token"));
                std::fs::read_to_string(path).ok()
            })
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        let offline = ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"]
            .iter()
            .filter_map(|name| var(name))
            .any(|v| {
                matches!(
                    v.trim().to_ascii_uppercase().as_str(),
                    "1" | "ON" | "YES" | "TRUE"
                )
            });
        let endpoint = var("HF_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            cache: HubCache::new(cache_root),
            token,
            offline,
            disk: Arc::new(SystemDiskSpace),
            max_attempts: 5,
            proxy_from_env: true,
        }
    }

    /// A config for a given endpoint and cache folder, nothing read from the environment.
    pub fn new(endpoint: &str, cache_root: impl Into<PathBuf>) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            cache: HubCache::new(cache_root),
            token: None,
            offline: false,
            disk: Arc::new(SystemDiskSpace),
            max_attempts: 5,
            proxy_from_env: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> HubConfig {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        HubConfig::from_vars(|k| map.get(k).cloned(), Some(PathBuf::from("/home/u")))
    }

    #[test]
    fn defaults_follow_huggingface_hub() {
        let c = config(&[]);
        assert_eq!(c.endpoint, "https://huggingface.co");
        assert_eq!(c.cache.root, Path::new("/home/u/.cache/huggingface/hub"));
        assert!(!c.offline);
        assert_eq!(c.token, None);
    }

    #[test]
    fn precedence_of_cache_variables() {
        assert_eq!(
            config(&[("XDG_CACHE_HOME", "/x")]).cache.root,
            Path::new("/x/huggingface/hub")
        );
        assert_eq!(
            config(&[("HF_HOME", "~/hf"), ("XDG_CACHE_HOME", "/x")])
                .cache
                .root,
            Path::new("/home/u/hf/hub")
        );
        assert_eq!(
            config(&[("HF_HOME", "/h"), ("HF_HUB_CACHE", "/c")])
                .cache
                .root,
            Path::new("/c")
        );
    }

    #[test]
    fn endpoint_token_and_offline() {
        let c = config(&[
            ("HF_ENDPOINT", "http://127.0.0.1:9/"),
            ("HF_TOKEN", " hf_x \n"),
            ("HF_HUB_OFFLINE", "yes"),
        ]);
        assert_eq!(c.endpoint, "http://127.0.0.1:9");
        assert_eq!(c.token.as_deref(), Some("hf_x"));
        assert!(c.offline);
        assert!(!config(&[("HF_HUB_OFFLINE", "0")]).offline);
    }

    #[test]
    fn token_file_under_hf_home_is_read() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("token"), "hf_from_file\n").unwrap();
        let home = tmp.path().to_str().unwrap();
        assert_eq!(
            config(&[("HF_HOME", home)]).token.as_deref(),
            Some("hf_from_file")
        );
    }
}
