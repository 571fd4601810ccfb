#!/usr/bin/env bash
# System packages the studio and its tests need on Debian/Ubuntu. Idempotent: installs only
# what is missing. Runs apt-get as root (or through sudo when available).
set -euo pipefail

packages=(
  pkg-config            # -sys crates
  mesa-vulkan-drivers   # CPU Vulkan adapter (lavapipe) for wgpu: GUI snapshot tests, headless runs
  libvulkan1
  libxkbcommon-x11-0    # winit on X11
  libx11-6 libxcursor1 libxrandr2 libxi6
  libwayland-client0
)
if [[ "${1:-}" == "--screenshots" ]]; then
  packages+=(xvfb xauth xdotool imagemagick)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
echo "installing system packages: ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then
  SUDO=""
else
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
