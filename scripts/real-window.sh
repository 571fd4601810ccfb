#!/usr/bin/env bash
# Drives the real studio binary (the Show-o2 pipelines, built-in model; no test backend) in a
# real window under Xvfb with xdotool, the way a user would: type a prompt, press Generate,
# wait for the picture, ask about it in the chat. Saves a screenshot after each step to
# docs/screenshots/real-*.png and checks the generated picture appeared (the canvas changed).
#
# Usage: scripts/real-window.sh            (builds the release binary if needed)
# Environment: BIN=path/to/showo-studio, OUT=folder for the screenshots.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-docs/screenshots}
SIZE=1440x900
mkdir -p "$OUT"
./scripts/install-deps.sh --screenshots
if [ -z "${BIN:-}" ]; then
    cargo build --release --locked --bin showo-studio
    BIN=target/release/showo-studio
fi

export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
chmod 700 "$XDG_RUNTIME_DIR"
export WGPU_BACKEND=${WGPU_BACKEND:-vulkan}
unset WAYLAND_DISPLAY
DATA=$(mktemp -d) # a clean user: no recovered project, no recent files
export HOME=$DATA
Xvfb -displayfd 3 -screen 0 "${SIZE}x24" -nolisten tcp 3>"$DATA/display" &
XVFB_PID=$!
for _ in $(seq 50); do [ -s "$DATA/display" ] && break; sleep 0.2; done
export DISPLAY=":$(head -n1 "$DATA/display")"
APP_PID=""
trap 'kill $APP_PID $XVFB_PID 2>/dev/null || true; rm -rf "$DATA"' EXIT

"$BIN" >"$DATA/studio.log" 2>&1 &
APP_PID=$!
window=""
for _ in $(seq 150); do
    window=$(xdotool search --onlyvisible --name "Show-o Studio" 2>/dev/null | head -n 1 || true)
    [ -n "$window" ] && break
    sleep 0.2
done
[ -n "$window" ] || { cat "$DATA/studio.log"; echo "no window" >&2; exit 1; }
xdotool windowmove --sync "$window" 0 0 2>/dev/null || true
xdotool windowsize --sync "$window" 1440 900 2>/dev/null || true
sleep 1
xdotool windowfocus --sync "$window" 2>/dev/null || xdotool windowfocus "$window" 2>/dev/null || true
sleep 3 # the built-in model loads in well under a second; the first frames on lavapipe are slow

shot() { import -window root "$OUT/$1.png"; echo "saved $OUT/$1.png"; }
canvas_sd() { # standard deviation of the canvas area of a screenshot (0..1)
    convert "$1" -crop 740x700+300+90 +repage -format '%[fx:standard_deviation]' info:
}
click() { xdotool mousemove --sync "$1" "$2"; sleep 0.2; xdotool click 1; sleep 0.4; }

shot real-loaded
before=$(canvas_sd "$OUT/real-loaded.png")

# Prompt box (top of the left panel): select what is there, type ours.
click 140 90
xdotool key --clearmodifiers ctrl+a
sleep 0.2
xdotool type --delay 30 "a red circle on the left"
sleep 0.3
click 42 309 # Generate
sleep 10     # 50 steps of the tiny model with live previews, then the decode
shot real-generated
after=$(canvas_sd "$OUT/real-generated.png")
echo "canvas stddev before $before, after $after"
awk -v a="$before" -v b="$after" 'BEGIN { exit !(b > a + 0.02) }' \
    || { echo "the generated picture did not appear on the canvas" >&2; exit 1; }

# Ask about it in the chat: attach the canvas, type, send.
click 1104 745          # Attach canvas
click 1255 808          # Message box
xdotool type --delay 30 "what colour is the circle?"
sleep 0.3
click 1118 860          # Send
sleep 5
shot real-chat
kill "$APP_PID" 2>/dev/null || true
wait "$APP_PID" 2>/dev/null || true
echo "studio log:"; tail -n 20 "$DATA/studio.log"
