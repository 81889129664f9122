"""Follow one object by its own appearance: template search, ECC alignment, occlusion.

Optical flow of the whole frame is a weak guide for an object that has little texture of its
own or moves against the camera: inside a flat region the flow is filled in from the
surroundings. :class:`ObjectMotion` instead keeps the object's look at an *anchor* frame (the
keyframe, renewed as the object turns or grows) and, for every step, finds the affine pose
(anchor -> frame) that makes the anchor's pixels look like the new frame's:

1. **Predict** with constant velocity (the previous step's motion again).
2. **Search** a window around the prediction for the best translation of the predicted
   appearance (masked template matching in colour; sub-pixel by a parabola fit).
3. **Align** with ECC (``cv2.findTransformECC``, affine, masked to the pixels seen in the
   previous frame), started from the search result. A pose from the dense optical flow
   (``FlowField.warp_mask``, DIS or RAFT) is a second candidate; the pose whose pixels agree
   best with the anchor's wins.
4. **Visibility**: the object's pixels that no longer look like the anchor in broad regions
   (small rims are ignored, they are edge blur) are hidden by something in front; the mask
   written is the object's full shape at its pose minus those regions, so an object behind a
   pole keeps its two visible halves and no drift accumulates from frame to frame.
5. **When the object cannot be seen** (less than ``min_visible`` of it agrees), the pose is
   carried on by its motion and every later step tries to find the object again near the
   predicted place (re-acquisition). Whether it is hidden behind something (the optical flow
   explains its place by another surface seen in the previous frame) or lost (nothing
   explains it) decides what is written: the visible part (possibly nothing) or the full
   predicted shape, dilated; either way the frame is marked for review.

All estimation runs on images whose long side is at most the flow resolution; masks are moved
at full resolution with the same pose (one resampling of the anchor's mask per frame).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import cv2
import numpy as np

#: Colour difference (0..255, largest channel, after removing the median offset) below which
#: a pixel of the object looks like the anchor.
AGREE = 30.0
_OPEN = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))


@dataclass
class StepOutcome:
    """What one step found on the new frame.

    ``state``: "tracked" (the object was seen), "hidden" (not seen; another surface is in its
    place), "lost" (not seen, nothing explains it) or "left" (outside the picture).
    ``mask``: HxW bool, the mask to write; ``amodal``: HxW bool, the full shape at the pose;
    ``visible``: share of the in-picture shape that was seen; ``agreement``: share of the
    previously seen pixels that still look the same; ``method``: which pose won.
    """

    state: str
    mask: np.ndarray = field(repr=False)
    amodal: np.ndarray = field(repr=False)
    visible: float
    agreement: float
    method: str
    scale_step: float = 1.0


class _Anchor:
    """The object's look on one frame, at work resolution (and its mask at full resolution)."""

    def __init__(self, index: int, mask: np.ndarray, image: np.ndarray, grey: np.ndarray, work_size) -> None:
        h, w = work_size
        self.index = index
        self.mask = mask  # HxW bool, full resolution
        self.small = cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_AREA) if mask.shape != (h, w) \
            else mask.astype(np.uint8)
        self.small = (self.small > 0).astype(np.uint8)
        self.image = image  # hxwx3 float32, blurred
        self.grey = grey  # hxw float32
        # a ring just outside the object, each pixel holding the colour of the nearest object
        # pixel: where the frame shows the object's colours on the ring, the mask is too small
        ring = (cv2.dilate(self.small, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))) > 0) & (self.small == 0)
        _, labels = cv2.distanceTransformWithLabels((self.small == 0).astype(np.uint8), cv2.DIST_L2, 3,
                                                    labelType=cv2.DIST_LABEL_PIXEL)
        ys, xs = np.nonzero(self.small)
        self.ring = ring
        self.ring_colour = np.zeros_like(image)
        if xs.size:
            lut = np.zeros((labels.max() + 1, 3), np.float32)
            zero_y, zero_x = np.nonzero(self.small)
            lut[labels[zero_y, zero_x]] = image[zero_y, zero_x]
            self.ring_colour[ring] = lut[labels[ring]]
        self.area = max(1, xs.size)
        if xs.size:
            pad = 6
            self.box = (max(0, xs.min() - pad), max(0, ys.min() - pad), min(w, xs.max() + 1 + pad), min(h, ys.max() + 1 + pad))
        else:
            self.box = (0, 0, w, h)


