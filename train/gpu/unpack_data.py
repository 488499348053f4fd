"""Undo pack_data.py on the device: `<name>.png.jpg` -> `<name>.png` (lossless from there on)."""
import os
import sys

from PIL import Image

root = sys.argv[1]
count = 0
for folder, _, files in os.walk(root):
    for name in files:
        if name.endswith(".png.jpg"):
            path = os.path.join(folder, name)
            Image.open(path).save(path[: -len(".jpg")])
            os.remove(path)
            count += 1
print(f"restored {count} PNG photos under {root}")
