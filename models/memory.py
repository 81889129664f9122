"""GPU memory estimate of ProPainter inference, and a sub-video length that fits.

The data is the table the authors publish (GiB of GPU memory with the default options, per
sub-video length, fp32 / fp16)::

    resolution   50 frames    80 frames
    1280x720     28 / 19      OOM / 25
    720x480      11 / 7       13 / 8
    640x480      10 / 6       12 / 7
    320x240       3 / 2        4 / 3

``resources/memory_table.json`` holds the same table for the GUI and the docs (a test
checks they agree).

The model, per precision, with P = width x height in megapixels and T = sub-video length::

    GiB = a + b*P + c*P*T + d*P^2*T + e*T

* ``a``: weights and fixed workspace (the three networks are ~200 MB in fp32).
* ``b*P``: activations that do not depend on the sub-video length: one transformer window
  of neighbour frames and its features, RAFT on a short clip.
* ``c*P*T``: what is held for the whole sub-video: frames, masks, forward/backward flows
  (RAFT and completed), propagated frames and encoder features.
* ``d*P^2*T``: the sparse transformer's global tokens: every window (their number grows
  with P) attends to the pooled tokens (also growing with P) of every reference frame,
  and with ``T <= subvideo_length`` the reference frames are every 10th frame of the
  sub-video (growing with T).
* ``e*T``: a per-frame cost independent of resolution (bookkeeping and allocator
  rounding); it is what the small, whole-GiB-rounded cells ask for.

The coefficients are fitted at import by non-negative least squares on relative errors
(every cell counts the same in percent). fp16 is fitted first; fp32 is fitted as fp16 plus
non-negative increments, so fp32 never estimates below fp16 at any size. Every numeric cell
is reproduced within 7.1 %; the OOM cell (1280x720, fp32, 80 frames) estimates ~38 GiB,
above every GPU the fp32 column fits on and above the 32 GiB cards of the time.
The estimate is for the authors' whole-sub-video code path; it is an upper guide for this
project's streaming pipeline, whose own figures come from ``benchmarks/`` (no CPU RSS model
is given here: that is measured by the pipeline benchmark, not guessed).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

GiB = 2**30

#: (width, height) -> {(precision, frames): GiB or None for out of memory}.
MEMORY_TABLE: dict[tuple[int, int], dict[tuple[str, int], float | None]] = {
    (1280, 720): {("fp32", 50): 28, ("fp32", 80): None, ("fp16", 50): 19, ("fp16", 80): 25},
    (720, 480): {("fp32", 50): 11, ("fp32", 80): 13, ("fp16", 50): 7, ("fp16", 80): 8},
    (640, 480): {("fp32", 50): 10, ("fp32", 80): 12, ("fp16", 50): 6, ("fp16", 80): 7},
    (320, 240): {("fp32", 50): 3, ("fp32", 80): 4, ("fp16", 50): 2, ("fp16", 80): 3},
}
TERMS = ("constant", "pixels", "pixels*frames", "pixels^2*frames", "frames")


def _features(megapixels: float, frames: float) -> np.ndarray:
    p, t = megapixels, frames
    return np.array([1.0, p, p * t, p * p * t, t])


def _nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact non-negative least squares for a handful of columns (every active set tried)."""
    n = a.shape[1]
    best: tuple[float, np.ndarray] | None = None
    for k in range(1, n + 1):
        for cols in itertools.combinations(range(n), k):
            x, *_ = np.linalg.lstsq(a[:, cols], b, rcond=None)
            if (x < 0).any():
                continue
            r = float(np.sum((a[:, cols] @ x - b) ** 2))
            if best is None or r < best[0]:
                full = np.zeros(n)
                full[list(cols)] = x
                best = (r, full)
    if best is None:  # cannot happen: the one-column constant fit is always feasible
        raise RuntimeError("no non-negative fit")
    return best[1]


def _cells(precision: str) -> tuple[np.ndarray, np.ndarray]:
    rows, values = [], []
    for (w, h), cells in MEMORY_TABLE.items():
        for (prec, frames), gib in cells.items():
            if prec == precision and gib is not None:
                rows.append(_features(w * h / 1e6, frames))
                values.append(float(gib))
    return np.array(rows), np.array(values)


