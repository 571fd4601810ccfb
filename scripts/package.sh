#!/usr/bin/env bash
# Builds the Linux packages in release mode, offline-capable (crates.io and Debian only):
#   dist/showo-studio_<ver>-1_<arch>.deb     cargo-deb, stripped binary, desktop entry, icons,
#                                             MIME type, AppStream metadata, built-in model
#   dist/showo-studio-<ver>-x86_64.AppImage  AppDir squashed by Debian's mksquashfs, behind the
#                                             AppImage type-2 runtime shipped in the `appimage` crate
#   dist/SHA256SUMS
# Usage: scripts/package.sh [--features "cuda"] [--skip-build]
# Then: scripts/package-smoke.sh checks both packages. See packaging/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

features=""
skip_build=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --features) features="$2"; shift 2 ;;
    --skip-build) skip_build=1; shift ;;
    *) echo "package.sh: unknown argument $1 (expected --features LIST or --skip-build)" >&2; exit 2 ;;
  esac
done

DIST="${DIST:-$ROOT/dist}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
NAME=showo-studio
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
ARCH="$(uname -m)"
# sha256 of assets/runtime-x86_64 in appimage 0.4.0 (AppImageKit type-2 runtime, commit 8bbf694).
RUNTIME_SHA256=328e0d745c5c6817048c27bc3e8314871703f8f47ffa81a37cb06cd95a94b323

step() { printf '\n== %s\n' "$*"; }
die() { echo "package.sh: $*" >&2; exit 1; }

# --- tools -------------------------------------------------------------------------------------
step "system packages"
./scripts/install-deps.sh
need=(squashfs-tools dpkg-dev binutils desktop-file-utils appstream file)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! cargo deb --version >/dev/null 2>&1; then
  step "installing cargo-deb"
  cargo install cargo-deb --locked --version '^3.8'
fi

[[ "$ARCH" == x86_64 ]] || die "the bundled AppImage runtime is x86_64 only; this machine is $ARCH"

# --- inputs ------------------------------------------------------------------------------------
step "checking inputs"
[[ -f assets/tiny/model.safetensors ]] \
  || die "assets/tiny/model.safetensors is missing: the packages ship the built-in model (see README, 'The built-in model')"
# train-tiny leaves resumable checkpoints and optimizer state beside the weights; users need neither.
leftovers="$(find assets/tiny -name '*.ckpt.safetensors' -o -name '*.optim.safetensors')"
[[ -z "$leftovers" ]] || die "assets/tiny holds training leftovers that must not ship: $leftovers"
echo "built-in model: $(du -sh assets/tiny | cut -f1) in assets/tiny ($(find assets/tiny -type f | wc -l) files)"
desktop-file-validate packaging/showo-studio.desktop
appstreamcli validate --no-net packaging/io.github.showo_studio.metainfo.xml
[[ -f packaging/icons/hicolor/256x256/apps/showo-studio.png ]] || die "icons missing: run python3 packaging/icons/generate_icons.py"
packager_version="$(sed -n 's/^version = "\(.*\)"/\1/p' packaging/packager.toml | head -n1)"
[[ "$packager_version" == "$VERSION" ]] \
  || die "packaging/packager.toml has version $packager_version, Cargo.toml has $VERSION (the macOS/Windows installers would disagree)"

# --- build -------------------------------------------------------------------------------------
BIN="$TARGET_DIR/release/$NAME"
if [[ $skip_build -eq 0 ]]; then
  step "cargo build --release ${features:+--features $features}"
  cargo build --release --locked --bin "$NAME" ${features:+--features "$features"}
fi
[[ -x "$BIN" ]] || die "$BIN not found (build it, or drop --skip-build)"

rm -rf "$DIST"
mkdir -p "$DIST"

# --- .deb --------------------------------------------------------------------------------------
step ".deb (cargo-deb)"
cargo deb --no-build --locked --strip --output "$DIST/" ${features:+--features "$features"}
DEB="$(ls "$DIST"/${NAME}_*.deb)"
dpkg-deb --info "$DEB" | sed -n '/Package:/,$p'

