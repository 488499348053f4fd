"""Pack the sharp training photos into a compact folder that fits the device machine's 64 MiB.

Every photo is re-encoded as JPEG (quality Q, 4:2:0; the full set is 138 MiB, too much to
travel otherwise). PNG photos travel as `<original>.jpg`, and `unpack_data.py` on the device
writes them back under their original names, so the train/validation split (a hash of each
relative path) is unchanged. The recompression is the one difference from the local data.
Usage: python3 pack_data.py SHARP_DIR OUT_DIR [QUALITY]
"""
import os
import sys

from PIL import Image

src, dst = sys.argv[1], sys.argv[2]
quality = int(sys.argv[3]) if len(sys.argv) > 3 else 85
total = 0
for root, _, files in os.walk(src):
    for name in sorted(files):
        rel = os.path.relpath(os.path.join(root, name), src)
        ext = name.lower().rsplit(".", 1)[-1]
        out = os.path.join(dst, rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        if ext not in ("jpg", "jpeg", "png"):
            continue
        if ext == "png":
            out += ".jpg"
        Image.open(os.path.join(root, name)).convert("RGB").save(
            out, "JPEG", quality=quality, subsampling=2
        )
        total += os.path.getsize(out)
print(f"{total / 2**20:.1f} MiB in {dst}")
