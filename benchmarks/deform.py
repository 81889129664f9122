"""Modulated deformable 3x3 conv on CPU: torchvision's kernel against ``models.deform``.

    python benchmarks/deform.py [--threads 1,2] [--repeats 5] [--no-large]

Shapes are the pipeline's: the flow completion network's second-order alignment (256 -> 128
channels at 1/8 of 432x240), the feature propagation's flow-guided alignment (128 -> 128 at
1/4 of 432x240) and the latter at 1/4 of 960x540 (the im2col matrix is then 149 MB, so it
is computed in row blocks). 16 deformable groups, batch 1, random weights. Offsets are a
smooth flow of up to 8 px plus a per-tap residual of up to 3 px, so samples leave the image
near its borders; the modulation mask is in (0, 1). Both ops run alternately, under
``inference_mode``; the table gives the median time of each, the speed-up and the largest
absolute difference of the outputs (``max|out|`` gives the output scale).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision.ops

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.deform import deform_conv3x3  # noqa: E402

SHAPES = [  # (name, in channels, out channels, height, width)
    ("flow completion 256->128 30x54", 256, 128, 30, 54),
    ("propagation 128->128 60x108", 128, 128, 60, 108),
]
LARGE = ("propagation 128->128 135x240", 128, 128, 135, 240)


def inputs(c: int, out_c: int, h: int, w: int, groups: int = 16, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """x, offset, weight, bias, mask with the shapes and value ranges of the pipeline's layers."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, c, h, w, generator=g)
    flow = F.interpolate(torch.rand(1, 2, 4, 6, generator=g) * 16 - 8, size=(h, w), mode="bilinear")
    offset = flow.repeat(1, 9 * groups, 1, 1) + 3 * torch.tanh(torch.randn(1, 18 * groups, h, w, generator=g))
    weight = (torch.rand(out_c, c, 3, 3, generator=g) * 2 - 1) / (c * 9) ** 0.5
    bias = torch.randn(out_c, generator=g) * 0.1
    mask = torch.sigmoid(torch.randn(1, 9 * groups, h, w, generator=g))
    return x, offset, weight, bias, mask


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-large", action="store_true", help=f"skip {LARGE[0]}")
    args = parser.parse_args(argv)
    shapes = SHAPES if args.no_large else SHAPES + [LARGE]
    print(f"{'shape':32s} {'threads':>7s} {'torchvision ms':>14s} {'ours ms':>8s} {'speed-up':>8s} "
          f"{'max abs diff':>12s} {'max|out|':>8s}")
    with torch.inference_mode():
        for threads in (int(t) for t in args.threads.split(",")):
            torch.set_num_threads(threads)
            for name, c, out_c, h, w in shapes:
                x, offset, weight, bias, mask = inputs(c, out_c, h, w)
                ops = {
                    "tv": lambda: torchvision.ops.deform_conv2d(x, offset, weight, bias, padding=1, mask=mask),
                    "ours": lambda: deform_conv3x3(x, offset, weight, bias, mask),
                }
                outs = {key: op() for key, op in ops.items()}  # warm-up
                times: dict[str, list[float]] = {key: [] for key in ops}
                for _ in range(args.repeats):
                    for key, op in ops.items():
                        t = time.perf_counter()
                        op()
                        times[key].append((time.perf_counter() - t) * 1000)
                tv, ours = (statistics.median(times[key]) for key in ("tv", "ours"))
                diff = (outs["tv"] - outs["ours"]).abs().max().item()
                print(f"{name:32s} {threads:7d} {tv:14.1f} {ours:8.1f} {tv / ours:7.2f}x {diff:12.2e} "
                      f"{outs['tv'].abs().max().item():8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
