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
3. **Snap to the layer.** On the new frame, the pixels the background's motion does not
   explain: the frame before and the frame beyond, each registered onto the new frame by the
   background's homography, both differ from it by more than ``difference`` grey levels (a
   three-frame difference: the ghost of where the object stood on one of them is explained by
   the other; sharper than the flow, which smears its motion over the background around a
   thin part). The connected regions of those pixels that touch the carried shape, within
   ``reach`` pixels of it, are the new mask. So the mask neither drifts with the background
   nor leaves the object, and a part that comes out from behind a trunk is taken back as soon
   as it moves again. Where the object is not found (hidden, or holding still) the shape
   stays where it was and the next frames look for it there.

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
from ..plate import fit_homography
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
    is not found in it (it stopped, or something hides it); ``difference``: grey levels (0..255,
    after a slight blur) by which a pixel must differ from both registered neighbours to be
    unexplained by the background.
    """

    apart: float = 2.0
    min_moving: float = 0.25
    min_inliers: float = 0.5
    surround: int = 15
    reach: int = 6
    min_found: float = 0.3
    difference: float = 12.0

    def __post_init__(self) -> None:
        if self.apart <= 0 or self.difference <= 0 or self.surround < 0 or self.reach < 0:
            raise InputError(f"apart and difference must be positive and surround, reach not negative, got "
                             f"{self.apart}, {self.difference}, {self.surround}, {self.reach}.")
        for name in ("min_moving", "min_inliers", "min_found"):
            if not 0 <= getattr(self, name) <= 1:
                raise InputError(f"{name} must be within 0..1, got {getattr(self, name)}.")


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def background_motion(flow: np.ndarray, known: np.ndarray, min_inliers: float) -> np.ndarray | None:
    """hxwx2: the flow the background's homography gives each pixel, fitted on ``known``
    (hxw bool) of ``flow`` (hxwx2); None when the background is not one homography (the
    classic engine's fit, :func:`models.plate.fit_homography`, with at least 24 points)."""
    fit = fit_homography(flow, known, min_points=24)
    return None if fit.field is None or fit.inliers < min_inliers else fit.field


class MotionLayer:
    """One object followed by its motion apart from the background (see the module docstring).

    ``begin(i, mask)`` at a keyframe, ``step(src, dst)`` for each neighbouring frame in order
    (HxW bool mask, or None where the cue does not apply), ``sync(mask)`` to carry on from a
    mask another tracker is sure of. Masks are HxW bool at the frames' size.
    """

    def __init__(self, flow: FlowField, config: MotionLayerConfig | None = None, num_frames: int | None = None) -> None:
        self.flow = flow
        self.config = config or MotionLayerConfig()
        self.num_frames = num_frames  # the frame beyond each step is compared too, when known
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
        """The object's mask on frame ``dst`` (HxW bool) found in the moving layer, or None where
        the cue does not apply or the object is not found in it; :attr:`predicted` then holds
        where its last motion carries it."""
        cfg = self.config
        self.moving = 0.0
        shape = self.shape
        if shape is None or not shape.any():
            return None
        fwd = self.flow.flow(src, dst)
        known = ~(cv2.dilate(shape.astype(np.uint8), _disk(cfg.surround)) > 0)
        model = background_motion(fwd, known, cfg.min_inliers)
        similarity = None
        if model is not None:
            moving = shape & (np.hypot(*(fwd - model).transpose(2, 0, 1)) > cfg.apart)
            self.moving = float(moving.sum()) / float(shape.sum())
            if self.moving >= cfg.min_moving and moving.sum() >= 8:
                ys, xs = np.nonzero(moving)
                points = np.stack([xs, ys], axis=1).astype(np.float32)
                similarity, _ = cv2.estimateAffinePartial2D(points, points + fwd[ys, xs], method=cv2.RANSAC,
                                                            ransacReprojThreshold=1.5)
                if similarity is not None and not np.isfinite(similarity).all():
                    similarity = None
        if similarity is None:
            # its motion apart from the background was not seen: it stays where it was (guessing
            # a motion would carry the mask off an object that held still or was hidden)
            return None
        h, w = shape.shape
        carried = cv2.warpAffine(shape.astype(np.uint8), similarity, (w, h), flags=cv2.INTER_NEAREST) > 0
        self.shape = carried
        if not carried.any():
            return None
        # the layer on the new frame: what the background's motion does not explain
        known_dst = ~(cv2.dilate(carried.astype(np.uint8), _disk(cfg.surround)) > 0)
        model_back = background_motion(self.flow.flow(dst, src), known_dst, cfg.min_inliers)
        if model_back is None:
            return None
        layer = self._unexplained(src, dst, model_back, known_dst)
        count, labels = cv2.connectedComponents(layer.astype(np.uint8))
        touched = np.unique(labels[carried & layer])
        touched = touched[touched > 0]
        near = cv2.dilate(carried.astype(np.uint8), _disk(cfg.reach)) > 0
        found = np.isin(labels, touched) & near
        if found.sum() < cfg.min_found * carried.sum():
            return None  # not found in the layer (it stopped, or something hides it)
        self.shape = found
        return self._full(found)

    @property
    def predicted(self) -> np.ndarray | None:
        """HxW bool: where the object's own motion carried it on the last step (where it was
        when that motion was not seen; its mask when it was found), or None before a mask."""
        return None if self.shape is None else self._full(self.shape)

    def _grey(self, index: int) -> np.ndarray:
        grey = cv2.cvtColor(self.flow.small_frame(index), cv2.COLOR_RGB2GRAY).astype(np.float32)
        return cv2.GaussianBlur(grey, (0, 0), 1.0)

    def _unexplained(self, src: int, dst: int, model_back: np.ndarray, known: np.ndarray) -> np.ndarray:
        """hxw bool: pixels of frame ``dst`` that the background's motion does not explain from
        frame ``src`` nor from the frame beyond ``dst`` (three-frame difference after
        registration: a ghost of the object where it stood on one of them is explained by the
        other)."""
        cfg = self.config
        h, w = model_back.shape[:2]
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        grey = self._grey(dst)
        diffs = []
        beyond = dst + (dst - src)
        models = [(src, model_back)]
        if self.num_frames is not None and 0 <= beyond < self.num_frames:
            model = background_motion(self.flow.flow(dst, beyond), known, cfg.min_inliers)
            if model is not None:
                models.append((beyond, model))
        for other, model in models:
            registered = cv2.remap(self._grey(other), gx + model[..., 0], gy + model[..., 1], cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REPLICATE)
            diffs.append(np.abs(grey - registered))
        unexplained = np.minimum.reduce(diffs) > cfg.difference
        return cv2.morphologyEx(unexplained.astype(np.uint8), cv2.MORPH_CLOSE, _disk(3)) > 0
