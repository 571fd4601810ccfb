//! The model catalog (`models.toml`): which checkpoints exist, their files, sizes, hashes,
//! resolutions, capabilities and parameter counts. The file at the repository root is compiled
//! into the binary ([`Catalog::builtin`]) so the CLI and the GUI always agree on it.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use serde::Deserialize;

use super::HubError;

/// The catalog shipped with this build (`models.toml` at the crate root).
const BUILTIN_TOML: &str = include_str!("../../models.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    pub schema: u32,
    #[serde(rename = "model", default)]
    pub models: Vec<ModelEntry>,
    #[serde(rename = "component", default)]
    pub components: Vec<Component>,
}

/// One checkpoint the studio can load: either a Hugging Face repo or a folder shipped with the app.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    pub id: String,
    pub display_name: String,
    pub description: String,
    /// Hugging Face repo id (`org/name`); `None` for the built-in model.
    pub repo: Option<String>,
    #[serde(default = "default_revision")]
    pub revision: String,
    /// Folder, relative to the application's root, of a model shipped with the app.
    pub local_path: Option<String>,
    #[serde(default)]
    pub files: Vec<FileEntry>,
    /// Ids of [`Component`]s (tokenizer, VAE, ...) this model also needs.
    #[serde(default)]
    pub components: Vec<String>,
    pub capabilities: Vec<Capability>,
    /// Square image sizes the checkpoint was trained at.
    pub native_resolutions: Vec<u32>,
    /// Frames per clip for video chat, where the checkpoint documents it.
    pub video_frames: Option<u32>,
    pub stored_dtype: Dtype,
    pub recommended_dtype: Dtype,
    /// False where the file list comes from an assumption rather than a listing of the repo.
    #[serde(default = "default_true")]
    pub files_verified: bool,
    #[serde(default)]
    pub notes: Vec<String>,
    pub params: Option<ParamCounts>,
    pub geometry: Option<Geometry>,
}

/// Shared downloads (the base LLM's tokenizer and config, the VAE).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub id: String,
    pub description: String,
    pub repo: String,
    #[serde(default = "default_revision")]
    pub revision: String,
    pub files: Vec<FileEntry>,
    /// Parameter count where the component holds weights (the VAE).
    pub params: Option<u64>,
    pub stored_dtype: Option<Dtype>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Path inside the repo (may contain `/`).
    pub path: String,
    /// Exact size in bytes, where known.
    pub size: Option<u64>,
    /// Full lowercase hex sha256, where known.
    pub sha256: Option<String>,
    /// A known leading part of the sha256 (checked when the full hash is not known).
    pub sha256_prefix: Option<String>,
    /// A file whose name is not verified: a 404 for it is skipped, not an error.
    #[serde(default)]
    pub optional: bool,
}

/// Parameter counts, the input of the memory estimate.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ParamCounts {
    /// The Qwen2 LLM, tied embeddings counted once.
    pub llm: u64,
    /// Everything else in the checkpoint: semantic layers, projectors, time embedding, flow head.
    pub rest: u64,
    /// The model's own VAE, for models that ship one instead of naming a VAE component.
    pub vae: Option<u64>,
}

/// The LLM shape, enough to estimate activation memory.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Geometry {
    pub hidden: u64,
    pub layers: u64,
    pub heads: u64,
    pub kv_heads: u64,
    pub intermediate: u64,
    /// Rows of the embedding table after the Show-o2 resize.
    pub vocab: u64,
    /// The flow head and semantic layers, where they differ from the released Show-o2's
    /// (which all share one head: 2048 wide, 32 heads; SigLIP-so400m semantic layers).
    #[serde(default)]
    pub around: Option<HeadGeometry>,
}

impl Geometry {
    pub fn head_geometry(&self) -> HeadGeometry {
        self.around.unwrap_or(HeadGeometry::SHOWO2)
    }
}

/// Widths of the parts around the LLM, and the text budget of a text-to-image row.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HeadGeometry {
    pub flow_hidden: u64,
    pub flow_heads: u64,
    pub flow_intermediate: u64,
    pub semantic_width: u64,
    pub semantic_heads: u64,
    pub semantic_intermediate: u64,
    /// Tokens around the image block in a text-to-image row (prompt budget + markers).
    pub t2i_text_tokens: u64,
    /// Rows are padded to at least this length (Show-o2's `max_seq_length`).
    pub t2i_min_seq: u64,
    /// Prompt and answer budget of a chat turn.
    pub chat_text_tokens: u64,
    /// Latent cells per image token side (`config.json` `patch_size`): 2 for the released
    /// checkpoints, so a token covers 16 px.
    #[serde(default = "HeadGeometry::released_patch")]
    pub latent_patch: u64,
}

