#!/usr/bin/env bash
# Put the checkpoint saved by train/save_resume.sh back where `deblur train --resume` looks
# for it (runs/NAME/checkpoints/), without touching a newer checkpoint already there.
#
#   train/restore_resume.sh nafnet-s && deblur -v train train/nafnet-s.toml --resume
set -euo pipefail
cd "$(dirname "$0")/.."

name="${1:?usage: train/restore_resume.sh NAME (a folder under train/resume/)}"
src="$(find "train/resume/$name" -mindepth 1 -maxdepth 1 -type d -name 'iter-*' 2>/dev/null |
  sort | tail -n 1 || true)"
if [[ -z "$src" ]]; then
  echo "restore_resume: no checkpoint under train/resume/$name" >&2
  exit 1
fi
run="runs/$name"
mkdir -p "$run/checkpoints"
have="$(find "$run/checkpoints" -mindepth 1 -maxdepth 1 -type d -name 'iter-*' | sort | tail -n 1)"
# Names are zero-padded (iter-00006973), so string order is iteration order.
if [[ -n "$have" && ! "$(basename "$have")" < "$(basename "$src")" ]]; then
  echo "restore_resume: $have is as new as $src or newer; nothing to do"
  exit 0
fi
cp -r "$src" "$run/checkpoints/"
# The saved validation log covers the run up to that checkpoint; keep a longer one in place.
if [[ -f "train/resume/$name/val_log.csv" ]]; then
  if [[ ! -f "$run/val_log.csv" ]] ||
    (($(wc -l <"train/resume/$name/val_log.csv") > $(wc -l <"$run/val_log.csv"))); then
    cp "train/resume/$name/val_log.csv" "$run/"
  fi
fi
echo "restore_resume: $run/checkpoints/$(basename "$src") in place; resume with --resume"