# --- AppImage ----------------------------------------------------------------------------------
step "AppImage runtime from the appimage crate"
RT_MANIFEST="$ROOT/packaging/appimage-runtime/Cargo.toml"
cargo fetch --manifest-path "$RT_MANIFEST" --locked
APPIMAGE_CRATE="$(cargo metadata --manifest-path "$RT_MANIFEST" --format-version 1 --locked --offline \
  | grep -o '"manifest_path":"[^"]*/appimage-0\.4\.0/Cargo\.toml"' | head -n1 \
  | sed 's/^"manifest_path":"//; s/Cargo\.toml"$//')"
RUNTIME="${APPIMAGE_CRATE}assets/runtime-x86_64"
[[ -f "$RUNTIME" ]] || die "AppImage runtime not found in the appimage crate (looked for $RUNTIME)"
echo "$RUNTIME_SHA256  $RUNTIME" | sha256sum --check --quiet \
  || die "$RUNTIME does not have the expected sha256 $RUNTIME_SHA256"

step "AppDir"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
APPDIR="$WORK/$NAME.AppDir"
# The AppDir mirrors the .deb's /usr layout, so the binary finds its model the same way
# (<exe dir>/../share/showo-studio/tiny, see src/assets.rs).
mkdir -p "$APPDIR/usr/bin"
strip --strip-all -o "$APPDIR/usr/bin/$NAME" "$BIN"
chmod 755 "$APPDIR/usr/bin/$NAME"
install -Dm644 -t "$APPDIR/usr/share/applications" packaging/showo-studio.desktop
install -Dm644 -t "$APPDIR/usr/share/mime/packages" packaging/showo-studio.xml
# appimagetool-era tools look for <id>.appdata.xml; the content is the same metainfo.
install -Dm644 packaging/io.github.showo_studio.metainfo.xml "$APPDIR/usr/share/metainfo/io.github.showo_studio.appdata.xml"
install -Dm644 -t "$APPDIR/usr/share/icons/hicolor/scalable/apps" packaging/icons/showo-studio.svg
for png in packaging/icons/hicolor/*/apps/showo-studio.png; do
  size_dir="$(basename "$(dirname "$(dirname "$png")")")"
  install -Dm644 "$png" "$APPDIR/usr/share/icons/hicolor/$size_dir/apps/showo-studio.png"
done
mkdir -p "$APPDIR/usr/share/showo-studio"
cp -r assets/tiny "$APPDIR/usr/share/showo-studio/tiny"
chmod -R u=rwX,go=rX "$APPDIR/usr/share/showo-studio/tiny"
# Top level: what the AppImage spec asks for (AppRun, one .desktop, its icon, .DirIcon).
ln -s "usr/bin/$NAME" "$APPDIR/AppRun"
cp packaging/showo-studio.desktop "$APPDIR/$NAME.desktop"
cp packaging/icons/hicolor/256x256/apps/showo-studio.png "$APPDIR/$NAME.png"
ln -s "$NAME.png" "$APPDIR/.DirIcon"

step "squashfs + runtime"
# The runtime reads zlib (gzip) squashfs only.
mksquashfs "$APPDIR" "$WORK/$NAME.squashfs" -comp gzip -all-root -noappend -no-progress -quiet
APPIMAGE="$DIST/$NAME-$VERSION-$ARCH.AppImage"
cat "$RUNTIME" "$WORK/$NAME.squashfs" > "$APPIMAGE"
chmod 755 "$APPIMAGE"

# --- summary -----------------------------------------------------------------------------------
step "summary"
(cd "$DIST" && sha256sum -- *.deb *.AppImage > SHA256SUMS && cat SHA256SUMS)
ls -l "$DIST"
glibc="$(objdump -T "$BIN" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n1)"
echo "binary needs ${glibc:-an unknown glibc} or newer (from the build machine's libc)"