impl HeadGeometry {
    /// The released Show-o2 checkpoints (official inference scripts' budgets).
    pub const SHOWO2: HeadGeometry = HeadGeometry {
        flow_hidden: 2048,
        flow_heads: 32,
        flow_intermediate: 8192,
        semantic_width: 1152,
        semantic_heads: 16,
        semantic_intermediate: 4304,
        t2i_text_tokens: 256,
        t2i_min_seq: 1024,
        chat_text_tokens: 400,
        latent_patch: 2,
    };

    fn released_patch() -> u64 {
        Self::SHOWO2.latent_patch
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    TextToImage,
    ImageChat,
    VideoChat,
}

impl Capability {
    pub const ALL: [Capability; 3] = [Self::TextToImage, Self::ImageChat, Self::VideoChat];

    pub fn label(self) -> &'static str {
        match self {
            Self::TextToImage => "text to image",
            Self::ImageChat => "image chat",
            Self::VideoChat => "video chat",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    F32,
    F16,
    Bf16,
}

impl Dtype {
    pub fn bytes(self) -> u64 {
        match self {
            Self::F32 => 4,
            Self::F16 | Self::Bf16 => 2,
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Bf16 => "bf16",
        })
    }
}

/// A repo plus the files wanted from it: what a pull of a model or a component fetches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFiles {
    pub repo: String,
    pub revision: String,
    pub files: Vec<FileEntry>,
}

fn default_revision() -> String {
    "main".to_string()
}

fn default_true() -> bool {
    true
}

impl Catalog {
    /// The catalog compiled into this build.
    pub fn builtin() -> Self {
        // The shipped file is validated by a unit test, so this cannot fail in a released build.
        Self::parse(BUILTIN_TOML, "models.toml (built in)").expect("built-in models.toml is valid")
    }

