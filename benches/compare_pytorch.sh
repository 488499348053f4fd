#!/usr/bin/env bash
# burn vs PyTorch (spandrel's NAFNet) on this machine's CPU, same threads, side by side.
# Prints ms per megapixel of each and the ratio burn/PyTorch.
#   PYTHON=/path/to/python-with-torch-and-spandrel benches/compare_pytorch.sh [threads] [sizes]
# (tests/fixtures/requirements.txt lists the Python packages.)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
sizes=${2:-256,512}
python=${PYTHON:-python3}
deblur=${DEBLUR:-target/release/deblur}
[[ -x $deblur ]] || deblur="${CARGO_TARGET_DIR:-target}/release/deblur"

burn_json=$(RAYON_NUM_THREADS=$threads "$deblur" -q bench --models nafnet-s --sizes "$sizes" --devices cpu --repeats 5 --json)
torch_args=()
for s in ${sizes//,/ }; do torch_args+=(--size "$s"); done
torch_json=$("$python" benches/pytorch_nafnet.py --mode infer --config nafnet-s --threads "$threads" --repeats 5 "${torch_args[@]}")

"$python" - "$burn_json" "$torch_json" <<'PY'
import json, sys
burn = {j["size"]: j for j in map(json.loads, sys.argv[1].splitlines())}
torch = {j["size"]: j for j in map(json.loads, sys.argv[2].splitlines())}
print(f"{'size':>6} {'burn ms/MP':>12} {'torch ms/MP':>12} {'burn/torch':>11}")
for size in sorted(burn):
    b, t = burn[size]["ms_per_megapixel"], torch[size]["ms_per_mp"]
    print(f"{size:>6} {b:>12.0f} {t:>12.0f} {b / t:>11.2f}")
PY
