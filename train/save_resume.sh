#!/usr/bin/env bash
# Copy a running training's newest checkpoint (and its validation log) into train/resume/NAME/
# and stage it in git, replacing the one saved before. `runs/` is git-ignored and dies with the
# machine; this is what lets the next session resume exactly.
#
#   train/save_resume.sh nafnet-s          # then: git commit -m "nafnet-s checkpoint at N"
#   train/restore_resume.sh nafnet-s       # on a fresh machine, before `deblur train --resume`
set -euo pipefail
cd "$(dirname "$0")/.."

name="${1:?usage: train/save_resume.sh NAME (a run under runs/)}"
run="runs/$name"
newest="$(find "$run/checkpoints" -mindepth 1 -maxdepth 1 -type d -name 'iter-*' 2>/dev/null |
  sort | tail -n 1 || true)"
if [[ -z "$newest" ]]; then
  echo "save_resume: no checkpoint under $run/checkpoints" >&2
  exit 1
fi
for f in model.bpk optim.bpk state.json; do
  [[ -s "$newest/$f" ]] || { echo "save_resume: $newest/$f is missing or empty" >&2; exit 1; }
done

dest="train/resume/$name"
mkdir -p "$dest"
# Stage the new checkpoint before dropping the old one, so a failure leaves one in place.
cp -r "$newest" "$dest/"
[[ -f "$run/val_log.csv" ]] && cp "$run/val_log.csv" "$dest/"
git add "$dest"
for old in "$dest"/iter-*; do
  [[ "$(basename "$old")" == "$(basename "$newest")" ]] && continue
  git rm -rq --ignore-unmatch "$old"
  rm -rf "$old"
done
echo "save_resume: $dest/$(basename "$newest") staged"
