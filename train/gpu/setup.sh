# Sourced at the start of every device-machine call (see train/STATUS.md, "GPU runs"):
# Vulkan loader from the carried .gl/*.deb, the carried data pack and the release binary.
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
if [ ! -x /tmp/deblur ]; then
  xz -d < .gpu/deblur.xz > /tmp/deblur && chmod +x /tmp/deblur
fi
if [ ! -d /tmp/sharp ]; then
  cp -r .gpu/data /tmp/sharp && python3 train/gpu/unpack_data.py /tmp/sharp
fi
export XDG_RUNTIME_DIR=/tmp
