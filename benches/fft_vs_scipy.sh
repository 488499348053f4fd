#!/usr/bin/env bash
# The blind pipeline's CPU FFT (rustfft + realfft, `deconv::fft`) against scipy's pocketfft,
# side by side on the same machine: irfft2(rfft2(x)) of 32 float32 planes of 1024², 2 threads.
# Needs python3 with numpy and scipy (`pip install numpy scipy`); not part of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${THREADS:-2}
n=${SIZE:-1024}
RAYON_NUM_THREADS=$threads cargo run --release --quiet -- bench --fft --sizes "$n" --repeats 5
python3 - "$threads" "$n" <<'PY'
import sys, time
import numpy as np, scipy.fft as fft
workers, n = int(sys.argv[1]), int(sys.argv[2])
x = np.random.default_rng(0).random((32, n, n), dtype=np.float32)
fft.irfft2(fft.rfft2(x, workers=workers), s=(n, n), workers=workers)
times = []
for _ in range(5):
    t = time.perf_counter()
    fft.irfft2(fft.rfft2(x, workers=workers), s=(n, n), workers=workers)
    times.append((time.perf_counter() - t) * 1e3)
print(f"scipy {fft.__name__} irfft2(rfft2(x)) 32x{n}x{n} with {workers} workers: "
      f"{sorted(times)[2]:.1f} ms (scipy {__import__('scipy').__version__})")
PY
