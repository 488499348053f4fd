#!/usr/bin/env python3
"""PyTorch (CPU) reference timings for NAFNet, to compare with the burn port.

Uses spandrel's NAFNet (verbatim official architecture, incl. its custom
LayerNorm2d autograd function). Prints one JSON object per line.

Examples:
  python benches/pytorch_nafnet.py --mode infer --config nafnet-s --size 256 --size 512 --repeats 5
  python benches/pytorch_nafnet.py --mode train --config nafnet-s --batch 8 --patch 128 --repeats 3
  python benches/pytorch_nafnet.py --mode infer --config nafnet-32 --size 256 --threads 4
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time

import torch
from spandrel.architectures.NAFNet import NAFNet

CONFIGS = {
    # NAFNet-S: 1,256,115 parameters.
    "nafnet-s": dict(img_channel=3, width=16, middle_blk_num=1,
                     enc_blk_nums=[1, 1, 1, 2], dec_blk_nums=[1, 1, 1, 1]),
    # Official GoPro/REDS deblurring NAFNet-width32.
    "nafnet-32": dict(img_channel=3, width=32, middle_blk_num=1,
                      enc_blk_nums=[1, 1, 1, 28], dec_blk_nums=[1, 1, 1, 1]),
}


def psnr_loss(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """(10/ln10) * mean_n ln(mean_chw (pred-gt)^2 + 1e-8)  (BasicSR PSNRLoss, weight 1)."""
    mse = ((pred - gt) ** 2).mean(dim=(1, 2, 3))
    return (10.0 / math.log(10.0)) * torch.log(mse + 1e-8).mean()


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000.0


def bench_infer(model, cfg_name, sizes, repeats, threads, seed):
    model.eval()
    g = torch.Generator().manual_seed(seed)
    for s in sizes:
        x = torch.rand(1, 3, s, s, generator=g)
        with torch.no_grad():
            model(x)  # warm-up
            times = [timed(lambda: model(x)) for _ in range(repeats)]
        ms = statistics.median(times)
        print(json.dumps({
            "framework": "pytorch", "mode": "infer", "config": cfg_name,
            "size": s, "ms": round(ms, 3), "ms_per_mp": round(ms / (s * s / 1e6), 3),
            "min_ms": round(min(times), 3), "repeats": repeats,
            "threads": threads, "torch": torch.__version__,
        }), flush=True)


def bench_train(model, cfg_name, batch, patch, repeats, threads, seed):
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-3, betas=(0.9, 0.9))
    g = torch.Generator().manual_seed(seed)
    gt = torch.rand(batch, 3, patch, patch, generator=g)
    lq = (gt + 0.05 * torch.randn(gt.shape, generator=g)).clamp(0, 1)

    losses = []

    def step():
        opt.zero_grad(set_to_none=True)
        loss = psnr_loss(model(lq), gt)
        loss.backward()
        opt.step()
        losses.append(loss.item())

    step()  # warm-up (also allocates AdamW state)
    times = [timed(step) for _ in range(repeats)]
    ms = statistics.median(times)
    print(json.dumps({
        "framework": "pytorch", "mode": "train", "config": cfg_name,
        "batch": batch, "patch": patch, "ms_per_step": round(ms, 3),
        "samples_per_s": round(batch / (ms / 1000.0), 3),
        "min_ms": round(min(times), 3), "repeats": repeats,
        "loss_first": round(losses[0], 4), "loss_last": round(losses[-1], 4),
        "threads": threads, "torch": torch.__version__,
    }), flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=["infer", "train"], required=True)
    p.add_argument("--config", choices=sorted(CONFIGS), default="nafnet-s")
    p.add_argument("--size", type=int, action="append", help="square input size (infer; repeatable)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--patch", type=int, default=128)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = NAFNet(**CONFIGS[a.config])
    if a.mode == "infer":
        bench_infer(model, a.config, a.size or [256], a.repeats, a.threads, a.seed)
    else:
        bench_train(model, a.config, a.batch, a.patch, a.repeats, a.threads, a.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
