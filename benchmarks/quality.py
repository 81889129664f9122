"""Fill quality on clips with a known background: PSNR and SSIM inside the hole.

Run by hand (never from the tests)::

    python benchmarks/quality.py [--frames 40] [--width 320] [--height 240]
    python benchmarks/quality.py --real ../shared/real [--frames 60] [--save /tmp/q]

Without ``--real`` the clips are the generated ones of ``benchmarks/_clips.py``; with it,
real frames under holes whose answer is the real pixels (``benchmarks/_real.py``: a real
photograph panned under a logo, a static logo over real clips, one DAVIS sequence's object
masks over another's frames), at 432x240.

Per case and method, measured only inside the hole against the truth: PSNR (dB, pooled),
SSIM, texture (standard deviation of the Laplacian of the fill over the truth's: 1 is as
detailed as the truth, lower is smeared, higher is noisy) and flicker (mean grey-level change
of the fill between neighbouring frames after the true motion, i.e. the flow of the truth
frames, where that flow passes its forward-backward check; the truth's own figure is printed
beside it), plus seconds per frame. Methods: the classic engine, per-frame ``cv2.inpaint``
(Telea, on the same dilated mask) and ProPainter when its weights are present. ``--save``
writes, for a few frames of each case, the input, each method's output and the truth side by
side as PNG.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._clips import Clip, moving_camera, parallax, static_logo  # noqa: E402
from models.classic import ClassicConfig, ClassicEngine, dilate  # noqa: E402
from models.events import FramesReady, samples_of  # noqa: E402

Method = Callable[[Clip], list[np.ndarray]]


def hole_psnr(outputs: list[np.ndarray], clean: list[np.ndarray], masks: list[np.ndarray]) -> float:
    """PSNR in dB over all hole pixels of all frames (one pooled mean squared error)."""
    err = np.concatenate([(o[m > 0].astype(np.float64) - c[m > 0]).ravel() ** 2 for o, c, m in zip(outputs, clean, masks)])
    mse = float(err.mean())
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """HxW SSIM (Gaussian window 11, sigma 1.5) of two HxWx3 uint8 images, channels averaged."""
    x, y = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(img: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(img, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    value = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return value.mean(axis=2)


def hole_ssim(outputs: list[np.ndarray], clean: list[np.ndarray], masks: list[np.ndarray]) -> float:
    """Mean SSIM over all hole pixels of all frames."""
    values = np.concatenate([ssim_map(o, c)[m > 0] for o, c, m in zip(outputs, clean, masks)])
    return float(values.mean())


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)


def hole_texture(outputs: list[np.ndarray], clean: list[np.ndarray], masks: list[np.ndarray]) -> float:
    """Std of the Laplacian inside the hole, fill over truth (pooled over frames)."""
    def spread(images: list[np.ndarray]) -> float:
        values = np.concatenate([cv2.Laplacian(_grey(i), cv2.CV_32F)[m > 0] for i, m in zip(images, masks)])
        return float(values.std())

    truth = spread(clean)
    return spread(outputs) / truth if truth > 0 else float("nan")


def _true_motion(clean: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """For t >= 1: (map, valid) taking frame t-1 onto frame t along the truth's flow."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    out = []
    for a, b in zip(clean[:-1], clean[1:]):
        ga, gb = (cv2.cvtColor(x, cv2.COLOR_RGB2GRAY) for x in (a, b))
        back = dis.calc(gb, ga, None)  # frame t -> t-1
        fwd = dis.calc(ga, gb, None)
        h, w = ga.shape
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        mx, my = gx + back[..., 0], gy + back[..., 1]
        there = cv2.remap(fwd, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        err = np.sum((back + there) ** 2, axis=2)
        valid = (err <= 0.01 * (np.sum(back**2, axis=2) + np.sum(there**2, axis=2)) + 0.5)
        valid &= (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
        out.append((np.stack([mx, my]), valid))
    return out


def hole_flicker(images: list[np.ndarray], masks: list[np.ndarray], motion: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean |frame t - frame t-1 carried along the true motion| (grey levels) in the hole."""
    diffs = []
    for t in range(1, len(images)):
        (mx, my), valid = motion[t - 1]
        carried = cv2.remap(_grey(images[t - 1]), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        where = (masks[t] > 0) & valid
        if where.any():
            diffs.append(np.abs(_grey(images[t]) - carried)[where])
    return float(np.concatenate(diffs).mean()) if diffs else float("nan")


def run_engine(engine: object, clip: Clip) -> list[np.ndarray]:
    """Drive any engine over a clip and collect its frames in order."""
    outputs: list[np.ndarray] = []
    kwargs = {}
    if getattr(engine, "wants_survey", False):
        kwargs["survey"] = samples_of(clip.frames, clip.masks)
    events: Iterator[object] = engine.run(samples_of(clip.frames, clip.masks), len(clip.frames), **kwargs)  # type: ignore[attr-defined]
    for event in events:
        if isinstance(event, FramesReady):
            assert event.start == len(outputs)
            outputs.extend(event.frames)
    return outputs


def telea(dilation: int = 4, radius: int = 5) -> Method:
    """Per-frame cv2.inpaint (Telea) on the mask dilated as the engines dilate it."""

    def method(clip: Clip) -> list[np.ndarray]:
        return [
            cv2.inpaint(f, dilate(m > 0, dilation).astype(np.uint8), radius, cv2.INPAINT_TELEA)
            for f, m in zip(clip.frames, clip.masks)
        ]

    return method


def propainter() -> tuple[Method | None, str]:
    """The ProPainter engine when its code and weights are present, else a reason."""
    try:
        from models.pipeline import ProPainterEngine  # type: ignore[import-not-found]
        from models.weights import weights_available  # type: ignore[import-not-found]
    except ImportError:
        return None, "ProPainter: weights not present (engine code not available)"
    if not weights_available():
        return None, "ProPainter: weights not present"
    try:
        from models.config import ProPainterConfig  # type: ignore[import-not-found]

        engine = ProPainterEngine(ProPainterConfig())
    except Exception as exc:  # the benchmark reports why, rather than stopping
        return None, f"ProPainter: could not start ({exc})"
    return (lambda clip: run_engine(engine, clip)), ""


def _save(folder: str, clip: Clip, results: dict[str, list[np.ndarray]]) -> None:
    """Input | each method | truth, for four frames spread over the clip, as PNG."""
    os.makedirs(folder, exist_ok=True)
    slug = "".join(c if c.isalnum() else "_" for c in clip.name)[:40]
    n = len(clip.frames)
    for t in sorted({0, n // 3, 2 * n // 3, n - 1}):
        row = [clip.frames[t]] + [r[t] for r in results.values()] + [clip.clean[t]]
        cv2.imwrite(os.path.join(folder, f"{slug}_{t:03d}.png"), cv2.cvtColor(np.hstack(row), cv2.COLOR_RGB2BGR))
    with open(os.path.join(folder, "columns.txt"), "w") as f:
        f.write("input | " + " | ".join(results) + " | truth\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=None, help="frames per clip (40 generated, 60 real)")
    parser.add_argument("--width", type=int, default=None, help="320 generated, 432 real")
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real", metavar="DIR", help="a folder with davis/ and clips/ (../shared/real here)")
    parser.add_argument("--cases", default="", help="only the cases whose name contains one of these (comma-separated)")
    parser.add_argument("--methods", default="", help="only the methods whose name contains one of these")
    parser.add_argument("--save", metavar="DIR", help="write input | outputs | truth PNGs here")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    cv2.setNumThreads(args.threads)
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        pass

    methods: list[tuple[str, Method]] = [
        ("classic engine", lambda clip: run_engine(ClassicEngine(ClassicConfig()), clip)),
        ("cv2.inpaint Telea per frame", telea()),
    ]
    pp, note = propainter()
    if pp is not None:
        methods.append(("ProPainter", pp))
    if args.methods:
        methods = [m for m in methods if any(k in m[0] for k in args.methods.split(","))]

    if args.real:
        from benchmarks._real import real_cases

        frames, width = args.frames or 60, args.width or 432
        clips = real_cases(Path(args.real), frames, width, args.height)
        if not clips:
            raise SystemExit(f"{args.real} has no davis/ or clips/ data (see benchmarks/_real.py)")
    else:
        frames, width = args.frames or 40, args.width or 320
        clips = [
            moving_camera(frames, args.height, width, args.seed),
            static_logo(frames, args.height, width, args.seed),
            parallax(frames, args.height, width, args.seed),
        ]
    if args.cases:
        clips = [c for c in clips if any(k in c.name for k in args.cases.split(","))]
    print(f"{'real' if args.real else 'generated'} clips at {width}x{args.height}, {args.threads} threads; "
          "scores inside the hole only")
    print(f"{'clip':34s} {'method':28s} {'frames':>6s} {'PSNR dB':>8s} {'SSIM':>6s} {'texture':>8s} "
          f"{'flicker':>8s} {'truth':>6s} {'s/frame':>8s}")
    for clip in clips:
        motion = _true_motion(clip.clean)
        truth_flicker = hole_flicker(clip.clean, clip.masks, motion)
        results: dict[str, list[np.ndarray]] = {}
        for label, method in methods:
            start = time.perf_counter()
            outputs = method(clip)
            per_frame = (time.perf_counter() - start) / len(clip.frames)
            results[label] = outputs
            psnr = hole_psnr(outputs, clip.clean, clip.masks)
            ssim = hole_ssim(outputs, clip.clean, clip.masks)
            tex = hole_texture(outputs, clip.clean, clip.masks)
            flick = hole_flicker(outputs, clip.masks, motion)
            print(f"{clip.name[:34]:34s} {label[:28]:28s} {len(clip.frames):6d} {psnr:8.2f} {ssim:6.3f} {tex:8.2f} "
                  f"{flick:8.2f} {truth_flicker:6.2f} {per_frame:8.3f}", flush=True)
        if args.save:
            _save(args.save, clip, results)
    if note:
        print(note)


if __name__ == "__main__":
    main()
