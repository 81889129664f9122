"""SAM on this machine: embedding time and click-to-mask time (full architecture, random weights).

    python benchmarks/sam.py [--model vit_b] [--size 1280x720] [--clicks 20] [--threads N]

The embedding (ViT encoder) runs once per frame on the worker thread and is cached; a click
then only runs the prompt encoder + mask decoder + upscaling to the frame size
(target: < 200 ms once the embedding is cached). Random weights have the real shapes and cost.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.segmentation import SAM_ARCHITECTURES, SamClickPredictor, build_sam  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=list(SAM_ARCHITECTURES), default="vit_b")
    parser.add_argument("--size", default="1280x720", help="frame WIDTHxHEIGHT")
    parser.add_argument("--clicks", type=int, default=20)
    parser.add_argument("--frames", type=int, default=2, help="frames to embed")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.split("x"))
    torch.manual_seed(0)
    t0 = time.perf_counter()
    sam = build_sam(args.model)
    build_s = time.perf_counter() - t0
    predictor = SamClickPredictor(sam, device=args.device, cache_size=4)
    params = sum(p.numel() for p in sam.parameters())
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(args.frames)]
    print(f"SAM {args.model} ({params / 1e6:.1f} M parameters, random weights) on {args.device}, "
          f"{torch.get_num_threads()} threads, frame {width}x{height}; built in {build_s:.1f} s")

    embed = []
    for i, frame in enumerate(frames):
        t0 = time.perf_counter()
        predictor.set_frame("bench", i, frame)
        embed.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    predictor.set_frame("bench", 0, frames[0])
    hit = time.perf_counter() - t0

    def timed(**prompt):
        times = []
        for _ in range(args.clicks):
            x, y = rng.uniform(0, width), rng.uniform(0, height)
            p = dict(prompt)
            if "points" in p:
                p["points"] = np.array([[x, y]] + p["points"][1:])
            t0 = time.perf_counter()
            predictor.predict(**p)
            times.append(time.perf_counter() - t0)
        return np.array(times) * 1000

    one = timed(points=[[0, 0]], labels=[1], multimask=True)
    two = timed(points=[[0, 0], [10, 10]], labels=[1, 0], box=[100, 100, 400, 300], multimask=False)
    low = predictor.predict(points=[[50, 50]], labels=[1]).low_res_logits[0]
    refine = timed(points=[[0, 0]], labels=[1], mask_input=low, multimask=False)
    print(f"{'step':<44} {'median':>9} {'min':>9} {'max':>9}")
    print(f"{'embedding (set_frame, cache miss)':<44} {1000 * np.median(embed):8.0f}ms {1000 * min(embed):8.0f}ms {1000 * max(embed):8.0f}ms")
    print(f"{'set_frame, cache hit':<44} {1000 * hit:8.2f}ms")
    for name, t in (("click -> 3 masks (cached embedding)", one),
                    ("click + exclude + box -> 1 mask", two),
                    ("click + previous mask logits -> 1 mask", refine)):
        print(f"{name:<44} {np.median(t):7.1f}ms {t.min():8.1f}ms {t.max():8.1f}ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
