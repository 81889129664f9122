"""Follow an object by how it moves apart from the background (motion segmentation).

When the camera pans to follow a rider, the background streams past while the rider stays
near the middle of the picture: his look changes (the background shows between the spokes,
trunks pass in front) and his thin parts have no flow of their own, so trackers built on
appearance or on carrying pixels lose him. What does not change is that his pixels do not move
with the background. :class:`MotionLayer` uses exactly that:

1. **The background's motion.** A homography fitted (RANSAC) to the dense flow of the frame off
   the object's surroundings; a flow vector further than :attr:`MotionLayerConfig.apart`
   pixels from it moves apart from the background. Only a background that is one homography
   (inliers over ``min_inliers``: a distant scene, a panning or still camera) is believed.
2. **The object's own motion.** A similarity (RANSAC) fitted to the flow of the object's
   pixels that move apart from the background carries the whole shape (thin parts included)
   to the next frame.
3. **Snap to the layer.** On the new frame, the connected regions of pixels moving apart from
   the background (backward flow against the inverse homography) that touch the carried shape
   are the object; the new mask is those regions within ``reach`` pixels of the carried shape.
   So the mask neither drifts with the background nor leaves the object, and a part that
   comes out from behind a trunk is taken back as soon as it moves again.

A step gives no mask (None) when the cue does not apply: the background is not one homography,
or the object does not move apart from it (it stands still against a still background, or
moves with the camera). The caller then follows it by other means. Runs at the flow's
resolution; masks in and out are at the frames' size. No Qt, no files.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import InputError
from .flow import FlowField


@dataclass(frozen=True)
class MotionLayerConfig:
    """Settings of :class:`MotionLayer`; checked on construction.

    ``apart``: flow pixels between a vector and the background's motion beyond which it moves
    apart; ``min_moving``: share of the object's pixels that must move apart for the cue to
    apply; ``min_inliers``: share of RANSAC inliers for the background to count as one
    homography; ``surround``: pixels around the object left out of the background's fit;
    ``reach``: how far (pixels) past the carried shape the layer may take the mask;
    ``min_found``: the layer must cover this share of the carried shape's area, else the object
    is not found in it (it stopped, or something hides it).
    """

    apart: float = 2.0
    min_moving: float = 0.25
    min_inliers: float = 0.5
    surround: int = 15
    reach: int = 6
    min_found: float = 0.3

    def __post_init__(self) -> None:
        if self.apart <= 0 or self.surround < 0 or self.reach < 0:
            raise InputError(f"apart must be positive and surround, reach not negative, got {self.apart}, "
                             f"{self.surround}, {self.reach}.")
        for name in ("min_moving", "min_inliers", "min_found"):
            if not 0 <= getattr(self, name) <= 1:
                raise InputError(f"{name} must be within 0..1, got {getattr(self, name)}.")


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def background_motion(flow: np.ndarray, known: np.ndarray, min_inliers: float) -> np.ndarray | None:
    """hxwx2: the flow the background's homography gives each pixel, fitted on ``known``
    (hxw bool) of ``flow`` (hxwx2); None when the background is not one homography."""
    h, w = known.shape
    step = max(1, int(np.sqrt(max(1, known.sum()) / 3000.0)))
    ys, xs = np.nonzero(known[::step, ::step])
    if len(xs) < 24:
        return None
    ys, xs = ys * step, xs * step
    points = np.stack([xs, ys], axis=1).astype(np.float32)
    matrix, inliers = cv2.findHomography(points, points + flow[ys, xs], cv2.RANSAC, 1.0)
    if matrix is None or inliers is None or not np.isfinite(matrix).all() or inliers.mean() < min_inliers:
        return None
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    grid = np.stack([gx, gy], axis=-1)
    model = cv2.perspectiveTransform(grid.reshape(1, -1, 2), matrix).reshape(h, w, 2) - grid
    return model if np.isfinite(model).all() else None


class MotionLayer:
    """One object followed by its motion apart from the background (see the module docstring).

    ``begin(i, mask)`` at a keyframe, ``step(src, dst)`` for each neighbouring frame in order
    (HxW bool mask, or None where the cue does not apply), ``sync(mask)`` to carry on from a
    mask another tracker is sure of. Masks are HxW bool at the frames' size.
    """

    def __init__(self, flow: FlowField, config: MotionLayerConfig | None = None) -> None:
        self.flow = flow
        self.config = config or MotionLayerConfig()
        self.shape: np.ndarray | None = None  # hxw bool at flow resolution
        #: on the last step, the share of the object moving apart from the background (0 when
        #: the cue did not apply)
        self.moving = 0.0

    def _small(self, mask: np.ndarray) -> np.ndarray:
        h, w = self.flow.flow_size
        binary = np.asarray(mask) > 0
        if binary.shape != (h, w):
            binary = cv2.resize(binary.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) >= 0.5
        return binary

    def _full(self, small: np.ndarray) -> np.ndarray:
        height, width = self.flow.size
        if small.shape == (height, width):
            return small.copy()
        return cv2.resize(small.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR) >= 0.5

    def begin(self, index: int, mask: np.ndarray) -> None:
        self.flow.frame(index)
        self.sync(mask)

    def sync(self, mask: np.ndarray) -> None:
        self.shape = self._small(mask)

    def step(self, src: int, dst: int) -> np.ndarray | None:
        cfg = self.config
        self.moving = 0.0
        self.background_speed = 0.0
        shape = self.shape
        if shape is None or not shape.any():
            return None
        fwd = self.flow.flow(src, dst)
        known = ~(cv2.dilate(shape.astype(np.uint8), _disk(cfg.surround)) > 0)
        model = background_motion(fwd, known, cfg.min_inliers)
        if model is None:
            return None
        apart = np.hypot(*(fwd - model).transpose(2, 0, 1)) > cfg.apart
        #: how fast the background streams past the object (flow pixels a frame)
        self.background_speed = float(np.median(np.hypot(*model[shape].T)))
        moving = shape & apart
        self.moving = float(moving.sum()) / float(shape.sum())
        if self.moving < cfg.min_moving or moving.sum() < 8:
            return None
        ys, xs = np.nonzero(moving)
        points = np.stack([xs, ys], axis=1).astype(np.float32)
        similarity, _ = cv2.estimateAffinePartial2D(points, points + fwd[ys, xs], method=cv2.RANSAC,
                                                    ransacReprojThreshold=1.5)
        if similarity is None or not np.isfinite(similarity).all():
            return None
        h, w = shape.shape
        carried = cv2.warpAffine(shape.astype(np.uint8), similarity, (w, h), flags=cv2.INTER_NEAREST) > 0
        if not carried.any():
            return None
        # the layer on the new frame: the backward flow against the background's backward motion
        back = self.flow.flow(dst, src)
        known_dst = ~(cv2.dilate(carried.astype(np.uint8), _disk(cfg.surround)) > 0)
        model_back = background_motion(back, known_dst, cfg.min_inliers)
        if model_back is None:
            return None
        layer = np.hypot(*(back - model_back).transpose(2, 0, 1)) > cfg.apart
        count, labels = cv2.connectedComponents(layer.astype(np.uint8))
        touched = np.unique(labels[carried & layer])
        touched = touched[touched > 0]
        near = cv2.dilate(carried.astype(np.uint8), _disk(cfg.reach)) > 0
        found = np.isin(labels, touched) & near
        if found.sum() < cfg.min_found * carried.sum():
            self.shape = carried  # not found in the layer (stopped, hidden): the carried shape goes on
            return None
        self.shape = found
        return self._full(found)