def fit(table_precisions: tuple[str, str] = ("fp16", "fp32")) -> dict[str, np.ndarray]:
    """Coefficients (GiB) of :data:`TERMS` per precision, fitted to :data:`MEMORY_TABLE`."""
    low, high = table_precisions
    a16, y16 = _cells(low)
    x16 = _nnls(a16 / y16[:, None], np.ones(len(y16)))
    a32, y32 = _cells(high)
    # fp32 = fp16 + non-negative increments, fitted to fp32's relative residuals.
    increments = _nnls(a32 / y32[:, None], 1.0 - (a32 @ x16) / y32)
    return {low: x16, high: x16 + increments}


COEFFICIENTS: dict[str, np.ndarray] = fit()


def estimate_gib(width: int, height: int, subvideo_length: int = 80, fp16: bool = False) -> float:
    """Estimated GPU memory (GiB) of one sub-video of ``subvideo_length`` frames at width x height."""
    if width <= 0 or height <= 0 or subvideo_length <= 0:
        raise ValueError(f"estimate needs a positive size and length, got {width}x{height}, {subvideo_length}")
    coef = COEFFICIENTS["fp16" if fp16 else "fp32"]
    return float(_features(width * height / 1e6, subvideo_length) @ coef)


def estimate(width: int, height: int, subvideo_length: int = 80, fp16: bool = False) -> float:
    """Estimated GPU memory in bytes (see the module docstring for the model)."""
    return estimate_gib(width, height, subvideo_length, fp16) * GiB


#: The share of the free memory a run plans to use; the rest is kept in reserve for the
#: allocator's fragmentation, other processes and the estimate's error (up to 7 % on the table).
SAFETY = 0.85


def budget_text(free_bytes: float, safety: float = SAFETY) -> str:
    """'20.2 GiB is free and a run keeps 15 % of it in reserve, so 17.2 GiB is usable'."""
    reserve = round((1.0 - safety) * 100)
    return (f"{free_bytes / GiB:.1f} GiB is free and a run keeps {reserve} % of it in reserve, "
            f"so {safety * free_bytes / GiB:.1f} GiB is usable")


@dataclass(frozen=True)
class Plan:
    """The sub-video length to use and whether it fits; ``suggestion`` is one sentence for the user."""

    subvideo_length: int
    estimated_bytes: float
    fits: bool
    suggestion: str


def plan(
    width: int,
    height: int,
    free_bytes: int,
    fp16: bool,
    max_subvideo: int = 80,
    safety: float = SAFETY,
    min_subvideo: int = 10,
) -> Plan:
    """The largest sub-video length in [min_subvideo, max_subvideo] whose estimate fits
    ``safety * free_bytes`` (the rest is kept in reserve, and the suggestion says so); when
    even ``min_subvideo`` does not fit, that length with ``fits=False`` and a suggestion."""
    if not 0 < safety <= 1:
        raise ValueError(f"safety must be in (0, 1], got {safety}")
    min_subvideo = max(1, min(min_subvideo, max_subvideo))
    budget = max(0.0, safety * free_bytes)
    coef = COEFFICIENTS["fp16" if fp16 else "fp32"] * GiB
    p = width * height / 1e6
    fixed = coef[0] + coef[1] * p
    per_frame = coef[2] * p + coef[3] * p * p + coef[4]
    length = max_subvideo if per_frame <= 0 else int(math.floor((budget - fixed) / per_frame))
    length = min(max_subvideo, length)
    size = f"{width}x{height}"
    if length >= min_subvideo:
        est = estimate(width, height, length, fp16)
        if length == max_subvideo:
            text = f"{size} fits with sub-videos of {length} frames (~{est / GiB:.1f} GiB)."
        else:
            text = (f"Sub-videos shortened to {length} frames so that {size} fits "
                    f"(~{est / GiB:.1f} GiB; {budget_text(free_bytes, safety)}).")
        return Plan(length, est, True, text)
    est = estimate(width, height, min_subvideo, fp16)
    hints = ["lower the resolution (--resize-ratio)"]
    if not fp16:
        hints.append("use fp16 on a CUDA GPU")
    hints.append("use a device with more memory")
    return Plan(min_subvideo, est, False,
                f"{size} needs ~{est / GiB:.1f} GiB even with sub-videos of {min_subvideo} frames; "
                f"{budget_text(free_bytes, safety)}: {', or '.join(hints)}.")