def _pose3(m: np.ndarray) -> np.ndarray:
    return np.vstack([m[:2], [0.0, 0.0, 1.0]])


def _scale_of(m: np.ndarray) -> float:
    return float(np.sqrt(abs(np.linalg.det(m[:2, :2]))))


class ObjectMotion:
    """One object's pose over a clip, from ``images(i) -> (colour hxwx3 float32, grey hxw float32)``.

    ``full_size``: (H, W) of the frames; ``work_size``: (h, w) of the images. ``flow``: a
    :class:`~models.segmentation.flow.FlowField` for the flow candidate and the occluder test
    (None: appearance only).
    """

    def __init__(self, images, full_size, work_size, flow=None, min_visible: float = 0.2) -> None:
        self._images = images
        self.full_size = tuple(full_size)
        self.work_size = tuple(work_size)
        self.flow = flow
        self.min_visible = float(min_visible)
        height, width = self.full_size
        h, w = self.work_size
        self._scale = np.array([[width / w, 0, 0], [0, height / h, 0], [0, 0, 1.0]])
        self._inv_scale = np.linalg.inv(self._scale)

    # ------------------------------------------------------------------ state
    def begin(self, index: int, mask: np.ndarray) -> None:
        """Start at a keyframe: ``mask`` (HxW bool) is the object on frame ``index``."""
        image, grey = self._images(index)
        self.anchor = _Anchor(index, np.asarray(mask) > 0, image, grey, self.work_size)
        self.pose = np.eye(3)  # anchor -> current frame, work resolution
        self.velocity = np.eye(3)  # the object's recent motion per frame (a translation)
        ys, xs = np.nonzero(self.anchor.small)
        self._centre = np.array([xs.mean(), ys.mean(), 1.0]) if xs.size else np.array([0.0, 0.0, 1.0])
        self.seen = self.anchor.small.copy()  # anchor pixels seen on the current frame
        self.index = index
        self.coasting = 0  # frames since the object was last seen
        self.whole = True  # the object was wholly seen on the current frame (in the picture, nothing in front)
        self._in_picture = 1.0  # share of it inside the picture on the current frame

    def reanchor(self, index: int, mask: np.ndarray) -> None:
        """Look at the object as ``mask`` (HxW bool) shows it on frame ``index`` from now on."""
        velocity, coasting = self.velocity, self.coasting
        self.begin(index, mask)
        self.velocity, self.coasting = velocity, coasting

    # ------------------------------------------------------------------ geometry helpers
    def full_pose(self, pose: np.ndarray) -> np.ndarray:
        return (self._scale @ pose @ self._inv_scale)[:2]

    def _warp_to_frame(self, anchor_map: np.ndarray, pose: np.ndarray, flags=cv2.INTER_LINEAR) -> np.ndarray:
        h, w = self.work_size
        return cv2.warpAffine(anchor_map.astype(np.float32), pose[:2], (w, h), flags=flags)

    def _inside(self, pose: np.ndarray) -> np.ndarray:
        """Anchor pixels (work res) that the pose puts inside the picture."""
        h, w = self.work_size
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        tx = pose[0, 0] * xs + pose[0, 1] * ys + pose[0, 2]
        ty = pose[1, 0] * xs + pose[1, 1] * ys + pose[1, 2]
        return (tx >= 0) & (ty >= 0) & (tx <= w - 1) & (ty <= h - 1)

    def _back(self, image: np.ndarray, pose: np.ndarray) -> np.ndarray:
        """The frame's image resampled into anchor coordinates through ``pose``."""
        h, w = self.work_size
        return cv2.warpAffine(image, pose[:2], (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)

    def agreement_map(self, image: np.ndarray, pose: np.ndarray) -> np.ndarray:
        """hxw bool (anchor coordinates): the object's pixels that look like the anchor under ``pose``."""
        a = self.anchor
        x0, y0, x1, y1 = a.box
        back = self._back(image, pose)[y0:y1, x0:x1]
        diff = back - a.image[y0:y1, x0:x1]
        inside = a.small[y0:y1, x0:x1] > 0
        # a slight change of light is not a change of object; a large one is something in front
        offset = np.clip(np.median(diff[inside], axis=0), -12.0, 12.0) if inside.any() else 0.0
        agree = np.zeros(self.work_size, bool)
        agree[y0:y1, x0:x1] = np.abs(diff - offset).max(axis=2) < AGREE
        ring = np.zeros(self.work_size, bool)
        ring[y0:y1, x0:x1] = np.abs(back - a.ring_colour[y0:y1, x0:x1] - offset).max(axis=2) < AGREE
        return agree | (ring & a.ring)

    def _score(self, image: np.ndarray, pose: np.ndarray, seen: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
        """(visible share, agreement of the seen pixels, hidden map, inside map) for ``pose``."""
        a = self.anchor
        inside = self._inside(pose) & (a.small > 0)
        agree = self.agreement_map(image, pose)
        disagree = (inside & ~agree).astype(np.uint8)
        hidden = cv2.morphologyEx(disagree, cv2.MORPH_OPEN, _OPEN) > 0  # rims are edge blur, not occlusion
        n_inside = int(np.count_nonzero(inside))
        visible = 0.0 if n_inside == 0 else float(np.count_nonzero(inside & ~hidden)) / n_inside
        seen_in = (seen > 0) & inside
        n_seen = int(np.count_nonzero(seen_in))
        agreement = float(np.count_nonzero(seen_in & agree)) / n_seen if n_seen else 0.0
        ring = a.ring & self._inside(pose)
        n_ring = int(np.count_nonzero(ring))
        self._leak = float(np.count_nonzero(ring & agree)) / n_ring if n_ring else 0.0
        return visible, agreement, hidden, inside

    # ------------------------------------------------------------------ candidates
    def _search(self, image: np.ndarray, pose: np.ndarray, seen: np.ndarray, radius: float) -> np.ndarray | None:
        """Best translation of the predicted appearance near ``pose`` (masked colour template matching)."""
        h, w = self.work_size
        a = self.anchor
        predicted = cv2.warpAffine(a.image, pose[:2], (w, h), flags=cv2.INTER_LINEAR)
        weight = self._warp_to_frame(seen, pose) > 0.5
        ys, xs = np.nonzero(weight)
        if xs.size < 16:
            return None
        x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
        r = int(np.ceil(radius))
        wx0, wy0, wx1, wy1 = max(0, x0 - r), max(0, y0 - r), min(w, x1 + r), min(h, y1 + r)
        if wx1 - wx0 < x1 - x0 + 2 or wy1 - wy0 < y1 - y0 + 2:
            return None
        templ = np.ascontiguousarray(predicted[y0:y1, x0:x1])
        tmask = np.repeat(weight[y0:y1, x0:x1, None], 3, axis=2).astype(np.float32)
        window = np.ascontiguousarray(image[wy0:wy1, wx0:wx1])
        cost = cv2.matchTemplate(window, templ, cv2.TM_SQDIFF, mask=tmask)
        cost = np.nan_to_num(cost, nan=np.inf, posinf=np.inf)
        iy, ix = np.unravel_index(int(np.argmin(cost)), cost.shape)
        dx, dy = float(ix), float(iy)
        if 0 < ix < cost.shape[1] - 1:  # sub-pixel: a parabola through the minimum
            c0, c1, c2 = cost[iy, ix - 1], cost[iy, ix], cost[iy, ix + 1]
            den = c0 - 2 * c1 + c2
            if np.isfinite(den) and den > 0:
                dx += float(np.clip(0.5 * (c0 - c2) / den, -0.5, 0.5))
        if 0 < iy < cost.shape[0] - 1:
            c0, c1, c2 = cost[iy - 1, ix], cost[iy, ix], cost[iy + 1, ix]
            den = c0 - 2 * c1 + c2
            if np.isfinite(den) and den > 0:
                dy += float(np.clip(0.5 * (c0 - c2) / den, -0.5, 0.5))
        shift = np.array([[1, 0, wx0 + dx - x0], [0, 1, wy0 + dy - y0], [0, 0, 1.0]])
        return shift @ pose

    def _align(self, grey: np.ndarray, pose: np.ndarray, seen: np.ndarray) -> np.ndarray | None:
        """ECC refinement (affine) of anchor -> frame, over the seen pixels."""
        a = self.anchor
        x0, y0, x1, y1 = a.box
        mask = ((seen > 0) & self._inside(pose))[y0:y1, x0:x1].astype(np.uint8)
        if np.count_nonzero(mask) < 24:
            return None
        offset = np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1.0]])
        warp = (pose @ offset)[:2].astype(np.float32)
        template = np.ascontiguousarray(a.grey[y0:y1, x0:x1])
        warp = _ecc(template, grey, mask, warp)
        if warp is None:
            return None
        refined = _pose3(warp.astype(np.float64)) @ np.linalg.inv(offset)
        step = refined @ np.linalg.inv(pose)
        if not 0.8 < _scale_of(step) < 1.25 or np.abs(step[:2, 2]).max() > 0.5 * max(x1 - x0, y1 - y0) + 4:
            return None  # ECC ran away
        return refined

    def _flow_pose(self, src: int, dst: int) -> np.ndarray | None:
        """The pose the dense optical flow gives (its affine motion of the current mask)."""
        if self.flow is None:
            return None
        current = self._warp_to_frame(self.seen, self.pose) > 0.5
        height, width = self.full_size
        full = cv2.resize(current.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
        moved = self.flow.warp_mask(full, src, dst, "affine")
        if moved.matrix is None:
            return None
        step = self._inv_scale @ _pose3(moved.matrix) @ self._scale
        return step @ self.pose

    def _explained(self, src: int, dst: int, pose: np.ndarray, hidden: np.ndarray) -> float:
        """Share of the hidden part that another surface, already seen next to the object on the
        previous frame, explains: its colour is found (within 2 px of where the optical flow
        says it came from) outside the object on the previous frame."""
        if self.flow is None:
            return 0.0
        h, w = self.work_size
        hidden_dst = self._warp_to_frame(hidden, pose) > 0.5
        if not hidden_dst.any():
            return 1.0
        back = self.flow.flow(dst, src)  # flat occluders have unreliable flow: look around where it points
        gx, gy = self._grid()
        src_img, src_grey = self._images(src)
        dst_img, dst_grey = self._images(dst)
        # ... and where the whole picture moved (the camera), for when the flow itself is poor
        (sx, sy), _ = cv2.phaseCorrelate(dst_grey, src_grey)
        was_object = self._warp_to_frame(self.seen, self.pose) > 0.5  # the object on src
        offsets = [(back[..., 0], back[..., 1]), (np.float32(sx), np.float32(sy))]
        best = 0.0
        for fx, fy in offsets:  # one motion at a time: an occluder moves one way, not every way at once
            found = np.zeros((h, w), bool)
            for oy in (-1, 0, 1):
                for ox in (-1, 0, 1):
                    mx, my = gx + fx + ox, gy + fy + oy
                    there = cv2.remap(src_img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                    on_object = cv2.remap(was_object.astype(np.uint8), mx, my, cv2.INTER_NEAREST) > 0
                    found |= (np.abs(there - dst_img).max(axis=2) < AGREE) & ~on_object
            best = max(best, float(np.count_nonzero(found & hidden_dst)) / float(np.count_nonzero(hidden_dst)))
        return best

    def _grid(self) -> tuple[np.ndarray, np.ndarray]:
        if getattr(self, "_grids", None) is None:
            h, w = self.work_size
            self._grids = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        return self._grids

    # ------------------------------------------------------------------ the step
    def step(self, src: int, dst: int, extra_candidate: np.ndarray | None = None) -> StepOutcome:
        """Move from frame ``src`` (the current one) to ``dst``; updates the state."""
        image, grey = self._images(dst)
        a = self.anchor
        predicted = self.velocity @ self.pose
        size = np.sqrt(a.area) * _scale_of(self.pose)
        speed = float(np.hypot(*self.velocity[:2, 2]))
        radius = max(6.0, 0.35 * size) + max(speed, 0.1 * size) * min(self.coasting, 10)
        seen = self.seen if self.coasting == 0 else a.small
        candidates: list[tuple[str, np.ndarray]] = [("motion", predicted)]
        found = self._search(image, predicted, seen, radius)
        if found is not None:
            candidates.append(("search", found))
            aligned = self._align(grey, found, seen)
            if aligned is not None:
                candidates.append(("ecc", aligned))
        best = self._best(image, candidates, seen)
        if best[2] < 0.8:  # the flow may know better (richly textured objects, fast turns)
            flow_pose = self._flow_pose(src, dst)
            if flow_pose is not None:
                aligned = self._align(grey, flow_pose, seen)
                candidates.append(("flow", flow_pose))
                if aligned is not None:
                    candidates.append(("flow+ecc", aligned))
                best = self._best(image, candidates, seen)
        if best[2] < 0.6 and best[3] >= 0.05:
            # partly re-appearing or partly hidden: align again on the pixels that agree now
            method, pose, *_ = best
            _, _, hidden, inside = self._score(image, pose, a.small)
            agreeing = (inside & ~hidden & (a.small > 0)).astype(np.uint8)
            found = self._search(image, pose, agreeing, max(4.0, 0.15 * size))
            extra = [] if found is None else [("re-search", found)]
            if found is not None:
                aligned = self._align(grey, found, agreeing)
                if aligned is not None:
                    extra.append(("re-ecc", aligned))
            if extra:
                best = max([best] + [self._rate(image, n, p, agreeing) for n, p in extra], key=self._merit)
        method, pose, agreement, visible, hidden, inside, _ = best

        amodal = self._full_mask(pose)
        in_picture = float(np.count_nonzero(inside)) / a.area
        self.whole = visible >= 0.9 and in_picture >= 0.97
        if in_picture < 0.02:
            self._advance(dst, predicted, seen=a.small, seen_now=False)
            return StepOutcome("left", np.zeros(self.full_size, bool), amodal, 0.0, 0.0, "motion")
        mask = amodal & ~self._hidden_full(hidden, pose)
        step_motion = pose @ np.linalg.inv(self.pose)
        seen_ok = visible >= self.min_visible and agreement >= 0.6
        if self.coasting:  # finding it again takes more: a part of it agreeing by chance must not do
            seen_ok = visible >= max(0.35, self.min_visible) and agreement >= 0.75
        if seen_ok:
            self._in_picture = in_picture
            if self.coasting == 0:  # (while partly hidden the pose only moves, so its centre's motion holds)
                moved = (pose @ self._centre - self.pose @ self._centre)[:2]
                old = self.velocity[:2, 2]
                new = moved if not old.any() else 0.5 * old + 0.5 * moved
                self.velocity = np.array([[1.0, 0, new[0]], [0, 1.0, new[1]], [0, 0, 1.0]])
            self._advance(dst, pose, seen=(inside & ~hidden & (a.small > 0)).astype(np.uint8), seen_now=True)
            if visible > 0.9 and (abs(np.log(_scale_of(self.pose))) > np.log(1.12) or
                                  abs(np.degrees(np.arctan2(self.pose[1, 0], self.pose[0, 0]))) > 8):
                self.reanchor(dst, mask)  # the object turned or grew: look at it as it is now
            return StepOutcome("tracked", mask, amodal, visible, agreement, method, _scale_of(step_motion))
        # not seen: carry the pose on with its motion, and find out why
        coast = predicted
        leaving = float(np.count_nonzero(self._inside(coast) & (a.small > 0))) / a.area
        if leaving < 0.35 and leaving <= self._in_picture:
            # a sliver at the edge, moving out: too little to see, and nothing to review
            self._advance(dst, coast, seen=self.seen, seen_now=False)
            self._in_picture = leaving
            return StepOutcome("left", self._full_mask(coast), self._full_mask(coast), visible, agreement, "motion")
        amodal = self._full_mask(coast)
        _, _, hidden_c, _ = self._score(image, coast, a.small)
        explained = self._explained(src, dst, coast, hidden_c)
        self._advance(dst, coast, seen=self.seen, seen_now=False)
        if explained >= 0.6:
            mask = amodal & ~self._hidden_full(hidden_c, coast)
            if np.count_nonzero(mask) < 0.05 * max(1, np.count_nonzero(amodal)):
                mask = np.zeros_like(mask)  # specks agreeing by chance: it is wholly hidden
            return StepOutcome("hidden", mask, amodal, visible, agreement, "motion")
        grown = cv2.dilate(amodal.astype(np.uint8), cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (9, 9))) > 0
        return StepOutcome("lost", grown, amodal, visible, agreement, "motion")

    def _regularise(self, pose: np.ndarray) -> np.ndarray:
        """A candidate pose made plausible: while part of the object is hidden or outside the
        picture, only its position may change (the seen part alone would squash its shape);
        otherwise it may grow or shrink by at most 8 % a frame."""
        step = pose @ np.linalg.inv(self.pose)
        if not self.whole or self.coasting:
            moved = (pose @ self._centre - self.pose @ self._centre)[:2]
            return np.array([[1.0, 0, moved[0]], [0, 1.0, moved[1]], [0, 0, 1.0]]) @ self.pose
        scale = _scale_of(step)
        if not 0.92 <= scale <= 1.08:
            c = self.pose @ self._centre
            fix = np.clip(scale, 0.92, 1.08) / scale
            around = np.array([[fix, 0, (1 - fix) * c[0]], [0, fix, (1 - fix) * c[1]], [0, 0, 1.0]])
            return around @ pose
        return pose

    def _rate(self, image, name, pose, seen):
        pose = self._regularise(pose)
        visible, agreement, hidden, inside = self._score(image, pose, seen)
        return (name, pose, agreement, visible, hidden, inside, self._leak)

    @staticmethod
    def _merit(c) -> float:
        # the seen pixels' agreement first; the object's colours spilling past its edge mean
        # the pose is too small or off; the visible share breaks ties (half out of the picture)
        return c[2] - 0.5 * c[6] + 0.2 * c[3] + (0.01 if "ecc" in c[0] else 0.0)

    def _best(self, image, candidates, seen):
        return max((self._rate(image, n, p, seen) for n, p in candidates), key=self._merit)

    def _advance(self, dst: int, pose: np.ndarray, seen: np.ndarray, seen_now: bool) -> None:
        self.pose = pose
        self.index = dst
        if seen_now:
            self.seen = seen
            self.coasting = 0
        else:
            self.coasting += 1

    def _full_mask(self, pose: np.ndarray) -> np.ndarray:
        height, width = self.full_size
        moved = cv2.warpAffine(self.anchor.mask.astype(np.float32), self.full_pose(pose), (width, height),
                               flags=cv2.INTER_LINEAR)
        return moved >= 0.5

    def _hidden_full(self, hidden: np.ndarray, pose: np.ndarray) -> np.ndarray:
        height, width = self.full_size
        small = self._warp_to_frame(hidden, pose)
        if small.shape != (height, width):
            small = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
        return small >= 0.5


def _ecc(template: np.ndarray, image: np.ndarray, mask: np.ndarray, warp: np.ndarray) -> np.ndarray | None:
    """Affine ECC of ``template`` (masked) into ``image`` from ``warp``; None when it does not converge."""
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 60, 1e-4)
    try:
        if hasattr(cv2, "findTransformECCWithMask"):  # OpenCV 5: a mask for each image
            _, warp = cv2.findTransformECCWithMask(template, image, mask, np.ones(image.shape[:2], np.uint8),
                                                   warp, cv2.MOTION_AFFINE, criteria, 5)
        else:  # OpenCV 4: the mask is the template's
            _, warp = cv2.findTransformECC(template, image, warp, cv2.MOTION_AFFINE, criteria, mask, 5)
    except cv2.error:
        return None
    return warp


class WorkImages:
    """Blurred colour and grey images at work resolution, from a :class:`FlowField`'s frames (LRU)."""

    def __init__(self, flow, capacity: int = 8) -> None:
        self.flow = flow
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._capacity = capacity

    def __call__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        small = self.flow.small_frame(index)
        colour = cv2.GaussianBlur(small.astype(np.float32), (3, 3), 0)
        grey = cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY)
        self._cache[index] = (colour, grey)
        while len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
        return colour, grey
