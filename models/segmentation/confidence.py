"""How far a tracked mask can be trusted, frame by frame: the tracker never accepts a mask it
would not bet on in silence.

Every step of a track (the mask on frame ``src`` -> the tracker's mask on neighbouring frame
``dst``) is checked against signals that fire on real failures, each in [0, 1] (1 = nothing
wrong seen):

- ``warp``: the tracker's mask against the previous mask carried by the motion of its own
  pixels (:func:`flow_carry`; the two disagree when the object bends, turns or is lost);
- ``area``: the area jumping from the frame before; ``key_area``: drifting far from the
  area on the keyframe;
- ``pieces``: the mask breaking into more pieces than the frame before had;
- ``flow``: the flow's forward-backward check failing on the object's outline;
- ``contrast``: the object's colours not standing out from its surroundings (colour models
  of the object and the ring around it, learned on the keyframes);
- ``match``: the mask's colours matching the keyframes' surroundings more than the object;
- ``outside``: more of the object's colours just outside the mask than on the keyframe (the
  mask slid off part of the object);
- ``shape``: the mask's shape, centred and scaled to the keyframe's area, overlapping the
  keyframe's shape little (the object may bend and turn: only a large change counts).

Errors of a carried mask persist: a frame after a doubtful one is no better unless the object
is found again (every signal clean), so a frame's confidence is at most that of the frame it
came from; a doubt is lifted only by a step where every signal could be measured (not at the
picture's edge) and is clean. Disagreeing with the flow counts only as far as the flow passes
its own forward-backward check around the object (flat surfaces and fast motion fail it, and
the tracker also follows the object's appearance). Frames under :attr:`ConfidenceConfig.review_below` get a reason naming the signal that fired,
or "carried on from a frame that needed review".

Works on numpy images through a :class:`~models.segmentation.flow.FlowField`; no Qt, no files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .flow import FlowField

#: Colour histograms: RGB quantised to this many levels per channel.
LEVELS = 16
_SHIFT = 8 - int(np.log2(LEVELS))

REASONS = {
    "warp": "the mask does not follow the motion around it: the object may have turned, bent or been lost",
    "area": "the mask's size jumped from the frame before",
    "key_area": "the mask's size drifted far from the keyframe's",
    "pieces": "the mask broke into pieces",
    "flow": "the motion around the object's outline is not consistent",
    "contrast": "the object's colours do not stand out from its surroundings",
    "match": "the mask's colours look more like the background than the object",
    "outside": "parts that look like the object are left outside the mask",
    "shape": "the mask's shape is far from the keyframe's",
}
REASON_CARRIED = "carried on from a frame that needed review"


@dataclass(frozen=True)
class ConfidenceConfig:
    """``review_below``: frames under this confidence are flagged; ``recover_above``: a
    doubtful track counts as found again when every signal of a step is above this."""

    review_below: float = 0.5
    recover_above: float = 0.75
    min_piece: float = 0.05  # pieces smaller than this share of the mask are not counted


@dataclass
class Assessment:
    """A frame's ``confidence`` in [0, 1], the ``reason`` it is flagged (None when it is not)
    and the step's ``signals``."""

    confidence: float
    reason: str | None
    signals: dict[str, float] = field(default_factory=dict)


def colour_index(image: np.ndarray) -> np.ndarray:
    """HxW int32 bin of each pixel's quantised RGB colour."""
    q = (np.asarray(image) >> _SHIFT).astype(np.int32)
    return (q[..., 0] * LEVELS + q[..., 1]) * LEVELS + q[..., 2]


