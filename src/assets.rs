//! Where the built-in tiny model lives: installed by a package, inside an app bundle, or in the
//! source tree during development.
//!
//! Lookup order (the first folder that holds [`MODEL_MARKER`] wins):
//! 1. `$SHOWO_TINY_DIR`. When set (and not empty) it is the *only* candidate: an explicit
//!    setting is never second-guessed by a silent fallback.
//! 2. `<exe dir>/../share/showo-studio/tiny` — the .deb (`/usr/bin` → `/usr/share`), the
//!    AppImage (same layout inside its AppDir) and any `--prefix`-style install.
//! 3. `<exe dir>/../Resources/tiny` — a macOS `.app` bundle (`Contents/MacOS` → `Contents/Resources`).
//! 4. `<exe dir>/tiny` — the Windows installers, which put resources beside the executable.
//! 5. `<source tree>/assets/tiny`, fixed at build time from `CARGO_MANIFEST_DIR`, so that
//!    `cargo run` and the tests find the model without installing anything.
//!
//! The executable's path is resolved through symlinks first, so a `/usr/local/bin` link to an
//! installed binary still finds the model beside the real file.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Environment variable that names the built-in model folder explicitly.
pub const TINY_DIR_ENV: &str = "SHOWO_TINY_DIR";

/// A folder holds the built-in model when this file is in it.
pub const MODEL_MARKER: &str = "model.safetensors";

/// Optional file in the model folder whose content is the model's id (see [`parse_model_id`]).
pub const MODEL_ID_FILE: &str = "model_id.txt";

/// The built-in model's id when its folder has no [`MODEL_ID_FILE`]; matches the catalog
/// entry in `models.toml`.
pub const DEFAULT_BUILTIN_MODEL_ID: &str = "show-o2-tiny";

/// The folder of the built-in model, or `None` when no candidate holds one.
pub fn builtin_model_dir() -> Option<PathBuf> {
    builtin_model_candidates()
        .into_iter()
        .find(|dir| holds_model(dir))
}

/// Every folder [`builtin_model_dir`] looks in, in order; for error messages that say where
/// the model was expected.
pub fn builtin_model_candidates() -> Vec<PathBuf> {
    let exe = std::env::current_exe()
        .ok()
        .map(|p| p.canonicalize().unwrap_or(p));
    candidate_dirs(
        std::env::var_os(TINY_DIR_ENV),
        exe.as_deref(),
        Path::new(env!("CARGO_MANIFEST_DIR")),
    )
}

/// The built-in model's id: from [`MODEL_ID_FILE`] in its folder when there is one, else
/// [`DEFAULT_BUILTIN_MODEL_ID`].
pub fn builtin_model_id() -> String {
    builtin_model_dir()
        .and_then(|dir| std::fs::read_to_string(dir.join(MODEL_ID_FILE)).ok())
        .and_then(|text| parse_model_id(&text))
        .unwrap_or_else(|| DEFAULT_BUILTIN_MODEL_ID.to_owned())
}

/// Reads an id from the text of [`MODEL_ID_FILE`]: the first line that is neither blank nor a
/// `#` comment, either bare (`show-o2-tiny-r3`) or as a field (`id = "show-o2-tiny-r3"`,
/// `id: show-o2-tiny-r3`). Quotes around the value are dropped.
pub fn parse_model_id(text: &str) -> Option<String> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))?;
    let value = match line.split_once(['=', ':']) {
        Some((key, value)) if key.trim() == "id" => value.trim(),
        _ => line,
    };
    let value = value.trim_matches(|c| c == '"' || c == '\'').trim();
    (!value.is_empty()).then(|| value.to_owned())
}

fn holds_model(dir: &Path) -> bool {
    dir.join(MODEL_MARKER).is_file()
}

