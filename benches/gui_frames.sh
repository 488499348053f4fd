#!/usr/bin/env bash
# Frame intervals of the real window, idle and while a CPU deblur runs (README, "The window
# never waits"). Needs xvfb-run and xdotool; prints median and 90th percentile per state.
#   benches/gui_frames.sh [idle|busy] [photo]     (DEBLUR=path/to/deblur)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-busy}
photo=${2:-assets/samples/clock_motion.png}
deblur=${DEBLUR:-${CARGO_TARGET_DIR:-target}/release/deblur}
log=$(mktemp)
export DEBLUR_LOG=deblur::app=trace,info XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}

xvfb-run -a -s "-screen 0 1600x1000x24" bash -c '
  mode=$1 photo=$2 deblur=$3 log=$4
  if [[ $mode == idle ]]; then args=(); else args=(--run --device cpu --screenshot "$log.png"); fi
  "$deblur" open $photo "${args[@]}" 2>"$log" &
  app=$!
  sleep 4
  # The app repaints on input: keep the pointer moving so idle frames keep coming.
  (while :; do for i in $(seq 0 399); do xdotool mousemove $((300 + i)) $((300 + i * 7 % 300)); sleep 0.01; done; done) &
  mover=$!
  if [[ $mode == idle ]]; then sleep 10; kill $app; else wait $app; fi
  kill $mover
' _ "$mode" "$photo" "$deblur" "$log"

python3 - "$log" <<'PY'
import re, statistics, sys
text = re.sub(r"\x1b\[[0-9;]*m", "", open(sys.argv[1]).read())
frames = re.findall(r"interval_ms=([\d.]+) ui_ms=([\d.]+) busy=(\w+)", text)[3:]  # skip start-up
for state in ("false", "true"):
    ms = sorted(float(i) for i, _, b in frames if b == state)
    if ms:
        ui = max(float(u) for _, u, b in frames if b == state)
        print(f"{'busy' if state == 'true' else 'idle'}: {len(ms)} frames, median {statistics.median(ms):.0f} ms, "
              f"p90 {ms[int(0.9 * len(ms)) - 1]:.0f} ms, max {ms[-1]:.0f} ms; app's own work at most {ui:.1f} ms")
PY
rm -f "$log" "$log.png"