    pub fn load(path: &Path) -> Result<Self, HubError> {
        let text = std::fs::read_to_string(path).map_err(|source| HubError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and validates; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, HubError> {
        let catalog: Catalog = toml::from_str(text).map_err(|e| HubError::Catalog {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        catalog.validate().map_err(|message| HubError::Catalog {
            origin: origin.to_string(),
            message,
        })?;
        Ok(catalog)
    }

    pub fn model(&self, id: &str) -> Result<&ModelEntry, HubError> {
        self.models
            .iter()
            .find(|m| m.id == id)
            .or_else(|| self.models.iter().find(|m| m.id.eq_ignore_ascii_case(id)))
            .ok_or_else(|| HubError::UnknownModel {
                id: id.to_string(),
                known: self.models.iter().map(|m| m.id.clone()).collect(),
            })
    }

    pub fn component(&self, id: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.id == id)
    }

    /// Every repo a model needs: its own, then its components', in download order.
    pub fn repos_for(&self, model: &ModelEntry) -> Vec<RepoFiles> {
        let own = model.repo.as_ref().map(|repo| RepoFiles {
            repo: repo.clone(),
            revision: model.revision.clone(),
            files: model.files.clone(),
        });
        let components = model
            .components
            .iter()
            .filter_map(|id| self.component(id))
            .map(|c| RepoFiles {
                repo: c.repo.clone(),
                revision: c.revision.clone(),
                files: c.files.clone(),
            });
        own.into_iter().chain(components).collect()
    }

    /// Parameters of the VAE the model uses (from its components), if known.
    pub fn vae_params(&self, model: &ModelEntry) -> Option<(u64, Dtype)> {
        let own = model
            .params
            .and_then(|p| p.vae)
            .map(|n| (n, model.stored_dtype));
        own.or_else(|| {
            model
                .components
                .iter()
                .filter_map(|id| self.component(id))
                .find_map(|c| Some((c.params?, c.stored_dtype.unwrap_or(Dtype::F32))))
        })
    }

    fn validate(&self) -> Result<(), String> {
        if self.schema != 1 {
            return Err(format!(
                "schema = {} is not supported (this build reads schema 1)",
                self.schema
            ));
        }
        let mut ids = HashSet::new();
        for c in &self.components {
            if !ids.insert(c.id.as_str()) {
                return Err(format!("component id {:?} appears twice", c.id));
            }
            check_repo_id(&c.repo).map_err(|e| format!("component {}: {e}", c.id))?;
            check_files(&c.files).map_err(|e| format!("component {}: {e}", c.id))?;
        }
        let mut model_ids = HashSet::new();
        for m in &self.models {
            let at = |e: String| format!("model {}: {e}", m.id);
            if !model_ids.insert(m.id.to_ascii_lowercase()) {
                return Err(format!("model id {:?} appears twice", m.id));
            }
            match (&m.repo, &m.local_path) {
                (Some(repo), None) => {
                    check_repo_id(repo).map_err(at)?;
                    if m.files.is_empty() {
                        return Err(at("a hub model needs a `files` list".into()));
                    }
                }
                (None, Some(_)) => {}
                _ => {
                    return Err(at(
                        "give exactly one of `repo` (Hugging Face) or `local_path` (built in)"
                            .into(),
                    ));
                }
            }
            check_files(&m.files).map_err(at)?;
            for c in &m.components {
                if self.component(c).is_none() {
                    return Err(at(format!(
                        "component {c:?} is not defined by any [[component]]"
                    )));
                }
            }
            if m.capabilities.is_empty() {
                return Err(at("`capabilities` is empty".into()));
            }
            if let Some(r) = m
                .native_resolutions
                .iter()
                .find(|r| **r == 0 || **r % 16 != 0)
            {
                return Err(at(format!(
                    "native resolution {r} is not a positive multiple of 16 (VAE 8x, patch 2)"
                )));
            }
        }
        Ok(())
    }
}

impl ModelEntry {
    pub fn is_builtin(&self) -> bool {
        self.local_path.is_some()
    }

    pub fn supports(&self, capability: Capability) -> bool {
        self.capabilities.contains(&capability)
    }

    /// Total of the exact file sizes, and whether every (non-optional) file had one.
    pub fn known_download_bytes(&self) -> (u64, bool) {
        let required = self.files.iter().filter(|f| !f.optional);
        let complete = required.clone().all(|f| f.size.is_some());
        (self.files.iter().filter_map(|f| f.size).sum(), complete)
    }

    /// Weight bytes as stored, from the parameter counts (a good estimate of the download).
    pub fn estimated_weight_bytes(&self) -> Option<u64> {
        self.params
            .map(|p| (p.llm + p.rest) * self.stored_dtype.bytes())
    }

    /// One line per capability, honest about what this checkpoint does not do: for the UI and `models list`.
    pub fn capability_lines(&self) -> Vec<String> {
        Capability::ALL
            .iter()
            .map(|&cap| {
                if !self.supports(cap) {
                    return format!("{cap}: not supported by this checkpoint");
                }
                match cap {
                    Capability::TextToImage => format!("{cap}: {}", self.resolution_list()),
                    Capability::VideoChat => match self.video_frames {
                        Some(n) => format!("{cap}: {n} frames"),
                        None => format!("{cap}: yes"),
                    },
                    Capability::ImageChat => format!("{cap}: yes"),
                }
            })
            .collect()
    }

    pub fn resolution_list(&self) -> String {
        self.native_resolutions
            .iter()
            .map(|r| format!("{r}x{r}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn check_repo_id(repo: &str) -> Result<(), String> {
    let ok = repo.split('/').count() == 2
        && repo
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..")
        && repo
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!("repo {repo:?} is not of the form org/name"))
    }
}

fn check_files(files: &[FileEntry]) -> Result<(), String> {
    let is_hex = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    };
    for f in files {
        if f.path.is_empty()
            || f.path.starts_with('/')
            || f.path.split('/').any(|p| p == ".." || p.is_empty())
        {
            return Err(format!(
                "file path {:?} must be relative, without `..`",
                f.path
            ));
        }
        if let Some(h) = &f.sha256
            && (h.len() != 64 || !is_hex(h))
        {
            return Err(format!(
                "{}: sha256 {h:?} is not 64 lowercase hex digits",
                f.path
            ));
        }
        if let Some(p) = &f.sha256_prefix
            && (p.is_empty() || p.len() > 64 || !is_hex(p))
        {
            return Err(format!(
                "{}: sha256_prefix {p:?} is not lowercase hex",
                f.path
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_parses_and_holds_the_released_checkpoints() {
        let cat = Catalog::builtin();
        for id in [
            "show-o2-tiny",
            "show-o2-1.5B",
            "show-o2-1.5B-HQ",
            "show-o2-7B",
            "show-o2-1.5B-w-video-und",
            "show-o2-7B-w-video-und",
        ] {
            cat.model(id).unwrap_or_else(|e| panic!("{e}"));
        }
        let m = cat.model("show-o2-1.5B").unwrap();
        assert_eq!(m.repo.as_deref(), Some("showlab/show-o2-1.5B"));
        let bin = m
            .files
            .iter()
            .find(|f| f.path == "pytorch_model.bin")
            .unwrap();
        assert_eq!(bin.size, Some(5_661_862_314));
        assert_eq!(bin.sha256_prefix.as_deref(), Some("a596cbc3"));
        assert_eq!(bin.sha256, None, "only the prefix of this hash is known");
        // 2,830,777,056 unique parameters at bf16 is the 5.66 GB file.
        assert_eq!(m.estimated_weight_bytes(), Some(5_661_554_112));
        let repos: Vec<_> = cat.repos_for(m).into_iter().map(|r| r.repo).collect();
        assert_eq!(
            repos,
            [
                "showlab/show-o2-1.5B",
                "Qwen/Qwen2.5-1.5B-Instruct",
                "Wan-AI/Wan2.1-T2V-14B"
            ]
        );
        assert_eq!(cat.vae_params(m), Some((126_892_531, Dtype::F32)));

        let hq = cat.model("show-o2-1.5B-HQ").unwrap();
        assert_eq!(hq.native_resolutions, [512, 1024]);
        assert!(!hq.supports(Capability::ImageChat));
        let vid = cat.model("show-o2-7B-w-video-und").unwrap();
        assert!(vid.supports(Capability::VideoChat) && !vid.files_verified);
        let tiny = cat.model("show-o2-tiny").unwrap();
        assert!(tiny.is_builtin() && tiny.repo.is_none());
        assert_eq!(tiny.local_path.as_deref(), Some("assets/tiny"));
    }

    #[test]
    fn capability_lines_say_what_is_missing() {
        let cat = Catalog::builtin();
        let lines = cat.model("show-o2-1.5B-HQ").unwrap().capability_lines();
        assert_eq!(lines[0], "text to image: 512x512, 1024x1024");
        assert_eq!(lines[1], "image chat: not supported by this checkpoint");
        assert_eq!(lines[2], "video chat: not supported by this checkpoint");
    }

    #[test]
    fn unknown_model_error_lists_the_known_ones() {
        let err = Catalog::builtin().model("show-o3").unwrap_err().to_string();
        assert!(
            err.contains("show-o3") && err.contains("show-o2-1.5B-HQ"),
            "{err}"
        );
        assert!(
            Catalog::builtin().model("SHOW-O2-7b").is_ok(),
            "ids match case-insensitively"
        );
    }

    #[test]
    fn validation_names_the_bad_field() {
        let base = r#"
schema = 1
[[model]]
id = "x"
display_name = "X"
description = "d"
repo = "org/x"
capabilities = ["image-chat"]
native_resolutions = [432]
stored_dtype = "bf16"
recommended_dtype = "bf16"
"#;
        let bad_hash = format!("{base}files = [{{ path = \"a.bin\", sha256 = \"abc\" }}]\n");
        let err = Catalog::parse(&bad_hash, "test.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("test.toml") && err.contains("a.bin") && err.contains("sha256"),
            "{err}"
        );

        let bad_component =
            format!("{base}files = [{{ path = \"a.bin\" }}]\ncomponents = [\"vae\"]\n");
        let err = Catalog::parse(&bad_component, "test.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("model x") && err.contains("\"vae\""), "{err}");

        let bad_res = base.replace("[432]", "[430]") + "files = [{ path = \"a.bin\" }]\n";
        let err = Catalog::parse(&bad_res, "test.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("430"), "{err}");

        let unknown_key = format!("{base}files = [{{ path = \"a.bin\" }}]\nsize_gb = 3\n");
        let err = Catalog::parse(&unknown_key, "test.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("size_gb"), "{err}");
    }
}