fn candidate_dirs(
    env_dir: Option<OsString>,
    exe: Option<&Path>,
    source_root: &Path,
) -> Vec<PathBuf> {
    if let Some(dir) = env_dir.filter(|d| !d.is_empty()) {
        return vec![PathBuf::from(dir)];
    }
    let mut dirs = Vec::new();
    if let Some(exe_dir) = exe.and_then(Path::parent) {
        // `..` is taken lexically: the executable's path is already resolved.
        if let Some(prefix) = exe_dir.parent() {
            dirs.push(prefix.join("share/showo-studio/tiny"));
            dirs.push(prefix.join("Resources/tiny"));
        }
        dirs.push(exe_dir.join("tiny"));
    }
    dirs.push(source_root.join("assets/tiny"));
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder under the system temp dir, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("showo-assets-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn model_at(&self, rel: &str) -> PathBuf {
            let dir = self.0.join(rel);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(MODEL_MARKER), b"weights").unwrap();
            dir
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn first_with_model(dirs: Vec<PathBuf>) -> Option<PathBuf> {
        dirs.into_iter().find(|d| holds_model(d))
    }

    #[test]
    fn installed_layout_wins_over_the_source_tree() {
        let s = Scratch::new("deb");
        let installed = s.model_at("root/usr/share/showo-studio/tiny");
        s.model_at("src/assets/tiny");
        let exe = s.0.join("root/usr/bin/showo-studio");
        let found = first_with_model(candidate_dirs(None, Some(&exe), &s.0.join("src"))).unwrap();
        assert_eq!(
            found.canonicalize().unwrap(),
            installed.canonicalize().unwrap()
        );
    }

    #[test]
    fn macos_bundle_and_windows_layouts_are_found() {
        let s = Scratch::new("bundles");
        let mac = s.model_at("Show-o Studio.app/Contents/Resources/tiny");
        let exe = s.0.join("Show-o Studio.app/Contents/MacOS/showo-studio");
        let found = first_with_model(candidate_dirs(None, Some(&exe), &s.0.join("none")));
        assert_eq!(found, Some(mac));

        let win = s.model_at("Program Files/Show-o Studio/tiny");
        let exe = s.0.join("Program Files/Show-o Studio/showo-studio.exe");
        let found = first_with_model(candidate_dirs(None, Some(&exe), &s.0.join("none")));
        assert_eq!(found, Some(win));
    }

    #[test]
    fn source_tree_is_the_last_resort() {
        let s = Scratch::new("dev");
        let dev = s.model_at("repo/assets/tiny");
        let exe = s.0.join("repo/target/debug/showo-studio");
        let dirs = candidate_dirs(None, Some(&exe), &s.0.join("repo"));
        assert_eq!(dirs.last(), Some(&dev));
        assert_eq!(first_with_model(dirs), Some(dev));
    }

    #[test]
    fn env_variable_is_the_only_candidate_when_set() {
        let s = Scratch::new("env");
        s.model_at("root/usr/share/showo-studio/tiny");
        let exe = s.0.join("root/usr/bin/showo-studio");
        let chosen = s.0.join("elsewhere");
        let dirs = candidate_dirs(Some(chosen.clone().into()), Some(&exe), &s.0);
        assert_eq!(dirs, vec![chosen]);
        // The named folder has no model, and nothing else is tried.
        assert_eq!(first_with_model(dirs), None);
        // An empty value counts as unset.
        assert_eq!(
            candidate_dirs(Some(OsString::new()), Some(&exe), &s.0).len(),
            4
        );
    }

    #[test]
    fn folder_without_weights_is_not_the_model() {
        let s = Scratch::new("empty");
        std::fs::create_dir_all(s.0.join("assets/tiny")).unwrap();
        std::fs::write(s.0.join("assets/tiny/config.json"), b"{}").unwrap();
        assert_eq!(first_with_model(candidate_dirs(None, None, &s.0)), None);
    }

    #[test]
    fn model_id_file_forms() {
        assert_eq!(
            parse_model_id("show-o2-tiny-r3\n").as_deref(),
            Some("show-o2-tiny-r3")
        );
        assert_eq!(
            parse_model_id("# trained by `showo-studio train tiny`\n\nid = \"show-o2-tiny-r3\"\n")
                .as_deref(),
            Some("show-o2-tiny-r3")
        );
        assert_eq!(
            parse_model_id("id: show-o2-tiny-r4").as_deref(),
            Some("show-o2-tiny-r4")
        );
        assert_eq!(parse_model_id("\n  # only a comment\n"), None);
        assert_eq!(parse_model_id("id = \"\""), None);
    }
}
