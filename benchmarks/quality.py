"""Fill quality on clips with a known background: PSNR and SSIM inside the hole.

Run by hand (never from the tests)::

    python benchmarks/quality.py [--frames 40] [--width 320] [--height 240]

For each clip of ``benchmarks/_clips.py`` it prints, per method, PSNR (dB) and SSIM
measured only on the pixels of the removed object / logo, against the clean background,
plus seconds per frame. Methods: the classic engine, per-frame ``cv2.inpaint`` (Telea, on the
same dilated mask) and ProPainter when its weights are present.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Callable, Iterator

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._clips import Clip, moving_camera, parallax, static_logo  # noqa: E402
from models.classic import ClassicConfig, ClassicEngine, dilate  # noqa: E402
from models.events import FramesReady  # noqa: E402

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


def run_engine(engine: object, clip: Clip) -> list[np.ndarray]:
    """Drive any engine over a clip and collect its frames in order."""
    outputs: list[np.ndarray] = []
    events: Iterator[object] = engine.process(iter(clip.frames), iter(clip.masks), len(clip.frames))  # type: ignore[attr-defined]
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    cv2.setNumThreads(max(1, cv2.getNumThreads()))

    methods: list[tuple[str, Method]] = [
        ("classic engine", lambda clip: run_engine(ClassicEngine(ClassicConfig()), clip)),
        ("cv2.inpaint Telea per frame", telea()),
    ]
    pp, note = propainter()
    if pp is not None:
        methods.append(("ProPainter", pp))

    clips = [
        moving_camera(args.frames, args.height, args.width, args.seed),
        static_logo(args.frames, args.height, args.width, args.seed),
        parallax(args.frames, args.height, args.width, args.seed),
    ]
    print(f"clips: {args.frames} frames of {args.width}x{args.height}; scores inside the mask only")
    print(f"{'clip':32s} {'method':30s} {'PSNR dB':>8s} {'SSIM':>6s} {'s/frame':>8s}")
    for clip in clips:
        for label, method in methods:
            start = time.perf_counter()
            outputs = method(clip)
            per_frame = (time.perf_counter() - start) / len(clip.frames)
            psnr = hole_psnr(outputs, clip.clean, clip.masks)
            ssim = hole_ssim(outputs, clip.clean, clip.masks)
            print(f"{clip.name:32s} {label:30s} {psnr:8.2f} {ssim:6.3f} {per_frame:8.3f}")
    if note:
        print(note)


if __name__ == "__main__":
    main()
