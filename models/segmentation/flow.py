"""Optical flow between neighbouring frames for moving masks along a clip: OpenCV DIS (no
download), or any ``flow_model(a, b)`` callable on RGB images, such as
:class:`~models.segmentation.raft_flow.RaftFlow` with the ProPainter RAFT weights.

Flow is computed on images whose long side is at most ``max_side`` pixels and scaled up
when a mask is warped at full resolution. Results are cached, so several object tracks on
the same clip (and forward/backward passes) pay for each pair of frames once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

from ..errors import InputError

DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}

FrameGetter = Callable[[int], np.ndarray]


class FlowField:
    """Dense flow between frames of one clip, read through ``get_frame(i) -> HxWx3 uint8``.

    ``flow(a, b)``: hxwx2 float32 at flow resolution, so that grey_a(p) ~ grey_b(p + flow(p)).
    """

    def __init__(
        self,
        get_frame: FrameGetter,
        *,
        max_side: int = 640,
        preset: str = "medium",
        cache_size: int = 64,
        flow_model=None,
    ) -> None:
        if preset not in DIS_PRESETS:
            raise InputError(f"Unknown optical flow preset {preset!r}; choose one of {', '.join(DIS_PRESETS)}.")
        if max_side < 16:
            raise InputError(f"The flow resolution must be at least 16 pixels, got {max_side}.")
        self._get_frame = get_frame
        self.flow_model = flow_model  # (a, b) hxwx3 uint8 RGB -> hxwx2 float32; None: DIS on grey
        self.backend = "dis" if flow_model is None else getattr(flow_model, "name", "model")
        self.max_side = int(max_side)
        self._preset = DIS_PRESETS[preset]
        self._dis = cv2.DISOpticalFlow_create(self._preset)
        self._capacity = max(4, int(cache_size))
        self._flows: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()
        self._grey: OrderedDict[int, np.ndarray] = OrderedDict()
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._grids: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self.size: tuple[int, int] | None = None  # (H, W) of the frames
        self.flow_size: tuple[int, int] | None = None  # (h, w) of the flow

    def frame(self, index: int) -> np.ndarray:
        """HxWx3 uint8 frame ``index`` (the last few are kept)."""
        if index in self._frames:
            self._frames.move_to_end(index)
            return self._frames[index]
        frame = np.asarray(self._get_frame(int(index)))
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise InputError(f"Frame {index} must be HxWx3 uint8 RGB, got shape {frame.shape} of {frame.dtype}.")
        if self.size is None:
            self.size = frame.shape[:2]
            height, width = self.size
            scale = min(1.0, self.max_side / max(height, width))
            self.flow_size = (max(8, int(round(height * scale))), max(8, int(round(width * scale))))
        elif frame.shape[:2] != self.size:
            raise InputError(
                f"Frame {index} is {frame.shape[1]}x{frame.shape[0]} but the clip is {self.size[1]}x{self.size[0]}."
            )
        self._frames[index] = frame
        while len(self._frames) > 4:
            self._frames.popitem(last=False)
        return frame

    def small_frame(self, index: int) -> np.ndarray:
        """hxwx3 uint8 RGB frame ``index`` at flow resolution."""
        frame = self.frame(index)
        h, w = self.flow_size
        return frame if frame.shape[:2] == (h, w) else cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)

    def _grey_image(self, index: int) -> np.ndarray:
        if index in self._grey:
            self._grey.move_to_end(index)
            return self._grey[index]
        frame = self.frame(index)
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        h, w = self.flow_size
        if (h, w) != grey.shape:
            grey = cv2.resize(grey, (w, h), interpolation=cv2.INTER_AREA)
        self._grey[index] = grey
        while len(self._grey) > 8:
            self._grey.popitem(last=False)
        return grey

    def flow(self, a: int, b: int) -> np.ndarray:
        """hxwx2 float32 flow from frame ``a`` to frame ``b`` at flow resolution (cached)."""
        key = (int(a), int(b))
        with self._lock:
            if key in self._flows:
                self._flows.move_to_end(key)
                return self._flows[key]
            if self.flow_model is None:
                flow = self._dis.calc(self._grey_image(a), self._grey_image(b), None)
            else:
                flow = np.asarray(self.flow_model(self.small_frame(a), self.small_frame(b)), dtype=np.float32)
            self._flows[key] = flow
            while len(self._flows) > self._capacity:
                self._flows.popitem(last=False)
            return flow

    def _grid(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        key = (height, width)
        if key not in self._grids:
            self._grids[key] = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
        return self._grids[key]

    def warp_mask(self, mask: np.ndarray, src: int, dst: int, motion: str = "auto") -> WarpResult:
        """Move ``mask`` (HxW, nonzero = object) of frame ``src`` onto frame ``dst``.

        ``motion``: "affine" fits one affine motion (RANSAC) to the flow of the mask's
        interior and moves the whole mask with it: exact edges for objects that move, turn
        and scale as a whole, since the flow near an edge mixes object and background.
        "dense" warps every pixel with its own flow (backward warping: dst(p) = src(p +
        flow(dst -> src)(p)), bilinear on the 0/1 mask, thresholded at 0.5) and drops pixels
        that fail the forward/backward check (background revealed behind the object).
        "auto" uses the affine motion when most of the interior follows it, else whichever
        of the two makes the object's pixels look more alike before and after (see ``match``).
        """
        if motion not in ("auto", "affine", "dense"):
            raise InputError(f"Mask motion must be auto, affine or dense, got {motion!r}.")
        self.frame(src)
        self.frame(dst)
        flow_back = self.flow(dst, src)
        flow_fwd = self.flow(src, dst)
        height, width = self.size
        h, w = self.flow_size
        source = (np.asarray(mask) > 0).astype(np.uint8)
        small = cv2.resize(source, (w, h), interpolation=cv2.INTER_AREA) if (h, w) != (height, width) else source
        # forward/backward consistency of the flow into dst, at flow resolution
        grid_x, grid_y = self._grid(h, w)
        fx = grid_x + flow_back[..., 0]
        fy = grid_y + flow_back[..., 1]
        there = cv2.remap(flow_fwd, fx, fy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        error = np.linalg.norm(flow_back + there, axis=2)
        magnitude = np.linalg.norm(flow_back, axis=2) + np.linalg.norm(there, axis=2)
        outside = (fx < 0) | (fy < 0) | (fx > w - 1) | (fy > h - 1)
        inconsistent = ((error > 0.01 * magnitude * magnitude + 0.5) & ~outside).astype(np.uint8)

        affine = dense = None
        if motion != "dense":
            matrix, inliers = _fit_affine(small, flow_fwd, self._grey_image(src), self._grey_image(dst))
            if matrix is not None:
                affine = self._affine_result(source, small, matrix, inliers, inconsistent, src, dst)
                if motion == "affine" or inliers >= AFFINE_MIN_INLIERS:
                    return affine
        dense = self._dense_result(source, small, flow_back, flow_fwd, inconsistent, src, dst)
        # a loose affine fit still wins when the object looks more alike where it sends it
        if affine is not None and affine.match >= dense.match:
            return affine
        return dense

    def _affine_result(self, source, small, matrix, inliers, inconsistent, src, dst) -> WarpResult:
        height, width = self.size
        h, w = self.flow_size
        sx, sy = width / w, height / h
        scale = np.array([[sx, 0, 0], [0, sy, 0], [0, 0, 1]])
        full = (scale @ np.vstack([matrix, [0, 0, 1]]) @ np.linalg.inv(scale))[:2]
        moved = cv2.warpAffine(source.astype(np.float32), full, (width, height), flags=cv2.INTER_LINEAR)
        moved_small = cv2.warpAffine(small.astype(np.float32), matrix, (w, h), flags=cv2.INTER_LINEAR) >= 0.5
        share = _share(moved_small, inconsistent)
        ys, xs = np.nonzero(small)
        tx = matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]
        ty = matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]
        match = _appearance_match(self._grey_image(src), self._grey_image(dst), xs, ys, tx, ty)
        return WarpResult(moved >= 0.5, share, "affine", inliers, full, match)

    def _dense_result(self, source, small, flow_back, flow_fwd, inconsistent, src, dst) -> WarpResult:
        height, width = self.size
        h, w = self.flow_size
        sx, sy = width / w, height / h
        gx, gy = self._grid(height, width)
        if (h, w) != (height, width):
            up = cv2.resize(flow_back, (width, height), interpolation=cv2.INTER_LINEAR)
            up[..., 0] *= sx
            up[..., 1] *= sy
            bad = cv2.resize(inconsistent, (width, height), interpolation=cv2.INTER_NEAREST) > 0
        else:
            up, bad = flow_back, inconsistent > 0
        moved = cv2.remap(source.astype(np.float32), gx + up[..., 0], gy + up[..., 1], cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0) >= 0.5
        share = _share(moved, bad)
        ys, xs = np.nonzero(small)
        step = flow_fwd[ys, xs]
        match = _appearance_match(self._grey_image(src), self._grey_image(dst), xs, ys, xs + step[:, 0], ys + step[:, 1])
        return WarpResult(moved & ~bad, share, "dense", 0.0, None, match)


#: "auto" motion uses one affine motion when at least this share of the interior follows it.
AFFINE_MIN_INLIERS = 0.7


@dataclass(frozen=True)
class WarpResult:
    """A mask moved to the next frame.

    ``mask``: HxW bool; ``inconsistent``: share of it whose flow fails the forward/backward
    check (occluded, revealed or unreliable); ``method``: "affine" or "dense";
    ``inliers``: share of the interior flow that follows the fitted affine motion;
    ``matrix``: with "affine", the 2x3 full-resolution motion from src to dst;
    ``match``: appearance agreement of the object in src and where it moved to (NCC, -1..1).
    """

    mask: np.ndarray = field(repr=False)
    inconsistent: float
    method: str
    inliers: float
    matrix: np.ndarray | None = field(default=None, repr=False)
    match: float = 1.0


def _appearance_match(grey_src, grey_dst, xs, ys, tx, ty) -> float:
    """Normalised cross-correlation of the object's pixels in src with where they moved to in dst.

    Near 1 when the object was followed, near 0 when the mask landed on something else (a
    cut, a failed flow, an occluder covering it). 1.0 for flat objects (nothing to compare).
    """
    if xs.size < 8:
        return 1.0
    if xs.size > 8000:
        pick = np.linspace(0, xs.size - 1, 8000).astype(np.int64)
        xs, ys, tx, ty = xs[pick], ys[pick], tx[pick], ty[pick]
    a = grey_src[ys, xs].astype(np.float32)
    b = cv2.remap(grey_dst, tx.astype(np.float32)[None], ty.astype(np.float32)[None], cv2.INTER_LINEAR,
                  borderMode=cv2.BORDER_REPLICATE)[0].astype(np.float32)
    a -= a.mean()
    b -= b.mean()
    norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
    if a.std() < 2.0:
        return 1.0
    return float((a * b).sum() / norm) if norm > 0 else 0.0


def _share(mask: np.ndarray, bad: np.ndarray) -> float:
    area = int(np.count_nonzero(mask))
    return 0.0 if area == 0 else float(np.count_nonzero(mask & (bad > 0))) / area


def _fit_affine(
    mask: np.ndarray, flow: np.ndarray, grey_src: np.ndarray, grey_dst: np.ndarray, max_points: int = 4000
) -> tuple[np.ndarray | None, float]:
    """2x3 affine (flow resolution) moving the mask's interior from src to dst, and its inlier share.

    Corners inside the mask are tracked with pyramidal Lucas-Kanade (sub-pixel, checked
    forward and backward); with too few corners the dense flow of the interior is used.
    """
    interior = cv2.erode(mask, _DISK, iterations=1) if mask.sum() > 200 else mask
    corners = cv2.goodFeaturesToTrack(grey_src, maxCorners=300, qualityLevel=0.01, minDistance=3, mask=interior)
    ys, xs = np.nonzero(interior)
    if xs.size:  # plus a grid over the interior: small or smooth objects have few corners
        step = max(1, int(np.sqrt(xs.size / 300.0)))
        keep = (xs % step == 0) & (ys % step == 0)
        grid = np.stack([xs[keep], ys[keep]], axis=1).astype(np.float32)[:, None]
        corners = grid if corners is None else np.concatenate([corners.astype(np.float32), grid])
    if corners is not None and len(corners) >= 12:
        # windows no wider than a third of the object, so they see the object, not its background
        side = int(np.sqrt(float(np.count_nonzero(mask))) / 3) | 1
        win = (min(21, max(5, side)),) * 2
        there, ok, _ = cv2.calcOpticalFlowPyrLK(grey_src, grey_dst, corners, None, winSize=win, maxLevel=3)
        back, ok_back, _ = cv2.calcOpticalFlowPyrLK(grey_dst, grey_src, there, None, winSize=win, maxLevel=3)
        good = (ok[:, 0] > 0) & (ok_back[:, 0] > 0) & (np.linalg.norm(back - corners, axis=2)[:, 0] < 0.5)
        # points that fail forward/backward are occluded or textureless; the affine motion
        # must explain most of the rest
        if good.sum() >= max(12, 0.3 * len(corners)):
            matrix, inliers = cv2.estimateAffine2D(corners[good], there[good], method=cv2.RANSAC,
                                                   ransacReprojThreshold=1.0, maxIters=500, confidence=0.99,
                                                   refineIters=10)
            if matrix is not None:
                return matrix, float(inliers.sum()) / float(good.sum())
    ys, xs = np.nonzero(interior)
    if xs.size < 12:
        return None, 0.0
    if xs.size > max_points:
        pick = np.random.default_rng(0).choice(xs.size, max_points, replace=False)
        ys, xs = ys[pick], xs[pick]
    src = np.stack([xs, ys], axis=1).astype(np.float32)
    dst = src + flow[ys, xs]
    matrix, inliers = cv2.estimateAffine2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=1.0,
                                           maxIters=500, confidence=0.99, refineIters=10)
    if matrix is None or inliers is None:
        return None, 0.0
    return matrix, float(inliers.mean())


_DISK = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
