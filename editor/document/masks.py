"""Per-frame masks of one clip, stored sparsely, and the brush stamps that change them.

No Qt here: the undo commands and the canvas call into this module, and it is tested alone.
A mask is HxW uint8 coverage in [0, 255]; any nonzero pixel is a hole for the engine (a soft
brush edge widens the hole a little, as in an image editor's selection feather).
A box is ``(y0, y1, x0, x1)``, half-open, in frame pixels.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import cv2
import numpy as np

Box = tuple[int, int, int, int]


def union_box(a: Box | None, b: Box | None) -> Box | None:
    """The smallest box holding both (either may be None)."""
    if a is None:
        return b
    if b is None:
        return a
    return (min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]))


def clip_box(box: Box, height: int, width: int) -> Box | None:
    """``box`` cut to the frame; None when nothing is left."""
    y0, y1, x0, x1 = max(0, box[0]), min(height, box[1]), max(0, box[2]), min(width, box[3])
    if y0 >= y1 or x0 >= x1:
        return None
    return (y0, y1, x0, x1)


def dab(radius: float, hardness: float) -> np.ndarray:
    """A round brush tip: (2r+1)x(2r+1) float32 coverage in [0, 1].

    ``hardness`` in [0, 1]: 1 is a hard disc; lower values fade linearly from
    ``radius * hardness`` to the rim.
    """
    r = max(0.5, float(radius))
    n = int(np.ceil(r))
    yy, xx = np.mgrid[-n : n + 1, -n : n + 1].astype(np.float32)
    d = np.sqrt(yy * yy + xx * xx)
    h = float(np.clip(hardness, 0.0, 1.0))
    inner = r * h
    if r - inner < 1e-3:
        return (d <= r).astype(np.float32)
    return np.clip((r - d) / (r - inner), 0.0, 1.0).astype(np.float32)


class Stroke:
    """Coverage of one drag of the brush, accumulated dab by dab on a full-frame float canvas.

    Only the touched bounding box is kept when the stroke ends (:meth:`stamp`).
    """

    def __init__(self, height: int, width: int, radius: float, hardness: float):
        self.height, self.width = height, width
        self.coverage = np.zeros((height, width), dtype=np.float32)
        self.box: Box | None = None
        self._tip = dab(radius, hardness)
        self._n = self._tip.shape[0] // 2
        self._last: tuple[float, float] | None = None

    def add_point(self, x: float, y: float) -> Box | None:
        """Stamp dabs from the last point to (x, y); returns the box that changed."""
        spacing = max(1.0, self._n * 0.25)
        if self._last is None:
            points = [(x, y)]
        else:
            lx, ly = self._last
            dist = float(np.hypot(x - lx, y - ly))
            steps = max(1, int(np.ceil(dist / spacing)))
            points = [(lx + (x - lx) * k / steps, ly + (y - ly) * k / steps) for k in range(1, steps + 1)]
        self._last = (x, y)
        changed: Box | None = None
        n = self._n
        for px, py in points:
            cx, cy = int(round(px)), int(round(py))
            box = clip_box((cy - n, cy + n + 1, cx - n, cx + n + 1), self.height, self.width)
            if box is None:
                continue
            y0, y1, x0, x1 = box
            tip = self._tip[y0 - (cy - n) : y1 - (cy - n), x0 - (cx - n) : x1 - (cx - n)]
            region = self.coverage[y0:y1, x0:x1]
            np.maximum(region, tip, out=region)
            changed = union_box(changed, box)
        self.box = union_box(self.box, changed)
        return changed

    def add_rect(self, x0: float, y0: float, x1: float, y1: float) -> Box | None:
        """Set the stroke to one filled rectangle between two corners (rectangle tool)."""
        old = self.box
        self.coverage[:] = 0
        box = clip_box(
            (int(min(y0, y1)), int(np.ceil(max(y0, y1))) + 1, int(min(x0, x1)), int(np.ceil(max(x0, x1))) + 1),
            self.height,
            self.width,
        )
        if box is not None:
            self.coverage[box[0] : box[1], box[2] : box[3]] = 1.0
        self.box = box
        return union_box(old, box)

    def stamp(self) -> tuple[Box, np.ndarray] | None:
        """(box, uint8 coverage inside box) or None when the stroke touched nothing."""
        if self.box is None:
            return None
        y0, y1, x0, x1 = self.box
        cov = np.round(self.coverage[y0:y1, x0:x1] * 255.0).astype(np.uint8)
        if not cov.any():
            return None
        return self.box, cov


def polygon_stamp(points: Sequence[tuple[float, float]], height: int, width: int) -> tuple[Box, np.ndarray] | None:
    """(box, uint8 stamp, 255 inside) of the filled polygon through ``points``, (x, y) vertices
    in frame pixels (at least 3), cut to the frame; None when it covers no frame pixel."""
    if len(points) < 3:
        raise ValueError(f"a polygon needs at least 3 points, got {len(points)}")
    pts = np.round(np.asarray(points, np.float64)).astype(np.int32)
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0) + 1
    box = clip_box((int(y0), int(y1), int(x0), int(x1)), height, width)
    if box is None:
        return None
    by0, by1, bx0, bx1 = box
    stamp = np.zeros((by1 - by0, bx1 - bx0), np.uint8)
    cv2.fillPoly(stamp, [pts - np.array([bx0, by0], np.int32)], 255)
    if not stamp.any():
        return None
    return box, stamp


def apply_stamp(region: np.ndarray, stamp: np.ndarray, op: str) -> np.ndarray:
    """A new mask region after painting (``op='paint'``) or erasing with ``stamp``."""
    if op == "paint":
        return np.maximum(region, stamp)
    if op == "erase":
        keep = 255 - stamp.astype(np.uint16)
        return (region.astype(np.uint16) * keep // 255).astype(np.uint8)
    raise ValueError(f"unknown mask operation {op!r}: use 'paint' or 'erase'")


class MaskStore:
    """Masks of ``num_frames`` frames of ``height`` x ``width``; frames without a mask hold nothing.

    ``revision`` goes up with every change, so results computed from an older snapshot can be
    told apart (stale) from current ones.
    """

    def __init__(self, num_frames: int, height: int, width: int):
        self.num_frames, self.height, self.width = int(num_frames), int(height), int(width)
        self._masks: dict[int, np.ndarray] = {}
        self.revision = 0

    def _check(self, frame: int) -> None:
        if not 0 <= frame < self.num_frames:
            raise IndexError(f"frame {frame} is outside the clip (0..{self.num_frames - 1})")

    def get(self, frame: int) -> np.ndarray | None:
        """The stored mask (do not modify it) or None when the frame has none."""
        self._check(frame)
        return self._masks.get(frame)

    def mask(self, frame: int) -> np.ndarray:
        """HxW uint8 coverage, zeros when the frame has no mask."""
        m = self.get(frame)
        return m.copy() if m is not None else np.zeros((self.height, self.width), np.uint8)

    def has_mask(self, frame: int) -> bool:
        return frame in self._masks

    def frames(self) -> list[int]:
        """Frames that carry a mask, sorted."""
        return sorted(self._masks)

    def region(self, frame: int, box: Box) -> np.ndarray | None:
        """Copy of the mask inside ``box``, or None when the frame has no mask."""
        m = self.get(frame)
        if m is None:
            return None
        y0, y1, x0, x1 = box
        return m[y0:y1, x0:x1].copy()

    def set_region(self, frame: int, box: Box, values: np.ndarray | None) -> None:
        """Write ``values`` (or zeros for None) into ``box``; a mask that becomes empty is dropped."""
        self._check(frame)
        y0, y1, x0, x1 = box
        m = self._masks.get(frame)
        if m is None:
            if values is None or not values.any():
                return
            m = np.zeros((self.height, self.width), np.uint8)
            self._masks[frame] = m
        m[y0:y1, x0:x1] = 0 if values is None else values
        if not m[y0:y1, x0:x1].any() and not m.any():
            del self._masks[frame]
        self.revision += 1

    def set_mask(self, frame: int, mask: np.ndarray | None) -> None:
        """Replace a whole frame's mask (None or all zeros removes it)."""
        self._check(frame)
        if mask is not None and mask.shape != (self.height, self.width):
            raise ValueError(
                f"mask of shape {mask.shape} does not match the clip size {(self.height, self.width)}"
            )
        if mask is None or not mask.any():
            self._masks.pop(frame, None)
        else:
            self._masks[frame] = np.ascontiguousarray(mask, dtype=np.uint8).copy()
        self.revision += 1

    def snapshot(self, frames: Iterable[int] | None = None) -> dict[int, np.ndarray]:
        """Independent binary copies (HxW uint8 0/1) for a job: later edits do not reach them."""
        chosen = self._masks.keys() if frames is None else [f for f in frames if f in self._masks]
        return {f: (self._masks[f] > 0).astype(np.uint8) for f in chosen}

    def raw(self) -> dict[int, np.ndarray]:
        """Copies of the stored coverage masks (for saving)."""
        return {f: m.copy() for f, m in self._masks.items()}
