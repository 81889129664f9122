"""Follow an object that bends and turns: each pixel moves with the optical flow, then a colour
cut keeps the pixels that look like the object and adds the ones next to it that do.

:class:`~models.segmentation.object_motion.ObjectMotion` moves one affine shape; a runner's
legs, a rider's arms or a player's racket do not move as one shape. :class:`PixelTrack`
carries the object's mask from frame to frame pixel by pixel and snaps it to the object with
two colour models (in the spirit of Video SnapCut's local windows and BVS's bilateral grid):

1. **Margin.** Masks drawn for removal are often grown past the object's edge (a brush
   margin, a dilated annotation, a shadow strip). On the keyframe the margin is measured as
   the widest disk the mask is made of (its morphological opening by that disk keeps the
   mask); the track follows the *core* (the mask eroded by the margin, which is the object
   itself, not the background around it) and gives the margin back on every frame, so the
   masks keep the user's style.
2. **Warp.** The core is warped to the next frame with the dense backward flow
   (``FlowField``, DIS or RAFT): every pixel with its own motion.
3. **Local colour model.** A bilateral grid (x, y, Y, Cr, Cb) is filled with the previous
   frame's object pixels and background pixels (a ring around the mask), each moved by its
   own flow, and blurred: a pixel of the new frame is object where, near the same place, the
   object had its colour. Object and background are weighted equally, so a thin part is not
   outvoted by the large background around it, and each sample as far as the keyframe model
   agrees with its label, so pixels taken in by mistake do not teach it (a drift would
   otherwise reinforce itself).
4. **Keyframe colour model.** Colour histograms of the object and its surroundings on the
   keyframes; they do not drift along the track.
5. **Cut.** A warped pixel is dropped only when both models say background, and a pixel next
   to the warped mask (``reach``) is added only when both say object clearly (further out,
   ``far_reach``, only when both are sure: a fast limb or a part coming out from behind
   something): the warp is trusted unless the colours give evidence against it, and the mask
   cannot creep into a background that looks like the object in only one of the models.

Everything runs at the flow's resolution (``FlowField.flow_size``); the mask is scaled to the
frames' size at the end. No Qt, no files.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import InputError
from .confidence import colour_index, histogram, surroundings
from .flow import FlowField


@dataclass(frozen=True)
class PixelTrackConfig:
    """Settings of :class:`PixelTrack`; checked on construction.

    ``cell``: spatial size (pixels at flow resolution) of a grid cell; ``colour_cells``:
    size of a cell along Y, Cr, Cb (0..255); ``reach``: how far (pixels) past the warped mask
    the cut may add object pixels; ``ring``: width of the background ring the local model
    learns from; ``drop_local``/``drop_key``: a warped pixel is dropped when the local model's
    object probability is under ``drop_local`` and the keyframe model's under ``drop_key``;
    ``add_local``/``add_key``: a pixel is added when both are over these; ``far_reach``,
    ``far_add``: further out, up to ``far_reach`` pixels from the warped mask, a pixel is added
    when both are over ``far_add`` (a part the flow lost, such as a fast leg or a part coming
    out from behind something, found again by its colours); ``max_margin``: the widest margin
    (pixels) looked for on the keyframe.
    """

    cell: int = 24
    colour_cells: tuple[int, int, int] = (32, 16, 16)
    reach: int = 8
    ring: int = 15
    drop_local: float = 0.45
    drop_key: float = 0.4
    add_local: float = 0.7
    add_key: float = 0.7
    max_margin: int = 12
    far_reach: int = 24
    far_add: float = 0.9

    def __post_init__(self) -> None:
        if self.cell < 2 or min(self.colour_cells) < 2 or len(self.colour_cells) != 3:
            raise InputError(f"Grid cells must be at least 2 wide, got {self.cell} and {self.colour_cells}.")
        if self.reach < 0 or self.far_reach < 0 or self.ring < 1 or self.max_margin < 0:
            raise InputError(f"reach, far_reach, ring and max_margin must not be negative, got {self.reach}, "
                             f"{self.far_reach}, {self.ring}, {self.max_margin}.")
        for name in ("drop_local", "drop_key", "add_local", "add_key", "far_add"):
            if not 0 <= getattr(self, name) <= 1:
                raise InputError(f"{name} must be within 0..1, got {getattr(self, name)}.")


def disk(radius: int) -> np.ndarray:
    """(2r+1)x(2r+1) uint8 structuring element: the points within ``radius`` of the centre."""
    r = int(radius)
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return (xx * xx + yy * yy <= r * r).astype(np.uint8)


def margin_radius(mask: np.ndarray, lose: float = 0.2, max_radius: int = 12) -> int:
    """How far (pixels) ``mask`` (HxW) may have been grown past the object's edge: the largest
    disk radius whose opening loses no more than ``lose`` of the mask's outline length in
    pixels. A mask grown by r is a union of disks of radius r, so its opening by them loses
    only a few corner pixels; a tight mask with thin parts loses them at once and gets 0. (A
    thick object is a union of disks too: :class:`PixelTrack` keeps only the outer rings that
    look like the background.)"""
    binary = (np.asarray(mask) > 0).astype(np.uint8)
    area = int(binary.sum())
    if area == 0:
        return 0
    outline = max(1, int(np.count_nonzero(binary & (1 - cv2.erode(binary, disk(1))))))
    radius = 0
    for r in range(1, max_radius + 1):
        if area - int(cv2.morphologyEx(binary, cv2.MORPH_OPEN, disk(r)).sum()) > lose * outline:
            break
        radius = r
    return radius


def _blur121(grid: np.ndarray) -> np.ndarray:
    """A [1, 2, 1] blur along every axis of ``grid``."""
    for axis in range(grid.ndim):
        padded = np.pad(grid, [(1, 1) if i == axis else (0, 0) for i in range(grid.ndim)])
        n = grid.shape[axis]
        cut = [slice(None)] * grid.ndim

        def part(start: int) -> np.ndarray:
            cut[axis] = slice(start, start + n)
            return padded[tuple(cut)]

        grid = part(0) + part(2)
        grid += 2 * part(1)
    return grid


class _BilateralGrid:
    """A grid over (y, x, Y, Cr, Cb) covering the box ``(x0, y0, x1, y1)`` of a frame."""

    def __init__(self, box, cell: int, colour_cells) -> None:
        self.x0, self.y0, x1, y1 = box
        self.cell = cell
        self.colour_cells = np.asarray(colour_cells, np.float32)
        self.gx = int((x1 - self.x0) // cell) + 2
        self.gy = int((y1 - self.y0) // cell) + 2
        self.gc = [int(256 // c) + 2 for c in colour_cells]
        self.shape = (self.gy, self.gx, *self.gc)
        self.size = int(np.prod(self.shape))

    def index(self, xs: np.ndarray, ys: np.ndarray, colours: np.ndarray) -> np.ndarray:
        ix = np.clip(np.round((xs - self.x0) / self.cell).astype(np.int64), 0, self.gx - 1)
        iy = np.clip(np.round((ys - self.y0) / self.cell).astype(np.int64), 0, self.gy - 1)
        c = np.round(colours / self.colour_cells).astype(np.int64)
        c0, c1, c2 = (np.clip(c[:, k], 0, self.gc[k] - 1) for k in range(3))
        return (((iy * self.gx + ix) * self.gc[0] + c0) * self.gc[1] + c1) * self.gc[2] + c2

    def splat(self, index: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        counts = np.bincount(index, weights=weights, minlength=self.size)
        return _blur121(counts.astype(np.float32).reshape(self.shape))


class PixelTrack:
    """One object's mask carried pixel by pixel along a clip (see the module docstring).

    ``begin(i, mask, keyframes)`` at a keyframe, then ``step(src, dst)`` for each
    neighbouring frame in order; ``sync(mask)`` restarts from a mask another tracker is sure of.
    Masks are HxW bool at the frames' size.
    """

    def __init__(self, flow: FlowField, config: PixelTrackConfig | None = None) -> None:
        self.flow = flow
        self.config = config or PixelTrackConfig()
        self.margin = 0
        self.core: np.ndarray | None = None
        self._fg: np.ndarray | None = None
        self._bg: np.ndarray | None = None
        self._grid_xy: tuple[np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------------ state
    def _small(self, mask: np.ndarray) -> np.ndarray:
        h, w = self.flow.flow_size
        binary = (np.asarray(mask) > 0).astype(np.uint8)
        if binary.shape != (h, w):
            binary = (cv2.resize(binary.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) >= 0.5).astype(np.uint8)
        return binary

    def begin(self, index: int, mask: np.ndarray, keyframes: dict[int, np.ndarray] | None = None) -> None:
        """Start at keyframe ``index`` with ``mask``; ``keyframes``: every keyframe mask of the
        object (their colours make the keyframe model; default: this one)."""
        self.flow.frame(index)
        small = self._small(mask)
        self.margin = margin_radius(small, max_radius=self.config.max_margin)
        self.margin = self._background_margin(index, small)
        fg = bg = None
        count = 0
        for k, m in sorted((keyframes or {index: mask}).items()):
            m = self._small(m)
            if not m.any():
                continue
            bins = colour_index(self.flow.small_frame(k))
            core = self._erode(m)
            f, b = histogram(bins, core > 0 if core.any() else m > 0), histogram(bins, surroundings(m > 0))
            fg = f if fg is None else fg + f
            bg = b if bg is None else bg + b
            count += 1
        self._fg = None if fg is None else fg / count + 1e-5
        self._bg = None if bg is None else bg / count + 1e-5
        self.core = self._erode(small) > 0

    def _background_margin(self, index: int, small: np.ndarray) -> int:
        """The margin, as deep as the mask's outer rings look like the background just outside
        it rather than its inside (a thick object with no margin is a union of disks too: its
        outer rings are the object)."""
        if self.margin == 0:
            return 0
        bins = colour_index(self.flow.small_frame(index))
        core = cv2.erode(small, disk(self.margin)) > 0
        outside = (cv2.dilate(small, disk(3)) > 0) & (small == 0)
        if not core.any() or not outside.any():
            return self.margin
        fg, bg = histogram(bins, core) + 1e-5, histogram(bins, outside) + 1e-5
        inner = small > 0
        depth = self.margin
        for r in range(1, self.margin + 1):
            deeper = cv2.erode(small, disk(r)) > 0
            ring = inner & ~deeper
            inner = deeper
            if ring.any() and float(np.mean(fg[bins[ring]] / (fg[bins[ring]] + bg[bins[ring]]))) >= 0.5:
                depth = r - 1
                break
        # one ring less: a margin is rarely drawn evenly, and a core eroded too far breaks apart
        return max(0, depth - 1)

    def sync(self, mask: np.ndarray) -> None:
        """Carry on from ``mask`` (HxW, the frames' size) on the current frame."""
        self.core = self._erode(self._small(mask)) > 0

    def _erode(self, small: np.ndarray) -> np.ndarray:
        if self.margin == 0:
            return small
        core = cv2.erode(small, disk(self.margin))
        return core if core.any() else small

    def _grown(self, core: np.ndarray) -> np.ndarray:
        return core if self.margin == 0 else cv2.dilate(core.astype(np.uint8), disk(self.margin)) > 0

    def _grid(self) -> tuple[np.ndarray, np.ndarray]:
        if self._grid_xy is None:
            h, w = self.flow.flow_size
            self._grid_xy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        return self._grid_xy

    def full_size(self, small: np.ndarray) -> np.ndarray:
        """An hxw mask at flow resolution as an HxW bool mask at the frames' size."""
        height, width = self.flow.size
        if small.shape == (height, width):
            return small.astype(bool)
        return cv2.resize(small.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR) >= 0.5

    def _key(self, index: int) -> np.ndarray:
        """hxw float: the keyframes' colour models' object probability of each pixel of frame ``index``."""
        bins = colour_index(self.flow.small_frame(index))
        return self._fg[bins] / (self._fg[bins] + self._bg[bins])

    def contrast(self, index: int, mask: np.ndarray) -> float:
        """How far ``mask`` (HxW) stands out on frame ``index`` by the keyframes' colour models:
        the mean object probability of its pixels minus that of its surroundings (-1..1; -1
        for an empty mask)."""
        small = self._small(mask) > 0
        if not small.any() or self._fg is None:
            return -1.0
        key = self._key(index)
        ring = surroundings(small)
        return float(key[small].mean() - (key[ring].mean() if ring.any() else 0.0))

    def explains(self, index: int, masks: list[np.ndarray]) -> list[float]:
        """How well each of ``masks`` (HxW) labels frame ``index``'s colours by the keyframes'
        colour models: the mean log-likelihood of its object/background labels over the
        neighbourhood of all of them (the same pixels for each, so a mask that is too small is
        penalised for the object-coloured pixels it leaves out, one too large for the
        background it takes in). Higher is better; -inf for an empty mask."""
        # judged without the margin the masks were drawn with (it is background by design)
        small = [self._erode(self._small(m)) > 0 for m in masks]
        union = np.logical_or.reduce(small)
        if not union.any() or self._fg is None:
            return [-np.inf] * len(masks)
        size = max(4, int(np.sqrt(union.sum()) / 4))
        region = cv2.dilate(union.astype(np.uint8), disk(size)) > 0
        bins = colour_index(self.flow.small_frame(index))[region]
        key = np.clip(self._fg[bins] / (self._fg[bins] + self._bg[bins]), 0.02, 0.98)
        log_fg, log_bg = np.log(key), np.log(1.0 - key)
        return [float(np.where(m[region], log_fg, log_bg).mean()) if m.any() else -np.inf for m in small]

    # ------------------------------------------------------------------ the step
    def step(self, src: int, dst: int) -> np.ndarray:
        """The mask on frame ``dst`` (HxW bool), carried from the current one on frame ``src``."""
        if self.core is None:
            raise InputError("PixelTrack.step needs begin() first.")
        core = self.core
        if not core.any():
            return self.full_size(core)
        fwd = self.flow.flow(src, dst)
        back = self.flow.flow(dst, src)
        gx, gy = self._grid()
        warped = cv2.remap(core.astype(np.float32), gx + back[..., 0], gy + back[..., 1], cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0.5
        new = self._cut(src, dst, core, warped, fwd)
        self.core = new
        return self.full_size(self._grown(new))

    def _cut(self, src: int, dst: int, core: np.ndarray, warped: np.ndarray, fwd: np.ndarray) -> np.ndarray:
        cfg = self.config
        if not warped.any() or self._fg is None:
            return warped
        reach = max(cfg.reach, cfg.far_reach)
        region = cv2.dilate(warped.astype(np.uint8), disk(reach)) > 0
        near = region if cfg.far_reach <= cfg.reach else cv2.dilate(warped.astype(np.uint8), disk(cfg.reach)) > 0
        ry, rx = np.nonzero(region)
        h, w = core.shape
        box = (max(0, rx.min() - reach), max(0, ry.min() - reach), min(w, rx.max() + reach), min(h, ry.max() + reach))
        grid = _BilateralGrid(box, cfg.cell, cfg.colour_cells)
        before = cv2.cvtColor(self.flow.small_frame(src), cv2.COLOR_RGB2YCrCb).astype(np.float32)
        after = cv2.cvtColor(self.flow.small_frame(dst), cv2.COLOR_RGB2YCrCb).astype(np.float32)
        ring = (cv2.dilate(core.astype(np.uint8), disk(cfg.ring)) > 0) & ~self._grown(core)
        fy, fx = np.nonzero(core)
        by, bx = np.nonzero(ring)
        # each sample where its own flow takes it on the new frame, counting as far as the keyframes' colours agree with its label: pixels the
        # track took in by mistake (background colours inside it) do not teach the local model
        # that their colour is the object's, so a drift does not reinforce itself
        key_before = self._key(src)
        wf, wb = key_before[fy, fx], 1.0 - key_before[by, bx]
        obj = grid.splat(grid.index(fx + fwd[fy, fx, 0], fy + fwd[fy, fx, 1], before[fy, fx]), wf)
        bgd = grid.splat(grid.index(bx + fwd[by, bx, 0], by + fwd[by, bx, 1], before[by, bx]), wb)
        # equal priors: a thin part is not outvoted by the background around it
        balance = float(obj.sum()) / max(1e-6, float(bgd.sum()))
        at = grid.index(rx.astype(np.float32), ry.astype(np.float32), after[ry, rx])
        o, b = obj.ravel()[at], bgd.ravel()[at] * balance
        local = np.full((h, w), 0.5, np.float32)
        local[ry, rx] = (o + 1e-3) / (o + b + 2e-3)
        key = self._key(dst)
        drop = warped & (local < cfg.drop_local) & (key < cfg.drop_key)
        add = ~warped & near & (local > cfg.add_local) & (key > cfg.add_key)
        new = (warped & ~drop) | add
        if cfg.far_reach > cfg.reach:  # further out only what both models are sure of
            new |= ~warped & region & (local > cfg.far_add) & (key > cfg.far_add)
        return cv2.morphologyEx(new.astype(np.uint8), cv2.MORPH_OPEN, disk(1)) > 0
