#!/usr/bin/env bash
# Launches the real studio window under Xvfb, once per prepared scene, and saves a screenshot
# of each to docs/screenshots/. Then measures the frame time while a generation runs and
# writes it to docs/screenshots/frame-times.txt.
#
# Installs what is missing with scripts/install-deps.sh --screenshots (Xvfb, xdotool,
# ImageMagick, a Vulkan driver).
# Options (environment): PROFILE=release|dev (default release, as frame times in an
# unoptimised build say little), SCENES="generate mask ..." to take only some.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=docs/screenshots
PROFILE=${PROFILE:-release}
SCENES=${SCENES:-"generate staging mask extend video queue models files"}
SIZE=1440x900
mkdir -p "$OUT"
./scripts/install-deps.sh --screenshots

if [ "$PROFILE" = release ]; then
    nice -n 10 cargo build --release --example studio_scenes
    BIN=target/release/examples/studio_scenes
else
    nice -n 10 cargo build --example studio_scenes
    BIN=target/debug/examples/studio_scenes
fi

# A private X server, runtime dir and Vulkan backend (lavapipe when there is no GPU).
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
chmod 700 "$XDG_RUNTIME_DIR"
export WGPU_BACKEND=${WGPU_BACKEND:-vulkan}
unset WAYLAND_DISPLAY
DISPLAY_NUMBER=${DISPLAY_NUMBER:-:97}
Xvfb "$DISPLAY_NUMBER" -screen 0 "${SIZE}x24" -nolisten tcp &
XVFB_PID=$!
trap 'kill $XVFB_PID 2>/dev/null || true' EXIT
export DISPLAY=$DISPLAY_NUMBER
sleep 1

# Waits for the studio window and prints its id.
wait_for_window() {
    for _ in $(seq 1 150); do
        if id=$(xdotool search --name "Show-o Studio" 2>/dev/null | head -n 1) && [ -n "$id" ]; then
            echo "$id"
            return 0
        fi
        sleep 0.2
    done
    echo "the studio window did not appear" >&2
    return 1
}

shoot() {
    local scene=$1 settle=$2
    "$BIN" "$scene" &
    local app=$!
    local window
    window=$(wait_for_window)
    sleep 0.5
    xdotool windowmove --sync "$window" 0 0 2>/dev/null || true
    xdotool windowfocus --sync "$window" 2>/dev/null || true
    sleep "$settle"
    import -window root "$OUT/$scene.png"
    echo "saved $OUT/$scene.png"
    kill "$app" 2>/dev/null || true
    wait "$app" 2>/dev/null || true
}

for scene in $SCENES; do
    case $scene in
        generate) shoot "$scene" 4 ;;   # mid-run: a live preview on the canvas
        staging) shoot "$scene" 4 ;;    # three candidates in the staging strip
        video) shoot "$scene" 6 ;;      # decoded clip, the answer streamed, frames lit
        *) shoot "$scene" 3 ;;
    esac
done

# Frame time while generating: the window repaints continuously for 8 s during a 200-step
# job with a live preview every step, then writes its statistics and closes.
"$BIN" generate --measure-frames 8 "$OUT/frame-times.txt" &
APP=$!
wait_for_window >/dev/null
wait "$APP" || true
echo "frame times ($PROFILE build, $(date -u +%Y-%m-%d)):"
cat "$OUT/frame-times.txt"
