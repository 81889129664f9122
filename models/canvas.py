"""Outpainting canvas: where the original frame sits on an expanded canvas, and the masks.

The authors expand by ``scale_h``/``scale_w`` (``int(scale * size)`` rounded down to a
multiple of 8, the original centred). We also expand to a target size or aspect ratio.
The new border is the hole (``mask``); the flow-completion mask (``flow_mask``) reaches
4 px further into the original on each side that grew by more than 10 px, as the authors do.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .errors import InputError


@dataclass(frozen=True)
class Canvas:
    """An expanded canvas of ``height`` x ``width`` holding the source at (``top``, ``left``)."""

    height: int
    width: int
    top: int
    left: int
    src_height: int
    src_width: int

    def place(self, frame: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 source frame -> canvas frame, zeros in the new border."""
        if frame.shape[:2] != (self.src_height, self.src_width):
            raise InputError(
                f"frame of size {frame.shape[1]}x{frame.shape[0]} does not match the clip size "
                f"{self.src_width}x{self.src_height}"
            )
        out = np.zeros((self.height, self.width) + frame.shape[2:], dtype=frame.dtype)
        out[self.top : self.top + self.src_height, self.left : self.left + self.src_width] = frame
        return out

    def masks(self) -> tuple[np.ndarray, np.ndarray]:
        """(flow_mask, mask): HxW uint8 0/1 each, 1 = to be filled."""
        mask = np.ones((self.height, self.width), dtype=np.uint8)
        dh = 4 if self.top > 10 else 0
        dw = 4 if self.left > 10 else 0
        flow_mask = mask.copy()
        flow_mask[
            self.top + dh : self.top + self.src_height - dh,
            self.left + dw : self.left + self.src_width - dw,
        ] = 0
        mask[self.top : self.top + self.src_height, self.left : self.left + self.src_width] = 0
        return flow_mask, mask


def parse_aspect(text: str) -> Fraction:
    """'16:9', '16/9' or '1.777' -> Fraction(width, height)."""
    try:
        for sep in (":", "/"):
            if sep in text:
                w, h = text.split(sep, 1)
                value = Fraction(float(w)) / Fraction(float(h))
                break
        else:
            value = Fraction(float(text))
    except (ValueError, ZeroDivisionError):
        raise InputError(f"aspect ratio {text!r} is not understood: write it as W:H, e.g. 16:9") from None
    if value <= 0:
        raise InputError(f"aspect ratio {text!r} must be positive, e.g. 16:9")
    return value.limit_denominator(10000)


def plan_canvas(
    height: int,
    width: int,
    *,
    scale_h: float | None = None,
    scale_w: float | None = None,
    size: tuple[int, int] | None = None,
    aspect: Fraction | str | None = None,
) -> Canvas:
    """The canvas for a ``height`` x ``width`` source.

    Give either ``scale_h``/``scale_w`` (the authors' way; a missing one is 1.0), a target
    ``size`` = (width, height), or a target ``aspect`` (width/height), which grows only the
    dimension that must grow. Canvas sides are rounded down to multiples of 8 and must not be
    smaller than the source.
    """
    given = sum(x is not None for x in ((scale_h, scale_w), size, aspect) if x != (None, None))
    if given != 1:
        raise InputError("give exactly one of --scale-w/--scale-h, --size or --aspect to expand the canvas")
    if size is not None:
        cw, ch = int(size[0]), int(size[1])
    elif aspect is not None:
        ratio = parse_aspect(aspect) if isinstance(aspect, str) else Fraction(aspect)
        if Fraction(width, height) < ratio:
            ch, cw = height, int(round(height * ratio))
        else:
            cw, ch = width, int(round(width / ratio))
        # Round up to the grid so the source always fits.
        cw, ch = cw + (-cw) % 8, ch + (-ch) % 8
    else:
        sh = 1.0 if scale_h is None else float(scale_h)
        sw = 1.0 if scale_w is None else float(scale_w)
        if sh < 1.0 or sw < 1.0:
            raise InputError(f"canvas scale {sw}x{sh} would crop the frame: use scales of 1.0 or more")
        ch, cw = int(sh * height), int(sw * width)
    ch, cw = ch - ch % 8, cw - cw % 8
    if ch < height or cw < width:
        raise InputError(
            f"canvas {cw}x{ch} is smaller than the {width}x{height} frame: choose a larger size "
            "(canvas sides are rounded down to multiples of 8)"
        )
    return Canvas(ch, cw, int((ch - height) / 2), int((cw - width) / 2), height, width)