def histogram(bins: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Normalised colour histogram of the pixels ``where`` is True."""
    h = np.bincount(bins[where].ravel(), minlength=LEVELS**3).astype(np.float64)
    return h / max(1.0, h.sum())


def surroundings(mask: np.ndarray) -> np.ndarray:
    """The ring around an object where it could be confused with its background (as wide as
    the object's size)."""
    size = max(8, int(np.sqrt(max(1, np.count_nonzero(mask)))))
    # the pixels within ``size`` of the mask (a distance transform: a dilation by so wide a disk is slow)
    distance = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return (distance <= size) & ~mask


def _big_pieces(mask: np.ndarray, share: float) -> int:
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    area = max(1, np.count_nonzero(mask))
    return sum(1 for k in range(1, n) if stats[k, cv2.CC_STAT_AREA] >= share * area)


def flow_carry(flow: FlowField, mask: np.ndarray, src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """(HxW bool: ``mask`` of frame ``src`` carried onto frame ``dst`` by the motion of its own
    pixels, HxW bool: where the forward-backward check of the flow fails, on ``src``).

    Each part of the mask moves with the flow of the mask's pixels around it whose flow passes
    the forward-backward check, averaged over a neighbourhood a sixth of the object's size (the
    local windows of Video SnapCut): a textureless interior or a background pixel inside a
    loose mask does not tear it, and a bending object still bends."""
    h, w = mask.shape
    fwd = flow.flow(src, dst)
    back = flow.flow(dst, src)
    fh, fw = fwd.shape[:2]
    gx, gy = np.meshgrid(np.arange(fw, dtype=np.float32), np.arange(fh, dtype=np.float32))
    back_at = cv2.remap(back, gx + fwd[..., 0], gy + fwd[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    err = np.hypot(fwd[..., 0] + back_at[..., 0], fwd[..., 1] + back_at[..., 1])
    bad = err > 1.0 + 0.05 * np.hypot(fwd[..., 0], fwd[..., 1])
    if (fh, fw) != (h, w):
        fwd = cv2.resize(fwd, (w, h), interpolation=cv2.INTER_LINEAR) * np.array([w / fw, h / fh], np.float32)
        bad = cv2.resize(bad.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
    weight = (mask & ~bad).astype(np.float32)
    if weight.sum() < 0.2 * max(1, np.count_nonzero(mask)):
        weight = mask.astype(np.float32)  # the flow fails almost everywhere: use it anyway
    sigma = max(2.0, np.sqrt(max(1, np.count_nonzero(mask))) / 6.0)
    norm = np.maximum(cv2.GaussianBlur(weight, (0, 0), sigma), 1e-6)
    dx = cv2.GaussianBlur(fwd[..., 0] * weight, (0, 0), sigma) / norm
    dy = cv2.GaussianBlur(fwd[..., 1] * weight, (0, 0), sigma) / norm
    ys, xs = np.nonzero(mask)
    nx = np.round(xs + dx[ys, xs]).astype(np.int64)
    ny = np.round(ys + dy[ys, xs]).astype(np.int64)
    inside = (nx >= 0) & (nx < w) & (ny >= 0) & (ny < h)
    out = np.zeros((h, w), np.uint8)
    out[ny[inside], nx[inside]] = 1
    out = cv2.morphologyEx(out, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    return out > 0, bad


def _at_border(mask: np.ndarray) -> bool:
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def _normalised_shape(mask: np.ndarray, side: int = 64) -> np.ndarray:
    """``mask`` centred on its centroid and scaled so its area is a quarter of a side x side
    square: shapes compared whatever their position and size."""
    ys, xs = np.nonzero(mask)
    scale = np.sqrt(side * side / 4.0 / max(1, len(xs)))
    cx, cy = xs.mean(), ys.mean()
    px = np.round((xs - cx) * scale + side / 2).astype(np.int64)
    py = np.round((ys - cy) * scale + side / 2).astype(np.int64)
    keep = (px >= 0) & (px < side) & (py >= 0) & (py < side)
    out = np.zeros((side, side), np.uint8)
    out[py[keep], px[keep]] = 1
    if scale > 1:
        out = cv2.dilate(out, np.ones((int(np.ceil(scale)),) * 2, np.uint8))
    return out > 0


class TrackConfidence:
    """The confidence of one direction of one object's track (see the module docstring).

    ``add_keyframe(i, mask)`` for every keyframe the object has (their colours make its
    model), ``begin(i, mask)`` where a direction starts, then ``assess(src, dst, prev, mask)``
    for each step in order.
    """

    def __init__(self, flow: FlowField, config: ConfidenceConfig | None = None) -> None:
        self.flow = flow
        self.config = config or ConfidenceConfig()
        self._fg: np.ndarray | None = None
        self._bg: np.ndarray | None = None
        self._key_area = 0
        self._key_outside = 0.0
        self._key_shapes: list[np.ndarray] = []
        self._keys = 0
        self.confidence = 1.0
        self._chain = 1.0
        self._from_estimate = False

    def add_keyframe(self, index: int, mask: np.ndarray) -> None:
        mask = np.asarray(mask) > 0
        if not mask.any():
            return
        bins = colour_index(self.flow.frame(index))
        fg, bg = histogram(bins, mask), histogram(bins, surroundings(mask))
        k = self._keys
        self._fg = fg if self._fg is None else (self._fg * k + fg) / (k + 1)
        self._bg = bg if self._bg is None else (self._bg * k + bg) / (k + 1)
        self._key_area = (self._key_area * k + np.count_nonzero(mask)) / (k + 1)
        self._keys += 1
        self._key_outside = (self._key_outside * k + self._outside_share(bins, mask)) / (k + 1)
        self._key_shapes.append(_normalised_shape(mask))

    def begin(self, index: int, mask: np.ndarray) -> None:
        if self._keys == 0:
            self.add_keyframe(index, mask)
        self.confidence = self._chain = 1.0
        self._from_estimate = False

    def doubt(self) -> None:
        """The tracker itself flagged this frame: what follows is carried on from a doubt."""
        self.confidence = self._chain = 0.0
        self._from_estimate = True

    def assess(self, src: int, dst: int, prev: np.ndarray, mask: np.ndarray) -> Assessment:
        """The confidence of ``mask`` on frame ``dst``, tracked from ``prev`` on frame ``src``."""
        cfg = self.config
        prev, mask = np.asarray(prev) > 0, np.asarray(mask) > 0
        if not mask.any() or not prev.any() or self._fg is None:
            if prev.any():
                self.confidence = self._chain = 0.0
            return Assessment(self.confidence, None, {})
        signals = self._signals(src, dst, prev, mask)
        complete = True  # every signal could be measured: only then may a doubt be lifted
        if _at_border(mask) or _at_border(prev):
            # part of the object is outside the picture: its size and shape change for that, and
            # the flow cannot follow what leaves
            for name in ("warp", "area", "key_area", "shape", "outside"):
                signals.pop(name, None)
            complete = False
        if self._from_estimate:
            # the frame before was the tracker's own estimate: judge this one on its own
            for name in ("warp", "area", "pieces", "flow"):
                signals.pop(name, None)
        local = min(signals.values())
        # a clean, complete step finds the object (again); otherwise a doubt carries on
        if local >= cfg.recover_above and (complete or self._chain >= cfg.review_below):
            self._chain = local
        else:
            self._chain = min(local, self._chain)
        self._from_estimate = False
        confidence = self._chain
        reason = None
        if confidence < cfg.review_below:
            worst = min(signals, key=signals.get)
            reason = REASONS[worst] if signals[worst] < cfg.review_below else REASON_CARRIED
        self.confidence = confidence
        return Assessment(float(confidence), reason, signals)

    def _signals(self, src: int, dst: int, prev: np.ndarray, mask: np.ndarray) -> dict[str, float]:
        warped, bad_flow = flow_carry(self.flow, prev, src, dst)
        inter, union = np.count_nonzero(warped & mask), np.count_nonzero(warped | mask)
        agreement = inter / max(1, union)
        a0, a1 = max(1, np.count_nonzero(prev)), max(1, np.count_nonzero(mask))
        jump = abs(np.log(a1 / a0))
        from_key = abs(np.log(a1 / max(1.0, self._key_area)))
        p0, p1 = _big_pieces(prev, self.config.min_piece), _big_pieces(mask, self.config.min_piece)
        extra = p1 - max(1, p0)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (11, 11))
        edge = (cv2.dilate(prev.astype(np.uint8), kernel) > 0) & ~(cv2.erode(prev.astype(np.uint8), kernel) > 0)
        consistent = 1.0 - np.count_nonzero(bad_flow & edge) / max(1, np.count_nonzero(edge))
        bins = colour_index(self.flow.frame(dst))
        pf, pb = self._fg[bins] + 1e-4, self._bg[bins] + 1e-4
        like = pf / (pf + pb)
        ring = surroundings(mask)
        contrast = float(like[mask].mean() - like[ring].mean()) if ring.any() else 1.0
        fg = histogram(bins, mask)
        match = float(np.sqrt(fg * self._fg).sum() - np.sqrt(fg * self._bg).sum())
        outside = self._outside_share(bins, mask) - self._key_outside
        shape = _normalised_shape(mask)
        similar = max(float(np.count_nonzero(shape & k)) / max(1, np.count_nonzero(shape | k)) for k in self._key_shapes)
        # How far the flow itself can be believed around the object (flat surfaces and fast
        # motion fail the forward-backward check): disagreeing with an unreliable flow is no
        # evidence against the tracker, which also follows the object's appearance.
        reliable = float(np.clip((consistent - 0.3) / 0.5, 0.0, 1.0))
        warp = float(np.clip((agreement - 0.15) / 0.35, 0.0, 1.0))
        return {
            "warp": max(warp, 1.0 - reliable),
            "area": float(np.clip(1.0 - (jump - 0.2) / 0.5, 0.0, 1.0)),
            "key_area": float(np.clip(1.0 - (from_key - 1.0) / 1.0, 0.0, 1.0)),
            "pieces": 1.0 if extra <= 0 else max(0.0, 1.0 - 0.35 * extra),
            # a moving outline always covers and uncovers some background: only a failure over
            # nearly all of the band counts
            "flow": float(np.clip(consistent / 0.3, 0.0, 1.0)),
            "contrast": float(np.clip(contrast / 0.25, 0.0, 1.0)),
            "match": float(np.clip(match / 0.2 + 0.5, 0.0, 1.0)),
            "outside": float(np.clip(1.0 - (outside - 0.1) / 0.25, 0.0, 1.0)),
            "shape": float(np.clip((similar - 0.3) / 0.3, 0.0, 1.0)),
        }

    def _outside_share(self, bins: np.ndarray, mask: np.ndarray) -> float:
        """Share of a narrow ring just outside ``mask`` whose colour is clearly the object's."""
        width = max(3, int(np.sqrt(max(1, np.count_nonzero(mask))) / 6))
        ring = (cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1,) * 2)) > 0) & ~mask
        if not ring.any():
            return 0.0
        pf, pb = self._fg[bins[ring]] + 1e-4, self._bg[bins[ring]] + 1e-4
        return float(np.mean(pf / (pf + pb) > 0.7))
